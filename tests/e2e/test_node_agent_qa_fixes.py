"""QA findings on the node agent, end to end with the real kubectl: readiness
gates hold Ready (and the endpoint) until a controller sets them, `kubectl
logs -p` of a crash-looping container shows the run that just crashed, a
container's /etc/hostname is the pod's, `kubectl exec` failures read as
runc's, `kubectl logs` of an unscheduled pod is empty, a missing image backs
off as the kubelet's image puller does, and a finished pod's logs are still
there after kubelite restarts."""

from __future__ import annotations

import json
import os
from functools import partial
from typing import Any

import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.polling import wait_for as _wait_for
from tests.e2e.test_node_agent import (
    _crash_kubelite,
    apply,
    container_status,
    events,
    pod,
    simple_pod,
)

pytestmark = pytest.mark.e2e
wait_for = partial(_wait_for, timeout=60, interval=0.2)
GATE = "example.com/lb-ready"


def condition(cluster: Cluster, ns: str, name: str, type_: str) -> dict[str, Any]:
    conditions = pod(cluster, ns, name).get("status", {}).get("conditions") or []
    return next((c for c in conditions if c["type"] == type_), {})


def endpoint_conditions(cluster: Cluster, ns: str, service: str) -> dict[str, Any] | None:
    slices = cluster.kubectl_json(
        "get", "endpointslices", "-n", ns, "-l", f"kubernetes.io/service-name={service}"
    )["items"]
    endpoints = [e for s in slices for e in s.get("endpoints") or []]
    return endpoints[0].get("conditions") if endpoints else None


def test_readiness_gates_hold_ready_until_their_condition_is_true(
    cluster: Cluster, namespace: str
) -> None:
    ns = namespace
    manifest = simple_pod("gated", ["python3", "-m", "http.server", "8080"])
    manifest["metadata"]["labels"] = {"app": "gated"}
    manifest["spec"]["readinessGates"] = [{"conditionType": GATE}]
    apply(cluster, ns, manifest)
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "gated"},
        "spec": {"selector": {"app": "gated"}, "ports": [{"port": 80, "targetPort": 8080}]},
    }
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(service))
    wait_for(lambda: container_status(cluster, ns, "gated").get("ready"), what="container ready")
    ready = wait_for(
        lambda: (c := condition(cluster, ns, "gated", "Ready")).get("reason") and c,
        what="Ready with a reason",
    )
    assert ready["status"] == "False"
    assert ready["reason"] == "ReadinessGatesNotReady"
    assert ready["message"] == (
        f'corresponding condition of pod readiness gate "{GATE}" does not exist.'
    )
    assert condition(cluster, ns, "gated", "ContainersReady")["status"] == "True"
    wait_for(lambda: endpoint_conditions(cluster, ns, "gated"), what="the endpoint")
    assert endpoint_conditions(cluster, ns, "gated") == {
        "ready": False,
        "serving": False,
        "terminating": False,
    }

    def set_gate(status: str) -> None:
        patch = {"status": {"conditions": [{"type": GATE, "status": status}]}}
        cluster.kubectl(
            "patch", "pod", "gated", "-n", ns, "--subresource=status", "-p", json.dumps(patch)
        )

    set_gate("False")
    wait_for(
        lambda: (
            condition(cluster, ns, "gated", "Ready").get("message")
            == f'the status of pod readiness gate "{GATE}" is not "True", but False'
        ),
        what="the gate's False in Ready's message",
    )
    set_gate("True")
    wait_for(
        lambda: condition(cluster, ns, "gated", "Ready").get("status") == "True",
        what="Ready once the gate is True",
    )
    assert condition(cluster, ns, "gated", GATE)["status"] == "True"  # kept by the kubelet
    wait_for(
        lambda: (endpoint_conditions(cluster, ns, "gated") or {}).get("ready") is True,
        what="the endpoint ready",
    )


def test_logs_previous_of_a_crash_looping_container_is_the_crashed_run(
    cluster: Cluster, namespace: str
) -> None:
    ns = namespace
    # Each run counts itself in an emptyDir (kept across restarts) and says which it is.
    script = (
        "n=$(( $(cat /data/n 2>/dev/null || echo 0) + 1 )); echo $n > /data/n; echo run $n; exit 3"
    )
    manifest = simple_pod(
        "crash",
        ["sh", "-c", script],
        volumes=[{"name": "data", "emptyDir": {}}],
        container={"volumeMounts": [{"name": "data", "mountPath": "/data"}]},
    )
    apply(cluster, ns, manifest)

    def backing_off() -> dict[str, Any] | None:
        s = container_status(cluster, ns, "crash")
        waiting = s.get("state", {}).get("waiting", {})
        if waiting.get("reason") == "CrashLoopBackOff" and s.get("restartCount", 0) >= 1:
            return s
        return None

    def logs_while_backing_off() -> tuple[int, str, str] | None:
        before = backing_off()
        if before is None:
            return None
        previous = cluster.kubectl("logs", "crash", "-n", ns, "-p").stdout
        current = cluster.kubectl("logs", "crash", "-n", ns).stdout
        after = backing_off()  # the same back-off still: the reads saw that state
        if after is None or after["restartCount"] != before["restartCount"]:
            return None
        return before["restartCount"], previous, current

    restarts, previous, current = wait_for(logs_while_backing_off, what="a back-off to read in")
    # restart count r while backing off: runs 1..r+1 have ended, run r+1 is lastState
    assert previous == f"run {restarts + 1}\n"
    assert current == previous


def test_etc_hostname_and_exec_errors(cluster: Cluster, namespace: str) -> None:
    ns = namespace
    apply(cluster, ns, simple_pod("hn", ["sleep", "3600"]))
    wait_for(lambda: container_status(cluster, ns, "hn").get("ready"), what="hn ready")
    out = cluster.kubectl("exec", "hn", "-n", ns, "--", "sh", "-c", "cat /etc/hostname; hostname")
    assert out.stdout == "hn\nhn\n"

    denied = cluster.kubectl("exec", "hn", "-n", ns, "--", "/etc/passwd", check=False)
    assert denied.returncode != 0
    assert (
        "OCI runtime exec failed: exec failed: unable to start container process: "
        'exec: "/etc/passwd": permission denied: unknown'
    ) in denied.stderr
    missing = cluster.kubectl("exec", "hn", "-n", ns, "--", "/no/such/bin", check=False)
    assert (
        'exec: "/no/such/bin": stat /no/such/bin: no such file or directory: unknown'
        in missing.stderr
    )


def test_logs_of_an_unscheduled_pod_are_empty(cluster: Cluster, namespace: str) -> None:
    manifest = simple_pod("pend", ["sleep", "10"], nodeSelector={"x": "y"})
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(manifest))
    out = cluster.kubectl("logs", "pend", "-n", namespace)
    assert out.returncode == 0 and out.stdout == "" and out.stderr == ""


def test_log_options_are_decoded_and_validated(cluster: Cluster, namespace: str) -> None:
    """A bad number is a 400 and an out-of-range one a 422, as upstream (a 500 and a
    traceback before); good options still read the log."""
    apply(cluster, namespace, simple_pod("talker", ["sh", "-c", "echo one; echo two; sleep 3600"]))
    wait_for(lambda: "running" in container_status(cluster, namespace, "talker").get("state", {}))
    base = f"/api/v1/namespaces/{namespace}/pods/talker/log"
    bad = cluster.kubectl("get", "--raw", f"{base}?sinceSeconds=abc", check=False)
    assert bad.returncode != 0
    assert (
        'Error from server (BadRequest): strconv.ParseInt: parsing "abc": invalid syntax'
        in bad.stderr
    )
    out = cluster.kubectl("logs", "talker", "-n", namespace, "--tail=-1", "--timestamps")
    assert out.stdout.splitlines()[0].endswith(" one")
    invalid = cluster.kubectl("get", "--raw", f"{base}?limitBytes=0", check=False)
    assert (
        'PodLogOptions "talker" is invalid: limitBytes: Invalid value: 0: must be greater than 0'
        in invalid.stderr
    )
    two = wait_for(
        lambda: (
            (o := cluster.kubectl("get", "--raw", f"{base}?tailLines=1&timestamps=yes"))
            .stdout.strip()
            .endswith(" two")
            and o.stdout
        ),
        what="the last line, with its timestamp",
    )
    assert len(two.strip().splitlines()) == 1


def test_active_deadline_fails_the_pod(cluster: Cluster, namespace: str) -> None:
    """The kubelet's activeDeadlineHandler: Failed, DeadlineExceeded, containers stopped."""
    manifest = simple_pod("deadline", ["sleep", "3600"])
    manifest["spec"]["activeDeadlineSeconds"] = 2
    manifest["spec"]["terminationGracePeriodSeconds"] = 1
    apply(cluster, namespace, manifest)
    status = wait_for(
        lambda: (s := pod(cluster, namespace, "deadline")["status"]).get("phase") == "Failed" and s,
        what="the pod failed at its deadline",
    )
    assert status["reason"] == "DeadlineExceeded"
    assert status["message"] == "Pod was active on the node longer than the specified deadline"
    cs = wait_for(
        lambda: (
            "terminated" in (c := container_status(cluster, namespace, "deadline"))["state"] and c
        ),
        what="its container stopped",
    )
    assert cs["state"]["terminated"]["exitCode"] in (137, 143)
    event = next(
        e for e in events(cluster, namespace, "deadline") if e["reason"] == "DeadlineExceeded"
    )
    assert event["type"] == "Normal"


def test_a_probes_own_grace_period_stops_the_container(cluster: Cluster, namespace: str) -> None:
    """A liveness failure kills with the probe's terminationGracePeriodSeconds (1 s here),
    not the pod's (600 s): the container, which ignores SIGTERM, restarts."""
    script = "trap 'echo TERM' TERM; while true; do sleep 0.2; done"
    probe = {
        "exec": {"command": ["false"]},
        "periodSeconds": 1,
        "failureThreshold": 1,
        "terminationGracePeriodSeconds": 1,
    }
    manifest = simple_pod("probegrace", ["sh", "-c", script], container={"livenessProbe": probe})
    manifest["spec"]["terminationGracePeriodSeconds"] = 600
    apply(cluster, namespace, manifest)
    cs = wait_for(
        lambda: (
            (c := container_status(cluster, namespace, "probegrace")).get("restartCount", 0) >= 1
            and c
        ),
        what="the restart after the probe's short grace period",
    )
    assert cs["lastState"]["terminated"]["exitCode"] == 137
    # not the pod's 600 s at the namespace's deletion
    cluster.kubectl("delete", "pod", "probegrace", "-n", namespace, "--grace-period=1")


def test_a_memory_volume_is_sized_by_the_pods_memory_limit(
    cluster: Cluster, namespace: str
) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs for a memory-backed emptyDir needs root")
    manifest = simple_pod("memvol", ["sh", "-c", "df -k /m | tail -1; sleep 3600"])
    container = manifest["spec"]["containers"][0]
    container["resources"] = {"limits": {"memory": "100Mi"}}
    container["volumeMounts"] = [{"name": "m", "mountPath": "/m"}]
    manifest["spec"]["volumes"] = [
        {"name": "m", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}}
    ]
    apply(cluster, namespace, manifest)
    line = wait_for(
        lambda: cluster.kubectl("logs", "memvol", "-n", namespace, check=False).stdout.strip(),
        what="df's line",
    )
    assert line.split()[1] == "102400"  # 100 Mi in KiB: the pod's limit, below sizeLimit
    mounts = container_status(cluster, namespace, "memvol")["volumeMounts"]
    assert mounts[0] == {"mountPath": "/m", "name": "m"}
    token = mounts[1]  # the service account token's, added at admission
    assert token["mountPath"] == "/var/run/secrets/kubernetes.io/serviceaccount"
    assert token["readOnly"] is True and token["recursiveReadOnly"] == "Disabled"


def test_envfrom_keys_that_are_not_env_names_are_reported(cluster: Cluster, namespace: str) -> None:
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "mixed"},
        "data": {"GOOD": "yes", "1num": "no"},
    }
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(cm))
    manifest = simple_pod("envfrom", ["sh", "-c", "env; sleep 3600"])
    manifest["spec"]["containers"][0]["envFrom"] = [{"configMapRef": {"name": "mixed"}}]
    apply(cluster, namespace, manifest)
    warned = wait_for(
        lambda: [
            e
            for e in events(cluster, namespace, "envfrom")
            if e["reason"] == "InvalidEnvironmentVariableNames"
        ],
        what="the InvalidEnvironmentVariableNames event",
    )
    assert warned[0]["type"] == "Warning"
    assert warned[0]["message"] == (
        f"Keys [1num] from the EnvFrom configMap {namespace}/mixed were skipped since they "
        "are considered invalid environment variable names."
    )
    logs = wait_for(
        lambda: cluster.kubectl("logs", "envfrom", "-n", namespace, check=False).stdout,
        what="the container's env",
    )
    assert "GOOD=yes" in logs and "1num" not in logs


def test_a_missing_image_backs_off(cluster: Cluster, namespace: str) -> None:
    ns = namespace
    apply(cluster, ns, simple_pod("noimg", ["true"], container={"image": "nosuch:1"}))
    waiting = wait_for(
        lambda: (
            (w := container_status(cluster, ns, "noimg").get("state", {}).get("waiting", {})).get(
                "reason"
            )
            == "ImagePullBackOff"
            and w
        ),
        what="ImagePullBackOff",
    )
    assert waiting["message"] == 'Back-off pulling image "nosuch:1"'
    seen = {(e["type"], e["reason"], e["message"]) for e in events(cluster, ns, "noimg")}
    assert ("Normal", "Pulling", 'Pulling image "nosuch:1"') in seen
    assert (
        "Warning",
        "Failed",
        'Failed to pull image "nosuch:1": kubelite runs only local images; '
        "build it with: kubelite build -t nosuch:1 DIR",
    ) in seen
    assert ("Warning", "Failed", "Error: ErrImagePull") in seen
    assert ("Normal", "BackOff", 'Back-off pulling image "nosuch:1"') in seen
    assert ("Warning", "Failed", "Error: ImagePullBackOff") in seen
    out = cluster.kubectl("logs", "noimg", "-n", ns, check=False)
    assert out.returncode != 0
    assert (
        "is waiting to start: trying and failing to pull image" in out.stderr
        or "is waiting to start: image can't be pulled" in out.stderr
    )


def test_finished_pods_logs_survive_a_restart(fresh_cluster: Cluster) -> None:
    c = fresh_cluster
    code = "import sys; print('boom: bad config'); sys.exit(2)"
    apply(c, "default", simple_pod("fail1", ["python3", "-c", code], restartPolicy="Never"))
    apply(c, "default", simple_pod("done1", ["echo", "all done"], restartPolicy="Never"))
    for name in ("fail1", "done1"):
        wait_for(
            lambda name=name: (
                pod(c, "default", name)["status"].get("phase") in ("Succeeded", "Failed")
            ),
            what=f"{name} finished",
        )

    def logs_read() -> None:
        assert c.kubectl("logs", "fail1").stdout == "boom: bad config\n"
        assert c.kubectl("logs", "done1").stdout == "all done\n"

    logs_read()
    _crash_kubelite(c)
    c.start()
    logs_read()
    c.stop()
    c.start()
    logs_read()


def test_a_node_records_its_lifecycle_events(fresh_cluster: Cluster) -> None:
    """As the kubelet and the node controller record them: `kubectl describe node`."""
    node = fresh_cluster.kubectl("get", "nodes", "-o", "name").stdout.split()[0]

    def reasons() -> set[str]:
        listed = fresh_cluster.kubectl_json(
            "get", "events", "-n", "default", "--field-selector", "involvedObject.kind=Node"
        )
        return {e["reason"] for e in listed["items"]}

    first = {"Starting", "NodeHasSufficientMemory", "NodeHasNoDiskPressure",
             "NodeHasSufficientPID", "NodeReady", "RegisteredNode"}  # fmt: skip
    wait_for(lambda: first <= reasons(), "the node's first events")
    fresh_cluster.kubectl("cordon", node)
    wait_for(lambda: "NodeNotSchedulable" in reasons(), "NodeNotSchedulable after a cordon")
    fresh_cluster.kubectl("uncordon", node)
    wait_for(lambda: "NodeSchedulable" in reasons(), "NodeSchedulable after an uncordon")
