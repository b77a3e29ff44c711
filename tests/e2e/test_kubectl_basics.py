"""The foundation's user story, with the real kubectl."""

from __future__ import annotations

import json
import ssl
import subprocess
import time
import urllib.request

import pytest

pytestmark = pytest.mark.e2e


def test_status_json_names_every_listener(cluster):
    status = cluster.status
    assert status["running"] is True
    assert status["api"].startswith("https://127.0.0.1:")
    for key in ("api", "dashboard", "zipkin", "dns", "proxyMode", "nodes"):
        assert key in status
    assert status["ready"] is True


def test_readyz_and_version_need_no_token(cluster):
    ctx = ssl.create_default_context(cafile=str(cluster.data_dir / "tls" / "ca.crt"))
    with urllib.request.urlopen(cluster.status["api"] + "/readyz", context=ctx) as resp:
        assert resp.read() == b"ok"
    with urllib.request.urlopen(cluster.status["api"] + "/version", context=ctx) as resp:
        version = json.loads(resp.read())
    assert version["major"] == "1" and version["minor"] == "32"


def test_data_dir_and_secrets_are_private(cluster):
    assert cluster.data_dir.stat().st_mode & 0o777 == 0o700
    for name in ("kubeconfig", "state.db", "token"):
        assert (cluster.data_dir / name).stat().st_mode & 0o777 == 0o600, name


def test_seed_deployment_apply_get_delete(cluster, seed_manifest):
    applied = cluster.kubectl("apply", "-f", str(seed_manifest))
    assert "deployment.apps/go-app created" in applied.stdout
    again = cluster.kubectl("apply", "-f", str(seed_manifest))
    assert "deployment.apps/go-app unchanged" in again.stdout

    table = cluster.kubectl("get", "deployments").stdout
    header = table.splitlines()[0].split()
    assert header == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert table.splitlines()[1].split()[0] == "go-app"

    dep = cluster.kubectl_json("get", "deploy", "go-app")
    spec = dep["spec"]
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
    }
    assert spec["revisionHistoryLimit"] == 10
    assert spec["progressDeadlineSeconds"] == 600
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Always"
    assert pod["terminationGracePeriodSeconds"] == 30
    assert pod["dnsPolicy"] == "ClusterFirst"
    container = pod["containers"][0]
    assert container["imagePullPolicy"] == "Always"  # tag "latest"
    assert container["ports"][0]["protocol"] == "TCP"
    assert dep["metadata"]["generation"] == 1
    assert "kubectl.kubernetes.io/last-applied-configuration" in dep["metadata"]["annotations"]

    yaml_out = cluster.kubectl("get", "deploy", "go-app", "-o", "yaml").stdout
    assert "progressDeadlineSeconds: 600" in yaml_out

    deleted = cluster.kubectl("delete", "-f", str(seed_manifest))
    assert 'deployment.apps "go-app" deleted' in deleted.stdout
    gone = cluster.kubectl("get", "deploy", "go-app", check=False)
    assert gone.returncode != 0
    assert 'deployments.apps "go-app" not found' in gone.stderr


def test_configmap_create_patch(cluster, namespace):
    created = cluster.kubectl(
        "create", "configmap", "app", "--from-literal=mode=fast", "-n", namespace
    )
    assert "configmap/app created" in created.stdout
    cluster.kubectl("patch", "configmap", "app", "-n", namespace, "-p", '{"data":{"mode":"slow"}}')
    cm = cluster.kubectl_json("get", "cm", "app", "-n", namespace)
    assert cm["data"] == {"mode": "slow"}
    table = cluster.kubectl("get", "configmaps", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "DATA", "AGE"]
    assert table[1].split()[:2] == ["app", "1"]


def test_secret_and_namespace_protobuf_bodies(cluster):
    """kubectl sends these creates as protobuf."""
    ns = "pb-" + str(int(time.time() * 1000) % 100000)
    cluster.kubectl("create", "namespace", ns)
    cluster.kubectl("create", "secret", "generic", "creds", "--from-literal=user=admin", "-n", ns)
    secret = cluster.kubectl_json("get", "secret", "creds", "-n", ns)
    assert secret["type"] == "Opaque"
    assert secret["data"] == {"user": "YWRtaW4="}


def test_server_side_apply_creates_and_records_manager(cluster, namespace, tmp_path):
    manifest = tmp_path / "cm.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  a: '1'\n"
    )
    first = cluster.kubectl("apply", "--server-side", "-f", str(manifest), "-n", namespace)
    assert "configmap/ssa serverside-applied" in first.stdout
    manifest.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  a: '2'\n"
    )
    cluster.kubectl("apply", "--server-side", "-f", str(manifest), "-n", namespace)
    cm = cluster.kubectl_json("get", "cm", "ssa", "-n", namespace, "--show-managed-fields")
    assert cm["data"] == {"a": "2"}
    managers = {f["manager"] for f in cm["metadata"]["managedFields"]}
    assert "kubectl" in managers


def test_get_pods_wide_columns_and_label_selectors(cluster, namespace, tmp_path):
    manifest = tmp_path / "pods.yaml"
    docs = []
    for name, tier in (("a", "web"), ("b", "db"), ("c", "web")):
        docs.append(
            f"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels: {{tier: {tier}}}\n"
            "spec:\n  containers:\n  - name: main\n    image: python:3.11\n"
        )
    manifest.write_text("---\n".join(docs))
    cluster.kubectl("apply", "-f", str(manifest), "-n", namespace)
    lines = cluster.kubectl("get", "pods", "-n", namespace, "-o", "wide").stdout.splitlines()
    assert lines[0].split()[:7] == ["NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]
    names = cluster.kubectl(
        "get", "pods", "-n", namespace, "-l", "tier in (web)", "-o", "name"
    ).stdout.split()
    assert names == ["pod/a", "pod/c"]
    names = cluster.kubectl(
        "get", "pods", "-n", namespace, "-l", "tier!=web", "-o", "name"
    ).stdout.split()
    assert names == ["pod/b"]
    sorted_names = cluster.kubectl(
        "get", "pods", "-n", namespace, "--sort-by=.metadata.name", "-o", "name"
    ).stdout.split()
    assert sorted_names == ["pod/a", "pod/b", "pod/c"]
    one = cluster.kubectl(
        "get", "pods", "-n", namespace, "--field-selector", "metadata.name=b", "-o", "name"
    ).stdout.split()
    assert one == ["pod/b"]


def test_get_watch_streams_changes(cluster, namespace):
    proc = subprocess.Popen(
        [
            "kubectl",
            "get",
            "configmaps",
            "-n",
            namespace,
            "--watch",
            "--output-watch-events",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cluster.env(),
    )
    try:
        time.sleep(1.0)
        cluster.kubectl("create", "configmap", "watched", "--from-literal=x=1", "-n", namespace)
        cluster.kubectl("delete", "configmap", "watched", "-n", namespace)
        seen: list[str] = []
        deadline = time.monotonic() + 20
        assert proc.stdout is not None
        while time.monotonic() < deadline and len(seen) < 2:
            line = proc.stdout.readline()
            if "watched" in line:
                seen.append(line.split()[0])
    finally:
        proc.kill()
    assert seen == ["ADDED", "DELETED"]


def test_scale_subresource(cluster, namespace, seed_manifest):
    cluster.kubectl("apply", "-f", str(seed_manifest), "-n", namespace)
    scaled = cluster.kubectl("scale", "deployment", "go-app", "--replicas=5", "-n", namespace)
    assert "deployment.apps/go-app scaled" in scaled.stdout
    assert cluster.kubectl_json("get", "deploy", "go-app", "-n", namespace)["spec"]["replicas"] == 5


def test_api_resources_short_names(cluster):
    out = cluster.kubectl("api-resources").stdout
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "deploy" in rows["deployments"]
    assert "po" in rows["pods"]
    assert "cm" in rows["configmaps"]
    assert "sts" in rows["statefulsets"]


def test_apply_of_a_list_as_kubectl_get_writes_it(cluster, namespace, tmp_path):
    """A `kind: List` (what `kubectl get -o yaml` prints) makes kubectl fetch /openapi/v2 in protobuf."""
    for name in ("one", "two"):
        cluster.kubectl("create", "configmap", name, "--from-literal=k=v", "-n", namespace)
    exported = cluster.kubectl("get", "configmaps", "one", "two", "-n", namespace, "-o", "yaml")
    assert "kind: List" in exported.stdout
    cluster.kubectl("delete", "configmap", "one", "two", "-n", namespace)
    manifest = tmp_path / "list.yaml"
    manifest.write_text(exported.stdout)
    applied = cluster.kubectl("apply", "-f", str(manifest), "-n", namespace)
    assert "configmap/one created" in applied.stdout
    assert "configmap/two created" in applied.stdout
    # each item still gets strict field validation on the server
    manifest.write_text(
        "apiVersion: v1\nkind: List\nitems:\n"
        "- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: three}\n  bogus: 1\n"
    )
    refused = cluster.kubectl("apply", "-f", str(manifest), "-n", namespace, check=False)
    assert refused.returncode != 0
    assert 'unknown field "bogus"' in refused.stderr
    missing = cluster.kubectl("get", "configmap", "three", "-n", namespace, check=False)
    assert missing.returncode != 0
