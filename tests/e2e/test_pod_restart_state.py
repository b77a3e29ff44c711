"""What pods keep, and what they pick up, across restarts of kubelite; and pod-level
kubelet rules that show in a pod's status (hostNetwork, emptyDir sizeLimit eviction).

- A crash (`kill -9`) of kubelite does not change a pod's IP or reset its
  containers' restart counts, even for pods whose containers never started
  (a start error backing off, a volume that cannot mount): upstream's sandbox
  and its IP survive a kubelet restart, and restartCount comes from the runtime.
- A pod's resolv.conf names the cluster DNS address of the running kubelite,
  for re-adopted pods and for pods restarted by `kubelite down`/`up`, should
  that address have moved.
- A hostNetwork pod reports the node's IP as its pod IP and sees the node's
  hostname.
- A pod whose emptyDir outgrows its sizeLimit is evicted.
"""

from __future__ import annotations

import json
import random
import socket
import sys
import time
from functools import partial
from typing import Any

import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.polling import wait_for as _wait_for
from tests.e2e.test_node_agent import _crash_kubelite

pytestmark = pytest.mark.e2e
PY = "{}.{}".format(*sys.version_info[:2])
NODE = socket.gethostname().split(".")[0].lower()

wait_for = partial(_wait_for, timeout=60, interval=0.3)


def apply(cluster: Cluster, ns: str, manifest: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(manifest))


def simple_pod(name: str, command: list[str], **extra: Any) -> dict[str, Any]:
    container = {"name": "main", "image": f"python:{PY}", "command": command}
    container.update(extra.pop("container", {}))
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"nodeName": NODE, "containers": [container], **extra},
    }


def status(cluster: Cluster, name: str, ns: str = "default") -> dict[str, Any]:
    return cluster.kubectl_json("get", "pod", name, "-n", ns).get("status") or {}


def restarts(st: dict[str, Any]) -> int:
    return int(((st.get("containerStatuses") or [{}])[0]).get("restartCount", 0))


def events(cluster: Cluster, name: str, reason: str) -> list[dict[str, Any]]:
    items = cluster.kubectl_json(
        "get", "events", "--field-selector", f"involvedObject.name={name}"
    )["items"]
    return [e for e in items if e.get("reason") == reason]


def failed_mounts(cluster: Cluster, name: str) -> dict[str, int]:
    """FailedMount events by uid, with their counts (a retry bumps one, or makes one)."""
    return {
        e["metadata"]["uid"]: int(e.get("count") or 1) for e in events(cluster, name, "FailedMount")
    }


# ---- a crash keeps pod IPs and restart counts ------------------------------------------------


def test_pods_whose_containers_never_started_keep_ip_and_restart_count_across_a_crash(
    fresh_cluster: Cluster,
) -> None:
    c = fresh_cluster
    # A pod that takes the node's first address and goes: the next ones get later ones,
    # which a kubelite that forgot them would not hand out again first.
    apply(c, "default", simple_pod("first", ["sleep", "1000"]))
    wait_for(lambda: status(c, "first").get("podIP"), what="first's IP")
    c.kubectl("delete", "pod", "first", "--grace-period=0", "--force", "--wait=true")
    apply(c, "default", simple_pod("nocmd", ["/nonexistent/bin"]))  # StartError, backing off
    missing = [{"name": "cfg", "configMap": {"name": "does-not-exist"}}]
    mount = {"volumeMounts": [{"name": "cfg", "mountPath": "/cfg"}]}
    apply(c, "default", simple_pod("nomount", ["sleep", "1000"], volumes=missing, container=mount))
    before_nocmd = wait_for(
        lambda: (st := status(c, "nocmd")).get("podIP") and restarts(st) >= 1 and st,
        what="nocmd failing to start, restarted",
    )
    before_nomount = wait_for(
        lambda: (st := status(c, "nomount")).get("podIP") and st, what="nomount's IP"
    )
    _crash_kubelite(c)
    c.start()

    # Every status written from now on keeps the IP and never counts fewer restarts;
    # the next failed start counts one more.
    def next_restart() -> bool:
        st = status(c, "nocmd")
        assert st.get("podIP") == before_nocmd["podIP"], st
        assert restarts(st) >= restarts(before_nocmd), st
        return restarts(st) > restarts(before_nocmd)

    wait_for(next_restart, what="nocmd's next restart")
    last = (status(c, "nocmd")["containerStatuses"][0].get("lastState") or {}).get("terminated")
    assert last and last["reason"] == "StartError"
    # the pod whose volume never mounted keeps its IP too, through the new kubelite's retries
    seen = failed_mounts(c, "nomount")

    def retried_after_restart() -> bool:
        st = status(c, "nomount")
        assert st.get("podIP") == before_nomount["podIP"], st
        return any(n > seen.get(uid, 0) for uid, n in failed_mounts(c, "nomount").items())

    wait_for(retried_after_restart, what="nomount's mount retried by the new kubelite")
    for _ in range(5):  # and its status stays so
        time.sleep(0.5)
        assert status(c, "nomount").get("podIP") == before_nomount["podIP"]


# ---- the cluster DNS address of now ----------------------------------------------------------


def nameservers(cluster: Cluster, pod: str) -> list[str]:
    text = cluster.kubectl("exec", pod, "--", "cat", "/etc/resolv.conf").stdout
    return [line.split()[1] for line in text.splitlines() if line.startswith("nameserver ")]


def move_dns(cluster: Cluster) -> str:
    """Have the next start try another address first (as when the old one is taken)."""
    old = cluster.status["dns"].rsplit(":", 1)[0]
    while True:
        new = f"127.53.{random.randint(0, 255)}.{random.randint(1, 254)}"
        if new != old:
            break
    (cluster.data_dir / "dns-address").write_text(new + "\n")
    return new


def test_pods_name_the_cluster_dns_address_of_now_after_restarts(fresh_cluster: Cluster) -> None:
    c = fresh_cluster
    if not c.status.get("dns"):
        pytest.skip("no cluster DNS on this machine")
    apply(c, "default", simple_pod("client", ["sleep", "100000"]))
    wait_for(lambda: status(c, "client").get("phase") == "Running", what="client running")
    first = c.status["dns"].rsplit(":", 1)[0]
    assert nameservers(c, "client") == [first]
    uid = c.kubectl_json("get", "pod", "client")["metadata"]["uid"]

    # a crash, and the DNS comes back elsewhere: the re-adopted pod's file follows
    _crash_kubelite(c)
    moved = move_dns(c)
    c.start()
    now = c.status["dns"].rsplit(":", 1)[0]
    if now != moved:
        pytest.skip(f"the cluster DNS could not bind {moved} ({now})")
    assert c.kubectl_json("get", "pod", "client")["metadata"]["uid"] == uid
    wait_for(lambda: nameservers(c, "client") == [now], what="the re-adopted pod's resolv.conf")
    resolve = "import socket; print(socket.getaddrinfo('kubernetes.default', 443)[0][4][0])"
    answer = c.kubectl("exec", "client", "--", "python3", "-c", resolve).stdout.strip()
    assert answer == c.kubectl_json("get", "svc", "kubernetes")["spec"]["clusterIP"]

    # a graceful down and up, the DNS elsewhere again: the restarted pod names the new one
    c.stop()
    moved = move_dns(c)
    c.start()
    now = c.status["dns"].rsplit(":", 1)[0]
    if now != moved:
        pytest.skip(f"the cluster DNS could not bind {moved} ({now})")
    wait_for(lambda: status(c, "client").get("phase") == "Running", what="client running again")
    wait_for(lambda: nameservers(c, "client") == [now], what="the restarted pod's resolv.conf")


# ---- hostNetwork -----------------------------------------------------------------------------


def test_a_host_network_pod_has_the_node_ip_and_hostname(fresh_cluster: Cluster) -> None:
    c = fresh_cluster
    apply(c, "default", simple_pod("hn", ["sleep", "100000"], hostNetwork=True))
    st = wait_for(
        lambda: (s := status(c, "hn")).get("phase") == "Running" and s.get("podIP") and s,
        what="hn running",
    )
    assert st["podIP"] == st["hostIP"]
    assert st["podIPs"] == [{"ip": st["hostIP"]}]
    hostname = c.kubectl("exec", "hn", "--", "hostname").stdout.strip()
    assert hostname == socket.gethostname()
    # a pod of the pod network still gets its own address and name
    apply(c, "default", simple_pod("own", ["sleep", "100000"]))
    own = wait_for(lambda: (s := status(c, "own")).get("podIP") and s, what="own's IP")
    assert own["podIP"] != own["hostIP"]


# ---- emptyDir sizeLimit ----------------------------------------------------------------------


def test_a_pod_over_its_emptydir_size_limit_is_evicted(fresh_cluster: Cluster) -> None:
    c = fresh_cluster
    fill = "dd if=/dev/zero of=/s/big bs=1M count=3 && sync; sleep 100000"
    manifest = simple_pod(
        "ed",
        ["sh", "-c", fill],
        volumes=[{"name": "s", "emptyDir": {"sizeLimit": "1Mi"}}],
        container={"volumeMounts": [{"name": "s", "mountPath": "/s"}]},
    )
    apply(c, "default", manifest)
    # the kubelet's housekeeping measures every 10 s
    st = wait_for(
        lambda: (s := status(c, "ed")).get("phase") == "Failed" and s,
        what="ed evicted",
        timeout=120,
    )
    message = 'Usage of EmptyDir volume "s" exceeds the limit "1Mi". '
    assert (st.get("reason"), st.get("message")) == ("Evicted", message)
    evicted = events(c, "ed", "Evicted")
    assert [(e["type"], e["message"]) for e in evicted] == [("Warning", message)]
    terminated = st["containerStatuses"][0]["state"].get("terminated")
    assert terminated is not None  # its container was stopped
