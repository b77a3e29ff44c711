"""The kubelet's admission of a pod bound to its node: each upstream reason and message.

The checks run in upstream's order (pkg/kubelet/lifecycle/predicate.go): the
pod's OS, then resources, node affinity, node name, host ports, and last the
node's NoExecute taints; the first failure is the one reported.
"""

from __future__ import annotations

import asyncio
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest

from kubelite.kubelet import agent as agent_mod
from kubelite.kubelet.admission import Admitted, Rejection, admit, host_ports
from kubelite.kubelet.agent import NodeAgent

Obj = dict[str, Any]
ALLOCATABLE = {
    "cpu": "1",
    "memory": "1Gi",
    "ephemeral-storage": "10Gi",
    "pods": "3",
    "hugepages-2Mi": "0",
    "example.com/gpu": "2",
}
AFFINITY = "Predicate NodeAffinity failed: node(s) didn't match Pod's node affinity/selector"
NODE_NAME = "Predicate NodeName failed: node(s) didn't match the requested node name"
PORTS = "Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports"
TAINTS = "Predicate TaintToleration failed: node(s) had taints that the pod didn't tolerate"
OS_LABEL = "Failed to admit pod as the `kubernetes.io/os` label doesn't match node label"
OS_FIELD = "Failed to admit pod as the OS field doesn't match node OS"


def make_pod(
    *,
    requests: dict[str, str] | None = None,
    labels: dict[str, str] | None = None,
    ports: list[Obj] | None = None,
    **spec: Any,
) -> Obj:
    container: Obj = {"name": "app", "image": "app"}
    if requests:
        container["resources"] = {"requests": requests}
    if ports:
        container["ports"] = ports
    return {
        "metadata": {"name": "p", "uid": "p", "labels": labels or {}},
        "spec": {"containers": [container], **spec},
    }


def make_node(*, labels: dict[str, str] | None = None, taints: list[Obj] | None = None) -> Obj:
    base = {"kubernetes.io/hostname": "n1", "kubernetes.io/os": "linux"}
    return {
        "metadata": {"name": "n1", "labels": {**base, **(labels or {})}},
        "spec": {"taints": taints or []},
    }


def required(key: str, op: str, *values: str) -> Obj:
    expr = {"key": key, "operator": op, "values": list(values)}
    terms = {"nodeSelectorTerms": [{"matchExpressions": [expr]}]}
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": terms}}


def port(host_port: int, ip: str = "", protocol: str = "") -> Obj:
    out: Obj = {"containerPort": 8080, "hostPort": host_port}
    if ip:
        out["hostIP"] = ip
    if protocol:
        out["protocol"] = protocol
    return out


def one_running(cpu: str = "500m", ports: tuple[tuple[str, str, int], ...] = ()) -> list[Admitted]:
    return [Admitted({"cpu": Fraction(cpu.rstrip("m")) / 1000}, ports)]


NO_EXECUTE = {"key": "dedicated", "value": "db", "effect": "NoExecute"}
NO_SCHEDULE = {"key": "dedicated", "value": "db", "effect": "NoSchedule"}
TAINTED = make_node(taints=[NO_EXECUTE])

CASES: list[tuple[str, Obj, Obj, list[Admitted], Rejection | None]] = [
    # ---- the pod's OS, checked before anything else
    (
        "os-label-elsewhere",
        make_pod(labels={"kubernetes.io/os": "windows"}, requests={"cpu": "64"}),
        make_node(),
        [],
        Rejection("PodOSSelectorNodeLabelDoesNotMatch", OS_LABEL),
    ),
    ("os-label-here", make_pod(labels={"kubernetes.io/os": "linux"}), make_node(), [], None),
    (
        "os-field-elsewhere",
        make_pod(os={"name": "windows"}),
        make_node(),
        [],
        Rejection("PodOSNotSupported", OS_FIELD),
    ),
    ("os-field-here", make_pod(os={"name": "linux"}), make_node(), [], None),
    # ---- resources: pods, cpu, memory, ephemeral-storage, then the rest
    (
        "pods-full",  # 3 admitted of 3: the pod count is checked first
        make_pod(requests={"cpu": "2"}),
        make_node(),
        [Admitted({})] * 3,
        Rejection(
            "OutOfpods",
            "Node didn't have enough resource: pods, requested: 1, used: 3, capacity: 3",
        ),
    ),
    (
        "cpu-short",  # 1000m - 500m used leaves 500m < 600m
        make_pod(requests={"cpu": "600m"}),
        make_node(),
        one_running("500m"),
        Rejection(
            "OutOfcpu",
            "Node didn't have enough resource: cpu, requested: 600, used: 500, capacity: 1000",
        ),
    ),
    ("cpu-exactly-left", make_pod(requests={"cpu": "500m"}), make_node(), one_running(), None),
    (
        "memory-short",
        make_pod(requests={"memory": "2Gi"}),
        make_node(),
        [],
        Rejection(
            "OutOfmemory",
            "Node didn't have enough resource: memory, requested: 2147483648, used: 0, "
            "capacity: 1073741824",
        ),
    ),
    (
        "ephemeral-storage-short",
        make_pod(requests={"ephemeral-storage": "11Gi"}),
        make_node(),
        [],
        Rejection(
            "OutOfephemeral-storage",
            "Node didn't have enough resource: ephemeral-storage, requested: 11811160064, "
            "used: 0, capacity: 10737418240",
        ),
    ),
    (
        "hugepages-none",  # a native resource the node has 0 of
        make_pod(requests={"hugepages-2Mi": "2Mi"}),
        make_node(),
        [],
        Rejection(
            "OutOfhugepages-2Mi",
            "Node didn't have enough resource: hugepages-2Mi, requested: 2097152, used: 0, "
            "capacity: 0",
        ),
    ),
    (
        "extended-short",  # the node has 2 gpus
        make_pod(requests={"example.com/gpu": "3"}),
        make_node(),
        [],
        Rejection(
            "OutOfexample.com/gpu",
            "Node didn't have enough resource: example.com/gpu, requested: 3, used: 0, capacity: 2",
        ),
    ),
    # an extended resource the node does not know is left to the cluster (upstream drops it)
    ("extended-unknown", make_pod(requests={"other.io/fpga": "1"}), make_node(), [], None),
    # ---- node affinity and nodeSelector
    (
        "node-selector-missing-label",
        make_pod(nodeSelector={"disk": "ssd"}),
        make_node(),
        [],
        Rejection("NodeAffinity", AFFINITY),
    ),
    (
        "node-selector-matches",
        make_pod(nodeSelector={"disk": "ssd"}),
        make_node(labels={"disk": "ssd"}),
        [],
        None,
    ),
    (
        "required-affinity-mismatch",
        make_pod(affinity=required("zone", "In", "a", "b")),
        make_node(labels={"zone": "c"}),
        [],
        Rejection("NodeAffinity", AFFINITY),
    ),
    (
        "required-affinity-matches",
        make_pod(affinity=required("zone", "In", "a", "b")),
        make_node(labels={"zone": "b"}),
        [],
        None,
    ),
    # ---- node name
    (
        "other-node-name",
        make_pod(nodeName="n2"),
        make_node(),
        [],
        Rejection("NodeName", NODE_NAME),
    ),
    ("own-node-name", make_pod(nodeName="n1"), make_node(), [], None),
    # ---- host ports (0.0.0.0 conflicts with any IP on the same port and protocol)
    (
        "host-port-taken",
        make_pod(ports=[port(8080)]),
        make_node(),
        one_running(ports=(("0.0.0.0", "TCP", 8080),)),
        Rejection("NodePorts", PORTS),
    ),
    (
        "host-port-any-ip-against-one-ip",
        make_pod(ports=[port(8080)]),
        make_node(),
        one_running(ports=(("127.0.0.2", "TCP", 8080),)),
        Rejection("NodePorts", PORTS),
    ),
    (
        "host-port-one-ip-against-any-ip",
        make_pod(ports=[port(8080, ip="127.0.0.2")]),
        make_node(),
        one_running(ports=(("0.0.0.0", "TCP", 8080),)),
        Rejection("NodePorts", PORTS),
    ),
    (
        "host-port-other-ip",
        make_pod(ports=[port(8080, ip="127.0.0.3")]),
        make_node(),
        one_running(ports=(("127.0.0.2", "TCP", 8080),)),
        None,
    ),
    (
        "host-port-other-protocol",
        make_pod(ports=[port(8080, protocol="UDP")]),
        make_node(),
        one_running(ports=(("0.0.0.0", "TCP", 8080),)),
        None,
    ),
    # ---- taints: the kubelet checks NoExecute only
    ("no-execute-untolerated", make_pod(), TAINTED, [], Rejection("TaintToleration", TAINTS)),
    (
        "no-execute-tolerated",
        make_pod(tolerations=[{"key": "dedicated", "operator": "Exists"}]),
        TAINTED,
        [],
        None,
    ),
    ("no-schedule-ignored", make_pod(), make_node(taints=[NO_SCHEDULE]), [], None),
    # ---- the first failure, in upstream's order, is the one reported
    (
        "resources-before-affinity",
        make_pod(requests={"cpu": "2"}, nodeSelector={"disk": "ssd"}, nodeName="n2"),
        TAINTED,
        [],
        Rejection(
            "OutOfcpu",
            "Node didn't have enough resource: cpu, requested: 2000, used: 0, capacity: 1000",
        ),
    ),
    (
        "affinity-before-node-name",
        make_pod(nodeSelector={"disk": "ssd"}, nodeName="n2"),
        TAINTED,
        [],
        Rejection("NodeAffinity", AFFINITY),
    ),
    (
        "node-name-before-ports",
        make_pod(nodeName="n2", ports=[port(80)]),
        TAINTED,
        one_running(ports=(("0.0.0.0", "TCP", 80),)),
        Rejection("NodeName", NODE_NAME),
    ),
    (
        "ports-before-taints",
        make_pod(ports=[port(80)]),
        TAINTED,
        one_running(ports=(("0.0.0.0", "TCP", 80),)),
        Rejection("NodePorts", PORTS),
    ),
]


@pytest.mark.parametrize(
    ("pod", "node", "admitted", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_admission_reasons_and_messages(
    pod: Obj, node: Obj, admitted: list[Admitted], expected: Rejection | None
) -> None:
    assert admit(pod, node=node, allocatable=ALLOCATABLE, admitted=admitted) == expected


def test_host_ports_fill_in_upstreams_defaults_and_skip_unset_ones() -> None:
    pod = make_pod(ports=[port(80), port(53, ip="127.0.0.5", protocol="UDP"), port(0)])
    pod["spec"]["containers"][0]["ports"].append({"containerPort": 9000})
    assert host_ports(pod) == (("0.0.0.0", "TCP", 80), ("127.0.0.5", "UDP", 53))


# ---- the agent: what it admits against, and the Node it reads ----------------------


class FakeRunner:
    """Stands in for PodRunner: runs until told the pod was deleted."""

    started: list[str] = []

    def __init__(self, agent: Any, pod: Obj) -> None:
        self.uid = pod["metadata"]["uid"]
        self.ns, self.name = "default", pod["metadata"]["name"]
        self.pod = pod
        self.terminating = asyncio.Event()

    def update(self, pod: Obj) -> None:
        self.pod = pod

    async def run(self, *, shutdown: asyncio.Event) -> None:
        FakeRunner.started.append(self.uid)
        await self.terminating.wait()


class FakeClient:
    """The API as the agent uses it here: the Node read, pod status written."""

    def __init__(self, node: Obj) -> None:
        self.node = node
        self.node_reads = 0
        self.statuses: dict[str, Obj] = {}

    async def get(self, api_version: str, kind: str, name: str) -> Obj:
        self.node_reads += 1
        return self.node

    async def mutate_only(self, api: str, kind: str, name: str, fn: Any, ns: Any, **_: Any) -> None:
        self.statuses[name] = fn({"metadata": {"uid": name}})["status"]


class FakeRecorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str]] = []

    async def emit(self, obj: Obj, type_: str, reason: str, message: str) -> None:
        self.events.append((type_, reason, message))


def agent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, node: Obj) -> tuple[NodeAgent, Any]:
    monkeypatch.setattr(agent_mod, "PodRunner", FakeRunner)
    FakeRunner.started = []
    n = NodeAgent("n1", data_dir=tmp_path, pod_cidr="127.244.9.0/24", capacity=ALLOCATABLE)
    client = FakeClient(node)
    n.client, n.recorder = client, FakeRecorder()  # type: ignore[assignment]
    return n, client


def bound(uid: str, **kwargs: Any) -> Obj:
    pod = make_pod(nodeName="n1", **kwargs)
    pod["metadata"].update(name=uid, uid=uid, namespace="default")
    return pod


def settle(n: NodeAgent, *pods: Obj) -> None:
    """Upsert each pod in turn, letting the agent's tasks run between them."""

    async def main() -> None:
        async with asyncio.TaskGroup() as tg:
            n._tg = tg
            for pod in pods:
                n._upsert(pod)
                for _ in range(10):
                    await asyncio.sleep(0)
            for runner in list(n.runners.values()):
                runner.terminating.set()
                n._shutdown.set()  # stopping: nothing is re-admitted

    asyncio.run(main())


def test_a_running_pods_host_port_refuses_the_next_pod(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n, client = agent(tmp_path, monkeypatch, make_node())
    settle(n, bound("a", ports=[port(8080)]), bound("b", ports=[port(8080, ip="127.0.0.9")]))
    assert FakeRunner.started == ["a"]
    assert client.statuses["b"] == {
        "phase": "Failed",
        "reason": "NodePorts",
        "message": "Pod was rejected: " + PORTS,
    }
    assert n.recorder.events == [("Warning", "NodePorts", PORTS)]  # type: ignore[attr-defined]


def test_a_label_added_since_the_last_heartbeat_is_read_before_refusing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The agent's copy of its Node has no disk label; the API's has it now.
    n, client = agent(tmp_path, monkeypatch, make_node(labels={"disk": "ssd"}))
    settle(n, bound("a", nodeSelector={"disk": "ssd"}))
    assert client.node_reads == 1
    assert FakeRunner.started == ["a"]
    assert client.statuses == {}


def test_a_node_that_still_does_not_match_refuses_the_pod_for_good(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n, client = agent(tmp_path, monkeypatch, make_node(labels={"disk": "hdd"}))
    pod = bound("a", nodeSelector={"disk": "ssd"})
    settle(n, pod, pod)  # the second: the watch's next event for it
    assert client.node_reads == 1
    assert FakeRunner.started == []
    assert client.statuses["a"] == {
        "phase": "Failed",
        "reason": "NodeAffinity",
        "message": "Pod was rejected: " + AFFINITY,
    }
    assert n.recorder.events == [("Warning", "NodeAffinity", AFFINITY)]  # type: ignore[attr-defined]


def test_a_refusal_for_resources_does_not_reread_the_node(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n, client = agent(tmp_path, monkeypatch, make_node())
    settle(n, bound("a", requests={"cpu": "2"}))
    assert client.node_reads == 0
    assert client.statuses["a"]["reason"] == "OutOfcpu"


def test_the_node_is_read_as_registered_until_the_api_says_otherwise(tmp_path: Path) -> None:
    taint = {"key": "k", "value": "v", "effect": "NoExecute"}
    n = NodeAgent(
        "n1", data_dir=tmp_path, pod_cidr="127.244.9.0/24", labels={"disk": "ssd"}, taints=[taint]
    )
    assert n._admit(bound("a", nodeSelector={"disk": "ssd", "kubernetes.io/hostname": "n1"})) == (
        "TaintToleration",
        TAINTS,
    )


def test_a_pod_updated_while_the_node_is_reread_starts_as_last_seen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n, client = agent(tmp_path, monkeypatch, make_node(labels={"disk": "ssd"}))
    first = bound("a", nodeSelector={"disk": "ssd"})
    second = bound("a", nodeSelector={"disk": "ssd"}, labels={"v": "2"})

    async def main() -> None:
        async with asyncio.TaskGroup() as tg:
            n._tg = tg
            n._upsert(first)
            n._upsert(second)  # before the re-read answers
            for _ in range(10):
                await asyncio.sleep(0)
            assert n.runners["a"].pod is second
            n.runners["a"].terminating.set()  # type: ignore[attr-defined]
            n._shutdown.set()

    asyncio.run(main())
    assert client.node_reads == 1
    assert FakeRunner.started == ["a"]


def test_only_safe_sysctls_are_admitted() -> None:
    def with_sysctls(*names: str, **spec: Any) -> Obj:
        sysctls = [{"name": n, "value": "1"} for n in names]
        return make_pod(securityContext={"sysctls": sysctls}, **spec)

    node = make_node()
    assert (
        admit(with_sysctls("net.ipv4.tcp_syncookies"), node=node, allocatable={}, admitted=[])
        is None
    )
    assert admit(with_sysctls("net.core.somaxconn"), node=node, allocatable={}, admitted=[]) == (
        Rejection("SysctlForbidden", 'forbidden sysctl: "net.core.somaxconn" not allowlisted')
    )
    host = with_sysctls("net.ipv4.tcp_syncookies", hostNetwork=True)
    assert admit(host, node=node, allocatable={}, admitted=[]) == Rejection(
        "SysctlForbidden",
        'forbidden sysctl: "net.ipv4.tcp_syncookies" not allowed with host net enabled',
    )
