"""CustomResourceDefinitions with the real kubectl and the official client.

One CRD (namespaced, status and scale subresources, two printer columns, a
schema default) is applied once per module; each test then works with its
own custom resources. Everything waits by polling, never by sleeping.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.e2e.polling import wait_for

pytestmark = pytest.mark.e2e

CRD_NAME = "crontabs.stable.example.com"
CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names:
    plural: crontabs
    singular: crontab
    kind: CronTab
    shortNames: [ct]
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale:
        specReplicasPath: .spec.replicas
        statusReplicasPath: .status.replicas
    additionalPrinterColumns:
    - name: Spec
      type: string
      description: The cron spec defining the interval a CronJob is run
      jsonPath: .spec.cronSpec
    - name: Replicas
      type: integer
      jsonPath: .spec.replicas
    schema:
      openAPIV3Schema:
        type: object
        description: CronTab runs an image on a schedule.
        properties:
          spec:
            type: object
            description: What to run and when.
            required: [cronSpec]
            properties:
              cronSpec:
                type: string
                description: The schedule, in cron format.
                pattern: '^(\\d+|\\*)(/\\d+)?(\\s+(\\d+|\\*)(/\\d+)?){4}$'
              image:
                type: string
                default: busybox
              replicas:
                type: integer
                minimum: 1
                maximum: 10
          status:
            type: object
            properties:
              replicas:
                type: integer
"""


def crontab(name: str, spec: str = "* * * * */5", **extra: Any) -> str:
    body = {
        "apiVersion": "stable.example.com/v1",
        "kind": "CronTab",
        "metadata": {"name": name},
        "spec": {"cronSpec": spec, "replicas": 1, **extra},
    }
    return json.dumps(body)


@pytest.fixture(scope="module")
def crd_cluster(cluster):
    cluster.kubectl("apply", "-f", "-", input=CRD)
    cluster.kubectl("wait", "--for=condition=Established", f"crd/{CRD_NAME}", "--timeout=60s")
    return cluster


def test_crd_status_and_discovery(crd_cluster):
    c = crd_cluster
    crd = c.kubectl_json("get", "crd", CRD_NAME)
    conditions = {x["type"]: x for x in crd["status"]["conditions"]}
    assert conditions["NamesAccepted"]["reason"] == "NoConflicts"
    assert conditions["Established"]["status"] == "True"
    assert crd["status"]["acceptedNames"]["kind"] == "CronTab"
    assert crd["status"]["storedVersions"] == ["v1"]
    assert "customresourcecleanup.apiextensions.k8s.io" in crd["metadata"]["finalizers"]
    resources = c.kubectl("api-resources", "--api-group=stable.example.com").stdout
    assert "crontabs" in resources and "ct" in resources


def test_apply_get_printer_columns_and_yaml(crd_cluster):
    c = crd_cluster
    c.kubectl("apply", "-f", "-", input=crontab("cols"))
    out = c.kubectl("get", "crontabs").stdout
    header = out.splitlines()[0].split()
    assert header == ["NAME", "SPEC", "REPLICAS"]
    assert "cols" in out and "* * * * */5" in out
    text = c.kubectl("get", "ct", "cols", "-o", "yaml").stdout
    assert "kind: CronTab" in text and "image: busybox" in text  # the schema's default
    # Applied again with a change: kubectl sends a JSON merge patch for custom resources.
    changed = c.kubectl("apply", "-f", "-", input=crontab("cols", replicas=2)).stdout
    assert "configured" in changed
    assert c.kubectl_json("get", "ct", "cols")["spec"]["replicas"] == 2
    assert "unchanged" in c.kubectl("apply", "-f", "-", input=crontab("cols", replicas=2)).stdout


def test_explain(crd_cluster):
    out = crd_cluster.kubectl("explain", "crontab.spec").stdout
    assert "cronSpec" in out and "The schedule, in cron format." in out


def test_patch_merge_and_server_side_apply(crd_cluster):
    c = crd_cluster
    c.kubectl("apply", "-f", "-", input=crontab("patched"))
    c.kubectl("patch", "crontab", "patched", "--type=merge", "-p", '{"spec":{"replicas":3}}')
    assert c.kubectl_json("get", "crontab", "patched")["spec"]["replicas"] == 3
    c.kubectl("apply", "--server-side", "-f", "-", input=crontab("ssa", spec="*/2 * * * *"))
    obj = c.kubectl_json("get", "crontab", "ssa", "--show-managed-fields")
    assert obj["spec"]["cronSpec"] == "*/2 * * * *"
    assert any(f["manager"] == "kubectl" for f in obj["metadata"]["managedFields"])


def test_scale_and_status_subresource(crd_cluster):
    c = crd_cluster
    c.kubectl("apply", "-f", "-", input=crontab("scaled"))
    before = c.kubectl_json("get", "crontab", "scaled")["metadata"]["generation"]
    c.kubectl("scale", "crontab", "scaled", "--replicas=4")
    obj = c.kubectl_json("get", "crontab", "scaled")
    assert obj["spec"]["replicas"] == 4
    assert obj["metadata"]["generation"] == before + 1
    # Status writes go through /status only; the main resource ignores them.
    c.kubectl("patch", "crontab", "scaled", "--type=merge", "-p", '{"status":{"replicas":9}}')
    assert "status" not in c.kubectl_json("get", "crontab", "scaled")
    c.kubectl(
        "patch",
        "crontab",
        "scaled",
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status":{"replicas":2}}',
    )
    obj = c.kubectl_json("get", "crontab", "scaled")
    assert obj["status"] == {"replicas": 2}
    assert obj["metadata"]["generation"] == before + 1


def test_invalid_object_refused(crd_cluster):
    c = crd_cluster
    c.kubectl("apply", "-f", "-", input=crontab("valid"))
    bad = c.kubectl("apply", "-f", "-", input=crontab("valid", spec="nope"), check=False)
    assert bad.returncode != 0
    assert 'The CronTab "valid" is invalid' in bad.stderr
    assert "spec.cronSpec in body should match" in bad.stderr
    assert c.kubectl_json("get", "crontab", "valid")["spec"]["cronSpec"] == "* * * * */5"
    too_many = c.kubectl("apply", "-f", "-", input=crontab("big", replicas=11), check=False)
    assert "spec.replicas in body should be less than or equal to 10" in too_many.stderr
    assert c.kubectl("get", "crontab", "big", check=False).returncode != 0


def test_unknown_fields_pruned_or_refused(crd_cluster):
    c = crd_cluster
    strict = c.kubectl(
        "apply", "--validate=strict", "-f", "-", input=crontab("strict", extra=1), check=False
    )
    assert strict.returncode != 0
    assert 'unknown field "spec.extra"' in strict.stderr
    c.kubectl("apply", "--validate=false", "-f", "-", input=crontab("pruned", extra=1))
    assert "extra" not in c.kubectl_json("get", "crontab", "pruned")["spec"]


def test_strategic_merge_patch_refused(crd_cluster):
    c = crd_cluster
    c.kubectl("apply", "-f", "-", input=crontab("smp"))
    out = c.kubectl(
        "patch", "crontab", "smp", "--type=strategic", "-p", '{"spec":{"replicas":2}}', check=False
    )
    assert out.returncode != 0
    assert "UnsupportedMediaType" in out.stderr or "unknown format" in out.stderr


def test_official_client(crd_cluster):
    api, client = crd_cluster.api_client()
    objects = client.CustomObjectsApi(api)
    args = ("stable.example.com", "v1", "default", "crontabs")
    body = json.loads(crontab("from-python"))
    created = objects.create_namespaced_custom_object(*args, body)
    assert created["spec"]["image"] == "busybox"
    got = objects.get_namespaced_custom_object(*args, "from-python")
    assert got["metadata"]["uid"] == created["metadata"]["uid"]
    listed = objects.list_namespaced_custom_object(*args)
    assert "from-python" in [i["metadata"]["name"] for i in listed["items"]]
    patched = objects.patch_namespaced_custom_object(
        *args, "from-python", {"spec": {"replicas": 5}}
    )
    assert patched["spec"]["replicas"] == 5
    objects.delete_namespaced_custom_object(*args, "from-python")
    with pytest.raises(client.ApiException) as err:
        objects.get_namespaced_custom_object(*args, "from-python")
    assert err.value.status == 404
    crds = client.ApiextensionsV1Api(api).list_custom_resource_definition()
    assert CRD_NAME in [i.metadata.name for i in crds.items]


def test_namespace_deletion_deletes_custom_resources(crd_cluster):
    c = crd_cluster
    c.kubectl("create", "namespace", "crns")
    c.kubectl("apply", "-n", "crns", "-f", "-", input=crontab("inside"))
    c.kubectl("delete", "namespace", "crns", "--timeout=120s")
    out = c.kubectl("get", "crontabs", "-A", "-o", "name").stdout
    assert "inside" not in out


OTHER_CRD = (
    CRD.replace("crontabs", "widgets")
    .replace("crontab", "widget")
    .replace("CronTab", "Widget")
    .replace("[ct]", "[wd]")
)


def test_delete_crd_removes_objects_and_type(crd_cluster):
    c = crd_cluster
    c.kubectl("apply", "-f", "-", input=OTHER_CRD)
    c.kubectl("wait", "--for=condition=Established", "crd/widgets.stable.example.com")
    widget = crontab("w1").replace("CronTab", "Widget")
    c.kubectl("apply", "-f", "-", input=widget)
    c.kubectl("delete", "crd", "widgets.stable.example.com", "--timeout=120s")
    wait_for(
        lambda: c.kubectl("get", "crd", "widgets.stable.example.com", check=False).returncode != 0,
        "the CRD to go",
    )
    # kubectl may still have the type in its discovery cache: then the list is a 404.
    gone = c.kubectl("get", "widgets", check=False)
    assert gone.returncode != 0
    assert "doesn't have a resource type" in gone.stderr or "NotFound" in gone.stderr
    # Re-created, the type starts empty: its objects went with the old CRD.
    c.kubectl("apply", "-f", "-", input=OTHER_CRD)
    c.kubectl("wait", "--for=condition=Established", "crd/widgets.stable.example.com")
    assert c.kubectl("get", "widgets", "-o", "name").stdout.strip() == ""


def test_owner_references_across_custom_resources(crd_cluster):
    c = crd_cluster
    c.kubectl("apply", "-f", "-", input=crontab("owner"))
    uid = c.kubectl_json("get", "crontab", "owner")["metadata"]["uid"]
    dependent = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "owned-by-crontab",
            "ownerReferences": [
                {
                    "apiVersion": "stable.example.com/v1",
                    "kind": "CronTab",
                    "name": "owner",
                    "uid": uid,
                }
            ],
        },
    }
    c.kubectl("apply", "-f", "-", input=json.dumps(dependent))
    c.kubectl("delete", "crontab", "owner")
    wait_for(
        lambda: c.kubectl("get", "cm", "owned-by-crontab", check=False).returncode != 0,
        "the garbage collector to delete the dependent",
        timeout=90,
    )


def test_restart_keeps_crds_and_objects(fresh_cluster):
    c = fresh_cluster
    c.kubectl("apply", "-f", "-", input=CRD)
    c.kubectl("wait", "--for=condition=Established", f"crd/{CRD_NAME}", "--timeout=60s")
    c.kubectl("apply", "-f", "-", input=crontab("kept"))
    uid = c.kubectl_json("get", "crontab", "kept")["metadata"]["uid"]
    c.stop()
    c.start()
    assert c.kubectl_json("get", "crd", CRD_NAME)["metadata"]["name"] == CRD_NAME
    assert c.kubectl_json("get", "crontab", "kept")["metadata"]["uid"] == uid
    assert "kept" in c.kubectl("get", "ct").stdout
