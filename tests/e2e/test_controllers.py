"""Controllers end to end with the real kubectl and real pods.

The module's cluster runs pods on its node agent: the seed's `go-app` image
is built (a Python HTTP server) and its containers get a readiness probe, so
"ready" and "available" are what the node agent observed. Rollouts are
checked against every state a watch saw, not just the end state.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from tests.e2e.conftest import Cluster

pytestmark = pytest.mark.e2e

PY = "{}.{}".format(*sys.version_info[:2])
APP = (
    "import http.server, os\n"
    "http.server.ThreadingHTTPServer((os.environ['POD_IP'], 8080),"
    " http.server.SimpleHTTPRequestHandler).serve_forever()\n"
)
PROBE = {"httpGet": {"port": 8080, "path": "/"}, "periodSeconds": 1, "timeoutSeconds": 5}
ROLLOUT_TIMEOUT = 180


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def items(cluster: Cluster, kind: str, ns: str, *selector: str) -> list[dict[str, Any]]:
    return cluster.kubectl_json("get", kind, "-n", ns, *selector)["items"]


def live(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objs if not o["metadata"].get("deletionTimestamp")]


def ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def running_and_ready(pod: dict[str, Any] | None) -> bool:
    return pod is not None and pod.get("status", {}).get("phase") == "Running" and ready(pod)


def rollout_status(
    cluster: Cluster, ns: str, what: str, *, check: bool = True
) -> subprocess.CompletedProcess[str]:
    return cluster.kubectl(
        "rollout",
        "status",
        "-n",
        ns,
        what,
        f"--timeout={ROLLOUT_TIMEOUT}s",
        check=check,
        timeout=ROLLOUT_TIMEOUT + 30,
    )


def history_revisions(cluster: Cluster, ns: str, what: str) -> list[str]:
    out = cluster.kubectl("rollout", "history", "-n", ns, what).stdout
    return [line.split()[0] for line in out.splitlines()[2:] if line.strip()]


class Watch:
    """`kubectl get -w --output-watch-events`: every state the objects went through, in order."""

    def __init__(self, cluster: Cluster, *args: str) -> None:
        kubectl = shutil.which("kubectl")
        if kubectl is None:
            pytest.skip("kubectl is not installed on this machine (needed for e2e tests)")
        self.events: list[dict[str, Any]] = []
        self.proc = subprocess.Popen(
            [kubectl, "get", *args, "-w", "-o", "json", "--output-watch-events"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=cluster.env(),
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        decoder, buf = json.JSONDecoder(), ""
        for line in self.proc.stdout:
            buf = (buf + line).lstrip()
            while buf:
                try:
                    event, end = decoder.raw_decode(buf)
                except ValueError:
                    break
                self.events.append(event)
                buf = buf[end:].lstrip()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.reader.join(timeout=10)

    def states(self, skip: int = 0) -> Iterator[tuple[dict[str, Any], dict[str, dict[str, Any]]]]:
        """(event, state after it) for every event, from the `skip`-th event on."""
        state: dict[str, dict[str, Any]] = {}
        for i, event in enumerate(list(self.events)):
            obj = event["object"]
            if event["type"] == "DELETED":
                state.pop(obj["metadata"]["name"], None)
            else:
                state[obj["metadata"]["name"]] = obj
            if i + 1 >= skip:
                yield event, state

    def last(self) -> dict[str, dict[str, Any]]:
        final: dict[str, dict[str, Any]] = {}
        for _, state in self.states():
            final = state
        return dict(final)


def build_image(cluster: Cluster, tag: str, context: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from kubelite.cli.build_cmd import build; "
        "build(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), quiet=True)"
    )
    subprocess.run(
        [sys.executable, "-c", code, tag, str(context), str(cluster.data_dir)],
        check=True,
        timeout=120,
    )


@pytest.fixture(scope="module", autouse=True)
def app_images(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> None:
    """The seed's image (and a second tag of it to roll to), built into the cluster."""
    ctx = tmp_path_factory.mktemp("go-app")
    (ctx / "app.py").write_text(APP)
    (ctx / "Dockerfile").write_text(
        f'FROM python:{PY}\nWORKDIR /srv\nCOPY app.py .\nCMD ["python", "-u", "/srv/app.py"]\n'
    )
    for tag in ("go-app:latest", "go-app:v2"):
        build_image(cluster, tag, ctx)


@pytest.fixture
def seed(seed_manifest: Path) -> str:
    """The seed's Deployment, its container given a readiness probe."""
    dep = yaml.safe_load(seed_manifest.read_text())
    dep["spec"]["template"]["spec"]["containers"][0]["readinessProbe"] = PROBE
    return json.dumps(dep)


def apply(cluster: Cluster, ns: str, manifest: str) -> None:
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=manifest)


def pod_hashes(cluster: Cluster, ns: str, selector: str, label: str) -> set[str]:
    return {
        p["metadata"]["labels"][label] for p in live(items(cluster, "pods", ns, "-l", selector))
    }


# ---- Deployments ------------------------------------------------------------------


def test_seed_deployment_reaches_ready(cluster, namespace, seed):
    apply(cluster, namespace, seed)
    out = rollout_status(cluster, namespace, "deployment/go-app").stdout
    assert 'deployment "go-app" successfully rolled out' in out
    dep = cluster.kubectl_json("get", "deployment/go-app", "-n", namespace)
    status = dep["status"]
    assert (status["replicas"], status["readyReplicas"], status["availableReplicas"]) == (3, 3, 3)
    assert (
        status["updatedReplicas"] == 3
        and status["observedGeneration"] == dep["metadata"]["generation"]
    )
    conditions = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert conditions == {
        "Available": ("True", "MinimumReplicasAvailable"),
        "Progressing": ("True", "NewReplicaSetAvailable"),
    }
    [rs] = items(cluster, "rs", namespace)
    pth = rs["metadata"]["labels"]["pod-template-hash"]
    assert rs["metadata"]["name"] == f"go-app-{pth}"
    assert rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "1"
    pods = live(items(cluster, "pods", namespace))
    assert len(pods) == 3 and all(running_and_ready(p) for p in pods)
    for pod in pods:
        assert pod["metadata"]["name"].startswith(f"go-app-{pth}-")
        assert pod["metadata"]["labels"] == {"app": "go-app", "pod-template-hash": pth}
        [ref] = pod["metadata"]["ownerReferences"]
        assert (ref["kind"], ref["name"], ref["controller"], ref["blockOwnerDeletion"]) == (
            "ReplicaSet",
            rs["metadata"]["name"],
            True,
            True,
        )
    events = cluster.kubectl(
        "get", "events", "-n", namespace, "-o", "jsonpath={.items[*].message}"
    ).stdout
    assert f"Scaled up replica set go-app-{pth} to 3" in events
    assert "Created pod: go-app-" in events


def test_scale_up_and_down_with_ready_pods(cluster, namespace, seed):
    apply(cluster, namespace, seed)
    rollout_status(cluster, namespace, "deployment/go-app")
    for n in (5, 2):
        cluster.kubectl("scale", "-n", namespace, "deployment/go-app", f"--replicas={n}")
        rollout_status(cluster, namespace, "deployment/go-app")
        wait_for(f"{n} pods", lambda n=n: len(live(items(cluster, "pods", namespace))) == n)
        status = cluster.kubectl_json("get", "deployment/go-app", "-n", namespace)["status"]
        assert (status["replicas"], status["readyReplicas"], status["availableReplicas"]) == (
            n,
            n,
            n,
        )
        [rs] = items(cluster, "rs", namespace)
        assert rs["spec"]["replicas"] == n


def test_rolling_update_keeps_availability_at_every_step_and_undo_returns(cluster, namespace, seed):
    """maxSurge 25% of 3 rounds up to 1 and maxUnavailable down to 0: 3 available, 4 at most."""
    apply(cluster, namespace, seed)
    rollout_status(cluster, namespace, "deployment/go-app")
    [first] = items(cluster, "rs", namespace)
    first_hash = first["metadata"]["labels"]["pod-template-hash"]
    pods = Watch(cluster, "pods", "-n", namespace, "-l", "app=go-app")
    deployments = Watch(cluster, "deployment/go-app", "-n", namespace)
    try:
        wait_for("the watch to list the 3 pods", lambda: len(pods.events) >= 3)
        wait_for("the watch to list the deployment", lambda: deployments.events)
        cluster.kubectl("set", "image", "-n", namespace, "deployment/go-app", "go-app=go-app:v2")
        rollout_status(cluster, namespace, "deployment/go-app")
        new_hash = (
            pod_hashes(cluster, namespace, "app=go-app", "pod-template-hash") - {first_hash}
        ).pop()

        def settled() -> bool:
            final = [p for p in pods.last().values() if not p["metadata"].get("deletionTimestamp")]
            return len(final) == 3 and all(
                ready(p) and p["metadata"]["labels"]["pod-template-hash"] == new_hash for p in final
            )

        wait_for("the watch to see the rollout finish", settled)
    finally:
        pods.stop()
        deployments.stop()
    peak = 0
    for _, state in pods.states(skip=3):
        active = [
            p
            for p in state.values()
            if not p["metadata"].get("deletionTimestamp")
            and p["status"].get("phase") not in ("Succeeded", "Failed")
        ]
        available = [p for p in active if ready(p)]
        assert len(available) >= 3, f"only {len(available)} pods available: {sorted(state)}"
        assert len(active) <= 4, f"{len(active)} pods at once: {sorted(state)}"
        peak = max(peak, len(active))
    assert peak == 4  # the surge pod was seen: these were intermediate states
    for _, state in deployments.states():
        status = state["go-app"].get("status") or {}
        if status.get("replicas") is not None:
            assert status.get("availableReplicas", 0) >= 3 and status["replicas"] <= 4, status
    cluster.kubectl("rollout", "undo", "-n", namespace, "deployment/go-app")
    rollout_status(cluster, namespace, "deployment/go-app")
    wait_for(
        "only first-template pods",
        lambda: pod_hashes(cluster, namespace, "app=go-app", "pod-template-hash") == {first_hash},
    )
    rss = {r["metadata"]["name"]: r for r in items(cluster, "rs", namespace)}
    assert len(rss) == 2
    assert (
        rss[first["metadata"]["name"]]["metadata"]["uid"] == first["metadata"]["uid"]
    )  # the same ReplicaSet
    assert (
        rss[first["metadata"]["name"]]["metadata"]["annotations"][
            "deployment.kubernetes.io/revision"
        ]
        == "3"
    )
    assert history_revisions(cluster, namespace, "deployment/go-app") == ["2", "3"]


def test_rollout_history_and_undo_to_revision(cluster, namespace, seed):
    apply(cluster, namespace, seed)
    wait_for("first rs", lambda: items(cluster, "rs", namespace))
    first = items(cluster, "rs", namespace)[0]["metadata"]["name"]
    cluster.kubectl("set", "image", "-n", namespace, "deployment/go-app", "go-app=go-app:v2")
    wait_for("second rs", lambda: len(items(cluster, "rs", namespace)) == 2)
    assert history_revisions(cluster, namespace, "deployment/go-app") == ["1", "2"]
    cluster.kubectl("rollout", "undo", "-n", namespace, "deployment/go-app")

    def reused() -> bool:
        rss = {r["metadata"]["name"]: r for r in items(cluster, "rs", namespace)}
        return (
            len(rss) == 2
            and rss[first]["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "3"
        )

    wait_for("undo to reuse the first rs", reused)
    assert history_revisions(cluster, namespace, "deployment/go-app") == ["2", "3"]
    cluster.kubectl("rollout", "undo", "-n", namespace, "deployment/go-app", "--to-revision=2")
    wait_for(
        "back on revision 4",
        lambda: any(
            r["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "4"
            and r["metadata"]["name"] != first
            for r in items(cluster, "rs", namespace)
        ),
    )
    rollout_status(cluster, namespace, "deployment/go-app")


def test_pause_resume_restart(cluster, namespace, seed):
    apply(cluster, namespace, seed)
    wait_for("first rs", lambda: items(cluster, "rs", namespace))
    cluster.kubectl("rollout", "pause", "-n", namespace, "deployment/go-app")
    cluster.kubectl("set", "image", "-n", namespace, "deployment/go-app", "go-app=go-app:v2")
    wait_for(
        "paused condition",
        lambda: (
            "DeploymentPaused"
            in cluster.kubectl(
                "get",
                "deploy/go-app",
                "-n",
                namespace,
                "-o",
                "jsonpath={.status.conditions[*].reason}",
            ).stdout
        ),
    )
    assert len(items(cluster, "rs", namespace)) == 1
    cluster.kubectl("rollout", "resume", "-n", namespace, "deployment/go-app")
    wait_for("rollout after resume", lambda: len(items(cluster, "rs", namespace)) == 2)
    cluster.kubectl("rollout", "restart", "-n", namespace, "deployment/go-app")
    wait_for("rollout after restart", lambda: len(items(cluster, "rs", namespace)) == 3)
    rollout_status(cluster, namespace, "deployment/go-app")


def test_missing_image_exceeds_progress_deadline_and_undo_recovers(cluster, namespace, seed):
    dep = json.loads(seed)
    dep["spec"]["progressDeadlineSeconds"] = 10
    apply(cluster, namespace, json.dumps(dep))
    rollout_status(cluster, namespace, "deployment/go-app")
    cluster.kubectl(
        "set", "image", "-n", namespace, "deployment/go-app", "go-app=go-app:never-built"
    )
    stuck = rollout_status(cluster, namespace, "deployment/go-app", check=False)
    assert stuck.returncode != 0
    assert 'error: deployment "go-app" exceeded its progress deadline' in stuck.stderr
    status = cluster.kubectl_json("get", "deployment/go-app", "-n", namespace)["status"]
    conditions = {c["type"]: c for c in status["conditions"]}
    assert (conditions["Progressing"]["status"], conditions["Progressing"]["reason"]) == (
        "False",
        "ProgressDeadlineExceeded",
    )
    assert conditions["Progressing"]["message"].endswith("has timed out progressing.")
    assert (conditions["Available"]["status"], status["availableReplicas"]) == (
        "True",
        3,
    )  # old pods kept serving
    cluster.kubectl("rollout", "undo", "-n", namespace, "deployment/go-app")
    assert (
        "successfully rolled out" in rollout_status(cluster, namespace, "deployment/go-app").stdout
    )
    wait_for(
        "the broken replica set scaled to 0",
        lambda: all(
            r["spec"]["replicas"] == 0
            for r in items(cluster, "rs", namespace)
            if r["spec"]["template"]["spec"]["containers"][0]["image"] == "go-app:never-built"
        ),
    )
    status = cluster.kubectl_json("get", "deployment/go-app", "-n", namespace)["status"]
    progressing = next(c for c in status["conditions"] if c["type"] == "Progressing")
    assert (progressing["status"], progressing["reason"]) == ("True", "NewReplicaSetAvailable")


@pytest.mark.parametrize("policy", ["background", "foreground"])
def test_cascading_delete(cluster, namespace, seed, policy):
    apply(cluster, namespace, seed)
    wait_for("3 pods", lambda: len(live(items(cluster, "pods", namespace))) == 3)
    cluster.kubectl("delete", "-n", namespace, "deployment/go-app", f"--cascade={policy}")
    wait_for("replica sets gone", lambda: not items(cluster, "rs", namespace))
    wait_for("pods gone", lambda: not items(cluster, "pods", namespace), timeout=90)


def test_orphaning_delete(cluster, namespace, seed):
    apply(cluster, namespace, seed)
    rollout_status(cluster, namespace, "deployment/go-app")
    pods = {p["metadata"]["uid"] for p in live(items(cluster, "pods", namespace))}
    cluster.kubectl("delete", "-n", namespace, "deployment/go-app", "--cascade=orphan")
    wait_for(
        "rs orphaned",
        lambda: (
            (rss := items(cluster, "rs", namespace)) and "ownerReferences" not in rss[0]["metadata"]
        ),
    )
    assert cluster.kubectl("get", "deployment/go-app", "-n", namespace, check=False).returncode != 0
    assert {p["metadata"]["uid"] for p in live(items(cluster, "pods", namespace))} == pods
    assert all(running_and_ready(p) for p in items(cluster, "pods", namespace))


def test_namespace_deletion_removes_content(cluster, seed):
    cluster.kubectl("create", "namespace", "doomed")
    apply(cluster, "doomed", seed)
    rollout_status(cluster, "doomed", "deployment/go-app")
    cluster.kubectl("delete", "namespace", "doomed", "--wait=false")
    phase = cluster.kubectl(
        "get", "namespace", "doomed", "-o", "jsonpath={.status.phase}", check=False
    ).stdout
    assert phase in ("Terminating", "")  # "" once it is already gone
    wait_for(
        "namespace gone",
        lambda: cluster.kubectl("get", "namespace", "doomed", check=False).returncode != 0,
        timeout=120,
    )
    assert not [
        p
        for p in cluster.kubectl_json("get", "pods", "-A")["items"]
        if p["metadata"]["namespace"] == "doomed"
    ]


def test_a_terminating_namespace_says_what_holds_it(cluster: Cluster) -> None:
    """Upstream's deletion conditions: which resources remain, which finalizers hold them."""
    cluster.kubectl("create", "namespace", "held")
    cluster.kubectl("create", "configmap", "keep", "-n", "held")
    cluster.kubectl(
        "patch",
        "configmap",
        "keep",
        "-n",
        "held",
        "-p",
        '{"metadata":{"finalizers":["example.com/x"]}}',
    )
    cluster.kubectl("delete", "namespace", "held", "--wait=false")

    def conditions() -> dict[str, Any]:
        ns = cluster.kubectl_json("get", "namespace", "held")
        got = {c["type"]: c for c in ns.get("status", {}).get("conditions") or []}
        return got if "NamespaceFinalizersRemaining" in got else {}

    got = wait_for("the namespace's conditions", conditions)
    assert got["NamespaceContentRemaining"]["status"] == "True"
    assert got["NamespaceContentRemaining"]["reason"] == "SomeResourcesRemain"
    assert got["NamespaceContentRemaining"]["message"] == (
        "Some resources are remaining: configmaps. has 1 resource instances"
    )
    assert got["NamespaceFinalizersRemaining"]["message"] == (
        "Some content in the namespace has finalizers remaining: "
        "example.com/x in 1 resource instances"
    )
    assert got["NamespaceDeletionContentFailure"]["reason"] == "ContentDeleted"
    assert got["NamespaceDeletionDiscoveryFailure"]["status"] == "False"
    described = cluster.kubectl("describe", "namespace", "held").stdout
    assert "SomeFinalizersRemain" in described
    cluster.kubectl(
        "patch",
        "configmap",
        "keep",
        "-n",
        "held",
        "--type=json",
        "-p",
        '[{"op":"remove","path":"/metadata/finalizers"}]',
    )
    wait_for(
        "namespace gone",
        lambda: cluster.kubectl("get", "namespace", "held", check=False).returncode != 0,
        timeout=60,
    )


NO_DELETE_POLICY = """
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: keep-marked}
spec:
  matchConstraints:
    resourceRules:
    - {apiGroups: [""], apiVersions: [v1], operations: [DELETE], resources: [configmaps]}
  validations:
  - expression: "!has(oldObject.metadata.labels) || !('keep' in oldObject.metadata.labels)"
    messageExpression: "'cannot delete ' + oldObject.metadata.name"
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: keep-marked}
spec: {policyName: keep-marked, validationActions: [Deny]}
"""


def test_a_refused_delete_holds_its_type_only_and_the_namespace_says_so(cluster: Cluster) -> None:
    """Upstream's deleter: a type whose deletion is refused (here by an admission
    policy) fails alone, everything else goes, and ContentDeletionFailed says why."""
    cluster.kubectl("apply", "-f", "-", input=NO_DELETE_POLICY)
    try:
        cluster.kubectl("create", "namespace", "guarded")
        cluster.kubectl("create", "configmap", "kk", "-n", "guarded")
        cluster.kubectl("label", "configmap", "kk", "keep=1", "-n", "guarded")
        cluster.kubectl("create", "secret", "generic", "s1", "-n", "guarded")
        cluster.kubectl("delete", "namespace", "guarded", "--wait=false")

        def failure() -> dict[str, Any] | None:
            ns = cluster.kubectl_json("get", "namespace", "guarded")
            got = {c["type"]: c for c in ns.get("status", {}).get("conditions") or []}
            failed = got.get("NamespaceDeletionContentFailure") or {}
            return failed if failed.get("status") == "True" else None

        failed = wait_for("the content failure condition", failure)
        assert failed["reason"] == "ContentDeletionFailed"
        assert failed["message"] == (
            'Failed to delete all resource types, 1 remaining: configmaps "kk" is forbidden: '
            "ValidatingAdmissionPolicy 'keep-marked' with binding 'keep-marked' denied "
            "request: cannot delete kk"
        )
        wait_for(
            "the secret deleted",
            lambda: (
                cluster.kubectl("get", "secret", "s1", "-n", "guarded", check=False).returncode != 0
            ),
        )
    finally:
        cluster.kubectl("delete", "-f", "-", input=NO_DELETE_POLICY, check=False)
    wait_for(
        "namespace gone",
        lambda: cluster.kubectl("get", "namespace", "guarded", check=False).returncode != 0,
        timeout=60,
    )


# ---- StatefulSets -------------------------------------------------------------------

BOOT = 'touch /data/boots; n=$(wc -l < /data/boots); echo "$HOSTNAME boot $n" >> /data/boots; exec python -u /srv/app.py'


def statefulset(replicas: int = 3) -> str:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"clusterIP": "None", "selector": {"app": "web"}, "ports": [{"port": 8080}]},
    }
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "web"},
        "spec": {
            "serviceName": "web",
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {
                            "name": "web",
                            "image": "go-app:latest",
                            "command": ["sh", "-c", BOOT],
                            "readinessProbe": PROBE,
                            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                        }
                    ]
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": {"requests": {"storage": "1Gi"}},
                    },
                }
            ],
        },
    }
    return yaml.safe_dump_all([service, sts])


def claim_dir(cluster: Cluster, ns: str, claim: str) -> Path:
    volume = cluster.kubectl_json("get", "pvc", claim, "-n", ns)["spec"]["volumeName"]
    return Path(cluster.kubectl_json("get", "pv", volume)["spec"]["hostPath"]["path"])


def boots(cluster: Cluster, ns: str, claim: str) -> list[str]:
    path = claim_dir(cluster, ns, claim) / "boots"
    return path.read_text().splitlines() if path.exists() else []


def sts_status(cluster: Cluster, ns: str) -> dict[str, Any]:
    return cluster.kubectl_json("get", "statefulset/web", "-n", ns)


def test_statefulset_comes_up_in_order_and_keeps_its_data(cluster, namespace):
    pods = Watch(cluster, "pods", "-n", namespace, "-l", "app=web")
    try:
        time.sleep(1)  # the watch is listening before the first pod exists
        apply(cluster, namespace, statefulset())
        out = rollout_status(cluster, namespace, "statefulset/web").stdout
        assert "partitioned roll out complete: 3 new pods have been updated..." in out
        wait_for(
            "the watch to see 3 ready pods",
            lambda: sum(map(running_and_ready, pods.last().values())) == 3,
        )
    finally:
        pods.stop()
    created = []
    for event, state in pods.states():
        if event["type"] != "ADDED":
            continue
        name = event["object"]["metadata"]["name"]
        created.append(name)
        ordinal = int(name.rsplit("-", 1)[1])
        if ordinal > 0:
            before = state.get(f"web-{ordinal - 1}")
            assert running_and_ready(before), (
                f"{name} was created before web-{ordinal - 1} was Running and Ready"
            )
    assert created == ["web-0", "web-1", "web-2"]
    sts = sts_status(cluster, namespace)
    status = sts["status"]
    assert (status["replicas"], status["readyReplicas"], status["availableReplicas"]) == (3, 3, 3)
    assert (status["currentReplicas"], status["updatedReplicas"]) == (3, 3)
    assert status["currentRevision"] == status["updateRevision"]
    assert status["observedGeneration"] == sts["metadata"]["generation"]
    for i in range(3):
        pod = cluster.kubectl_json("get", "pod", f"web-{i}", "-n", namespace)
        labels = pod["metadata"]["labels"]
        assert labels["statefulset.kubernetes.io/pod-name"] == f"web-{i}"
        assert labels["controller-revision-hash"] == status["currentRevision"]
        assert (pod["spec"]["hostname"], pod["spec"]["subdomain"]) == (f"web-{i}", "web")
        assert boots(cluster, namespace, f"data-web-{i}") == [f"web-{i} boot 0"]
    old_uid = cluster.kubectl_json("get", "pod", "web-1", "-n", namespace)["metadata"]["uid"]
    # Not waiting in kubectl: its wait for the deletion lists by name, and a
    # replacement made between its get and its list hides the deletion from it.
    cluster.kubectl("delete", "pod", "web-1", "-n", namespace, "--wait=false")

    def recreated() -> bool:
        pod = cluster.kubectl_json(
            "get", "pods", "-n", namespace, "--field-selector", "metadata.name=web-1"
        )["items"]
        return bool(pod) and pod[0]["metadata"]["uid"] != old_uid and running_and_ready(pod[0])

    wait_for("web-1 recreated and ready", recreated, timeout=120)
    pod = cluster.kubectl_json("get", "pod", "web-1", "-n", namespace)
    assert {"name": "data", "persistentVolumeClaim": {"claimName": "data-web-1"}} in pod["spec"][
        "volumes"
    ]
    # the new web-1 found the file the old one wrote, and added its own line
    assert boots(cluster, namespace, "data-web-1") == ["web-1 boot 0", "web-1 boot 1"]
    assert boots(cluster, namespace, "data-web-0") == ["web-0 boot 0"]


def test_statefulset_rollout_status_history_undo_and_partition(cluster, namespace):
    apply(cluster, namespace, statefulset())
    rollout_status(cluster, namespace, "statefulset/web")
    first = sts_status(cluster, namespace)["status"]["currentRevision"]
    cluster.kubectl("set", "image", "-n", namespace, "statefulset/web", "web=go-app:v2")
    out = rollout_status(cluster, namespace, "statefulset/web").stdout
    assert "partitioned roll out complete: 3 new pods have been updated..." in out
    sts = sts_status(cluster, namespace)
    status = sts["status"]
    second = status["updateRevision"]
    assert second != first and status["currentRevision"] == second
    assert (status["currentReplicas"], status["updatedReplicas"], status["readyReplicas"]) == (
        3,
        3,
        3,
    )
    assert (
        status["observedGeneration"] == sts["metadata"]["generation"]
        and status["collisionCount"] == 0
    )
    assert pod_hashes(cluster, namespace, "app=web", "controller-revision-hash") == {second}
    revisions = {r["metadata"]["name"]: r for r in items(cluster, "controllerrevisions", namespace)}
    assert {name: r["revision"] for name, r in revisions.items()} == {first: 1, second: 2}
    for name, revision in revisions.items():
        [ref] = revision["metadata"]["ownerReferences"]
        assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == (
            "StatefulSet",
            "web",
            sts["metadata"]["uid"],
            True,
        )
        assert name == "web-" + revision["metadata"]["labels"]["controller-revision-hash"]
    assert history_revisions(cluster, namespace, "statefulset/web") == ["1", "2"]
    table = cluster.kubectl("get", "controllerrevisions", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "CONTROLLER", "REVISION", "AGE"]
    assert sorted(line.split()[1:3] for line in table[1:]) == [
        ["statefulset.apps/web", "1"],
        ["statefulset.apps/web", "2"],
    ]
    shown = cluster.kubectl(
        "rollout", "history", "-n", namespace, "statefulset/web", "--revision=2"
    ).stdout
    assert "Image:\tgo-app:v2" in shown
    undo = cluster.kubectl("rollout", "undo", "-n", namespace, "statefulset/web").stdout
    assert "statefulset.apps/web rolled back" in undo
    rollout_status(cluster, namespace, "statefulset/web")
    wait_for(
        "pods back on the first revision",
        lambda: pod_hashes(cluster, namespace, "app=web", "controller-revision-hash") == {first},
    )
    assert history_revisions(cluster, namespace, "statefulset/web") == ["2", "3"]
    revisions = {
        r["metadata"]["name"]: r["revision"]
        for r in items(cluster, "controllerrevisions", namespace)
    }
    assert revisions == {first: 3, second: 2}  # the old revision renumbered, not copied
    # a partition keeps the ordinals below it on the current revision
    cluster.kubectl(
        "patch",
        "-n",
        namespace,
        "statefulset/web",
        "-p",
        '{"spec":{"updateStrategy":{"rollingUpdate":{"partition":2}}}}',
    )
    cluster.kubectl("set", "image", "-n", namespace, "statefulset/web", "web=go-app:v2")
    out = rollout_status(cluster, namespace, "statefulset/web").stdout
    assert "partitioned roll out complete: 1 new pods have been updated..." in out
    status = sts_status(cluster, namespace)["status"]
    assert (status["currentRevision"], status["updateRevision"]) == (first, second)
    hashes = {
        p["metadata"]["name"]: p["metadata"]["labels"]["controller-revision-hash"]
        for p in live(items(cluster, "pods", namespace))
    }
    assert hashes == {"web-0": first, "web-1": first, "web-2": second}
    assert (status["currentReplicas"], status["updatedReplicas"]) == (2, 1)


def test_statefulset_delete_cascades_to_pods_and_revisions_but_keeps_claims(cluster, namespace):
    apply(cluster, namespace, statefulset(replicas=2))
    rollout_status(cluster, namespace, "statefulset/web")
    assert items(cluster, "controllerrevisions", namespace)
    cluster.kubectl("delete", "-n", namespace, "statefulset/web")
    wait_for("pods gone", lambda: not items(cluster, "pods", namespace), timeout=90)
    wait_for("revisions gone", lambda: not items(cluster, "controllerrevisions", namespace))
    claims = sorted(c["metadata"]["name"] for c in items(cluster, "pvc", namespace))
    assert claims == ["data-web-0", "data-web-1"]  # Retain: the data outlives the set


# ---- bad input ------------------------------------------------------------------------


@pytest.fixture
def http(cluster: Cluster) -> Iterator[httpx.Client]:
    ctx = ssl.create_default_context(cafile=str(cluster.data_dir / "tls" / "ca.crt"))
    token = (cluster.data_dir / "token").read_text().strip()
    with httpx.Client(
        base_url=cluster.status["api"], verify=ctx, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        yield client


def merge_patch(http: httpx.Client, path: str, body: dict[str, Any]) -> httpx.Response:
    return http.patch(path, json=body, headers={"content-type": "application/merge-patch+json"})


def assert_invalid(resp: httpx.Response, field: str, message: str) -> None:
    assert resp.status_code == 422, resp.text
    status = resp.json()
    assert (status["kind"], status["reason"]) == ("Status", "Invalid")
    assert field in [c["field"] for c in status["details"]["causes"]]
    assert message in status["message"]


def test_bad_deployment_updates_are_422_and_change_nothing(cluster, namespace, seed, http):
    apply(cluster, namespace, seed)
    path = f"/apis/apps/v1/namespaces/{namespace}/deployments/go-app"
    before = cluster.kubectl_json("get", "deployment/go-app", "-n", namespace)
    moved = {
        "spec": {
            "selector": {"matchLabels": {"app": "go-app", "tier": "web"}},
            "template": {"metadata": {"labels": {"tier": "web"}}},
        }
    }
    assert_invalid(merge_patch(http, path, moved), "spec.selector", "field is immutable")
    assert_invalid(
        merge_patch(http, path, {"spec": {"replicas": -1}}),
        "spec.replicas",
        "spec.replicas: Invalid value: -1: must be greater than or equal to 0",
    )
    missed = {"spec": {"template": {"metadata": {"labels": {"app": "other"}}}}}
    assert_invalid(
        merge_patch(http, path, missed),
        "spec.template.metadata.labels",
        "`selector` does not match template `labels`",
    )
    after = cluster.kubectl_json("get", "deployment/go-app", "-n", namespace)
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    proc = cluster.kubectl(
        "scale", "-n", namespace, "deployment/go-app", "--replicas=-1", check=False
    )
    assert proc.returncode != 0


def test_bad_statefulset_updates_are_422(cluster, namespace, http):
    apply(cluster, namespace, statefulset(replicas=1))
    path = f"/apis/apps/v1/namespaces/{namespace}/statefulsets/web"
    forbidden = (
        "spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', "
        "'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"
    )
    assert_invalid(merge_patch(http, path, {"spec": {"serviceName": "other"}}), "spec", forbidden)
    assert_invalid(
        merge_patch(http, path, {"spec": {"podManagementPolicy": "Parallel"}}), "spec", forbidden
    )
    missed = {"spec": {"template": {"metadata": {"labels": {"app": "other"}}}}}
    assert_invalid(
        merge_patch(http, path, missed),
        "spec.template.metadata.labels",
        "`selector` does not match template `labels`",
    )
    assert_invalid(
        merge_patch(http, path, {"spec": {"replicas": -2}}),
        "spec.replicas",
        "must be greater than or equal to 0",
    )
    proc = cluster.kubectl(
        "patch",
        "-n",
        namespace,
        "statefulset/web",
        "-p",
        '{"spec":{"serviceName":"other"}}',
        check=False,
    )
    assert proc.returncode != 0 and forbidden in proc.stderr
    assert sts_status(cluster, namespace)["spec"]["serviceName"] == "web"
