"""DaemonSets on a three-node `kubelite up --nodes 3`, driven by the real kubectl."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from tests.e2e.conftest import KUBECTL, Cluster, _new_cluster
from tests.e2e.polling import wait_for

pytestmark = pytest.mark.e2e

SLEEP = '["python3", "-c", "import time; time.sleep(100000)"]'


def manifest(
    name: str = "agent",
    *,
    labels: str = "{app: agent}",
    selector: str = "{app: agent}",
    extra_spec: str = "",
    pod_spec: str = "",
) -> str:
    return f"""apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: {name}
spec:
  selector:
    matchLabels: {selector}
{extra_spec}  template:
    metadata:
      labels: {labels}
    spec:
      terminationGracePeriodSeconds: 1
{pod_spec}      containers:
      - name: main
        image: python:3.11
        command: {SLEEP}
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """This module's own cluster, with three nodes (the shared one has one)."""
    c = _new_cluster(tmp_path_factory.mktemp("daemonsets"))
    c.kubelite("up", "--port", "0", "--nodes", "3", "--detach")
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def nodes(cluster: Cluster) -> list[str]:
    names = sorted(n["metadata"]["name"] for n in cluster.kubectl_json("get", "nodes")["items"])
    assert len(names) == 3
    return names


def pods_by_node(c: Cluster, ns: str, selector: str = "app=agent") -> dict[str, list[dict]]:
    items = c.kubectl_json("get", "pods", "-n", ns, "-l", selector)["items"]
    out: dict[str, list[dict]] = {}
    for pod in items:
        if not pod["metadata"].get("deletionTimestamp"):
            out.setdefault(pod["spec"].get("nodeName") or "", []).append(pod)
    return out


def ready_on(c: Cluster, ns: str, want: set[str]) -> bool:
    """Exactly one Ready pod on each node of `want`, and none elsewhere."""
    placed = pods_by_node(c, ns)
    if set(placed) != want or any(len(p) != 1 for p in placed.values()):
        return False
    return all(
        any(
            cond["type"] == "Ready" and cond["status"] == "True"
            for cond in pod["status"].get("conditions") or []
        )
        for [pod] in placed.values()
    )


def ds_status(c: Cluster, ns: str, name: str = "agent") -> dict[str, Any]:
    return dict(c.kubectl_json("get", "ds", name, "-n", ns).get("status") or {})


def test_one_ready_pod_per_node_then_deleted_with_the_set(
    cluster: Cluster, namespace: str, nodes: list[str]
) -> None:
    c, ns = cluster, namespace
    c.kubectl("apply", "-n", ns, "-f", "-", input=manifest())
    out = c.kubectl("rollout", "status", "ds/agent", "-n", ns, "--timeout=90s").stdout
    assert 'daemon set "agent" successfully rolled out' in out
    wait_for(lambda: ready_on(c, ns, set(nodes)), "a Ready pod on every node")
    row = c.kubectl("get", "ds", "agent", "-n", ns, "--no-headers").stdout.split()
    assert row[:7] == ["agent", "3", "3", "3", "3", "3", "<none>"]
    header = c.kubectl("get", "ds", "-n", ns, "-o", "wide").stdout.splitlines()[0].split()
    assert header[:6] == ["NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE"]
    assert header[-3:] == ["CONTAINERS", "IMAGES", "SELECTOR"]
    ds = c.kubectl_json("get", "ds", "agent", "-n", ns)
    for [pod] in pods_by_node(c, ns).values():
        [ref] = pod["metadata"]["ownerReferences"]
        assert (ref["kind"], ref["uid"]) == ("DaemonSet", ds["metadata"]["uid"])
        assert pod["metadata"]["labels"]["pod-template-generation"] == "1"
    events = c.kubectl_json("get", "events", "-n", ns)["items"]
    assert sum(e["reason"] == "SuccessfulCreate" for e in events) == 3
    c.kubectl("delete", "ds", "agent", "-n", ns, "--timeout=60s")
    wait_for(lambda: not pods_by_node(c, ns), "the daemon pods to go")


def test_node_selector_follows_node_labels(
    cluster: Cluster, namespace: str, nodes: list[str]
) -> None:
    c, ns = cluster, namespace
    first, second, _ = nodes
    spec = "      nodeSelector: {e2e-ds: 'yes'}\n"
    try:
        c.kubectl("label", "node", first, "e2e-ds=yes")
        c.kubectl("apply", "-n", ns, "-f", "-", input=manifest(pod_spec=spec))
        wait_for(lambda: ready_on(c, ns, {first}), "a pod on the labelled node only")
        c.kubectl("label", "node", second, "e2e-ds=yes")
        wait_for(lambda: ready_on(c, ns, {first, second}), "a pod on the newly labelled node")
        wait_for(lambda: ds_status(c, ns).get("numberReady") == 2, "two ready")
        assert ds_status(c, ns)["desiredNumberScheduled"] == 2
        row = c.kubectl("get", "ds", "agent", "-n", ns, "--no-headers").stdout.split()
        assert row[6] == "e2e-ds=yes"
    finally:
        c.kubectl("label", "node", first, second, "e2e-ds-", check=False)


def test_tainted_node_only_with_toleration(
    cluster: Cluster, namespace: str, nodes: list[str]
) -> None:
    c, ns = cluster, namespace
    tainted = nodes[2]
    try:
        c.kubectl("taint", "node", tainted, "e2e-ds=x:NoSchedule")
        c.kubectl("apply", "-n", ns, "-f", "-", input=manifest())
        wait_for(lambda: ready_on(c, ns, set(nodes[:2])), "pods on the untainted nodes")
        assert ds_status(c, ns)["desiredNumberScheduled"] == 2
        tolerate = "      tolerations: [{key: e2e-ds, operator: Exists}]\n"
        c.kubectl("apply", "-n", ns, "-f", "-", input=manifest(pod_spec=tolerate))
        wait_for(lambda: ready_on(c, ns, set(nodes)), "a pod on the tainted node too")
    finally:
        c.kubectl("taint", "node", tainted, "e2e-ds-", check=False)


def _env(pod: dict) -> list[dict]:
    return list(pod["spec"]["containers"][0].get("env") or [])


def test_rolling_update_and_undo(cluster: Cluster, namespace: str, nodes: list[str]) -> None:
    c, ns = cluster, namespace
    c.kubectl("apply", "-n", ns, "-f", "-", input=manifest())
    c.kubectl("rollout", "status", "ds/agent", "-n", ns, "--timeout=90s")
    assert KUBECTL is not None
    # Every status the set goes through, as a watch sees it.
    watcher = subprocess.Popen(
        [KUBECTL, "get", "ds", "agent", "-n", ns, "-w", "-o", "json"],
        stdout=subprocess.PIPE,
        text=True,
        env=c.env(),
    )
    try:
        c.kubectl("set", "env", "ds/agent", "-n", ns, "VERSION=2")
        out = c.kubectl("rollout", "status", "ds/agent", "-n", ns, "--timeout=120s").stdout
        assert 'daemon set "agent" successfully rolled out' in out
    finally:
        watcher.terminate()
        seen, _ = watcher.communicate(timeout=10)
    statuses = [o.get("status") or {} for o in _json_stream(seen)]
    assert any(s.get("updatedNumberScheduled", 0) < 3 for s in statuses)  # a rollout was seen
    assert max(s.get("numberUnavailable", 0) for s in statuses) <= 1  # maxUnavailable: 1
    wait_for(lambda: ready_on(c, ns, set(nodes)), "one Ready pod per node")
    assert all(
        _env(p) == [{"name": "VERSION", "value": "2"}] for [p] in pods_by_node(c, ns).values()
    )
    history = c.kubectl("rollout", "history", "ds/agent", "-n", ns).stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["1", "2"]
    c.kubectl("rollout", "undo", "ds/agent", "-n", ns)
    c.kubectl("rollout", "status", "ds/agent", "-n", ns, "--timeout=120s")
    wait_for(
        lambda: (
            ready_on(c, ns, set(nodes))
            and all(_env(p) == [] for [p] in pods_by_node(c, ns).values())
        ),
        "every pod back on the first template",
    )
    ds = c.kubectl_json("get", "ds", "agent", "-n", ns)
    assert _env({"spec": ds["spec"]["template"]["spec"]}) == []
    assert ds["metadata"]["annotations"]["deprecated.daemonset.template.generation"] == "3"
    history = c.kubectl("rollout", "history", "ds/agent", "-n", ns).stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["2", "3"]
    # kubectl compares the revision's data with the live template byte for byte.
    out = c.kubectl("rollout", "undo", "ds/agent", "-n", ns, "--to-revision=3").stdout
    assert "skipped rollback (current template already matches revision 3)" in out


def _json_stream(text: str) -> list[dict]:
    """The objects of a `kubectl get -w -o json` stream (pretty-printed, back to back)."""
    decoder, out, pos = json.JSONDecoder(), [], 0
    text = text.strip()
    while pos < len(text):
        obj, end = decoder.raw_decode(text, pos)
        out.append(obj)
        pos = end
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def test_bad_input_is_refused_and_changes_nothing(cluster: Cluster, namespace: str) -> None:
    c, ns = cluster, namespace
    bad = manifest("bad", labels="{app: other}")
    proc = c.kubectl("apply", "-n", ns, "-f", "-", input=bad, check=False)
    assert proc.returncode != 0
    assert (
        'spec.template.metadata.labels: Invalid value: {"app":"other"}: '
        "`selector` does not match template `labels`"
    ) in proc.stderr
    assert c.kubectl("get", "ds", "bad", "-n", ns, check=False).returncode != 0
    # An update to restartPolicy Never: 422 with the upstream cause, nothing stored.
    c.kubectl("apply", "-n", ns, "-f", "-", input=manifest())
    before = c.kubectl_json("get", "ds", "agent", "-n", ns)
    api, client = c.api_client()
    apps = client.AppsV1Api(api)
    patch = {"spec": {"template": {"spec": {"restartPolicy": "Never"}}}}
    with pytest.raises(client.exceptions.ApiException) as caught:
        apps.patch_namespaced_daemon_set("agent", ns, patch)
    assert caught.value.status == 422
    body = json.loads(caught.value.body)
    assert body["reason"] == "Invalid"
    assert body["details"]["causes"] == [
        {
            "reason": "FieldValueNotSupported",
            "message": 'Unsupported value: "Never": supported values: "Always"',
            "field": "spec.template.spec.restartPolicy",
        }
    ]
    after = c.kubectl_json("get", "ds", "agent", "-n", ns)
    # The controller may write the status meanwhile; the refused spec change is not there.
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["spec"] == before["spec"]
    assert after["spec"]["template"]["spec"]["restartPolicy"] == "Always"
