"""The node agent: registers a Node, keeps it fresh, and runs the pods bound to it.

One `NodeAgent` per node. It watches pods with `spec.nodeName` equal to its
name and keeps one `PodRunner` per pod uid (per-object serial processing,
many pods in parallel). The Node's status and its Lease in kube-node-lease
are renewed every 10 s. On cancellation (`kubelite down`) every pod is
stopped gracefully before `run` returns.

Containers are started through the node's shim (`shim.py`), which parents
them and writes their logs, so a crash of kubelite leaves them running. At
start the agent reads the pod checkpoints and what the shim still holds,
and re-adopts each pod still bound to it (`adopt.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import random
import shutil
import socket
from collections import OrderedDict
from pathlib import Path
from typing import Any

from kubelite.api.quantity import milli_value
from kubelite.api.resources import pod_requests
from kubelite.apiserver.errors import AlreadyExists, ApiError, NotFound
from kubelite.kubelet import admission, adopt, cgroups, checkpoint, eviction, sandbox
from kubelite.kubelet import exec as kexec
from kubelite.kubelet.backoff import Backoff
from kubelite.kubelet.clock import Clock, SystemClock, rfc3339_micro
from kubelite.kubelet.dns import DNSConfig
from kubelite.kubelet.events import NORMAL, WARNING, Recorder
from kubelite.kubelet.images import ImageStore
from kubelite.kubelet.ipam import IpPool
from kubelite.kubelet.node import (
    lease_object,
    limits_condition,
    machine_capacity,
    node_images,
    node_info,
    node_labels,
    node_object,
    node_status,
)
from kubelite.kubelet.pod import PodRunner
from kubelite.kubelet.process import Exit
from kubelite.kubelet.runtime import ContainerProcess, LocalRuntime, Runtime, ShimRuntime
from kubelite.kubelet.services import ServiceCache
from kubelite.kubelet.startlane import StartLane
from kubelite.kubelet.volumes import release_mounts, release_orphans

log = logging.getLogger(__name__)
Obj = dict[str, Any]
HEARTBEAT_S = 10.0
REMEMBER_REMOVED = 4096  # removed pods' uids kept, against their late watch events
EVENT_FLUSH_S = 5.0  # on stop, how long queued events may take to be written
# Admission refusals that a stale copy of the Node could explain (`_recheck`).
_NODE_STATE = frozenset({admission.NODE_AFFINITY, admission.TAINT_TOLERATION})
KINDS = {
    "ConfigMap": "v1",
    "Secret": "v1",
    "PersistentVolumeClaim": "v1",
    "PersistentVolume": "v1",
}


# The kubelet's node status events, by condition and status (nodestatus setters).
NODE_CONDITION_EVENTS = {
    "MemoryPressure": {"False": "NodeHasSufficientMemory", "True": "NodeHasInsufficientMemory"},
    "DiskPressure": {"False": "NodeHasNoDiskPressure", "True": "NodeHasDiskPressure"},
    "PIDPressure": {"False": "NodeHasSufficientPID", "True": "NodeHasInsufficientPID"},
    "Ready": {"True": "NodeReady", "False": "NodeNotReady"},
}


class NodeAgent:
    def __init__(
        self,
        name: str,
        *,
        data_dir: Path,
        pod_cidr: str,
        capacity: dict[str, str] | None = None,
        labels: dict[str, str] | None = None,
        taints: list[Obj] | None = None,
        crashloop_base_s: float = 10.0,
        crashloop_max_s: float = 300.0,
        clock: Clock | None = None,
        share: int = 1,
        isolate: bool | None = None,
        volume_sync_s: float = 1.0,
        shim: bool = True,
        cluster_dns: tuple[str, ...] = (),
        cluster_domain: str = "cluster.local",
        cluster_dns_options: tuple[str, ...] = (),
    ) -> None:
        self.name = name
        self.data_dir = data_dir
        self.pod_cidr = pod_cidr
        self.capacity = capacity or machine_capacity(data_dir, share)
        self.labels = labels or {}
        self.taints = taints or []
        self.clock: Clock = clock or SystemClock()
        self.backoff = Backoff(crashloop_base_s, crashloop_max_s)
        self.ipam = IpPool(pod_cidr)
        self.images = ImageStore(data_dir)
        self.pods_dir = data_dir / "nodes" / name / "pods"
        self.host_ip = "127.0.0.1"
        self.isolate = sandbox_supported() if isolate is None else isolate
        # Why containers cannot have a /dev of their own here (None: they can); probed in `run`.
        self.private_dev_error: str | None = None if self.isolate else NO_MOUNT_NAMESPACE
        self.volume_sync_s = volume_sync_s
        self.cgroups = cgroups.Manager.detect(
            f"kubelite/{name}", pids_max=cgroups.pids_max_from_env()
        )
        self.runners: dict[str, PodRunner] = {}
        # Pods whose runner stopped them for deletion and removed them: a watch event
        # for one may still be on its way, and must not start a second runner (as
        # upstream's pod workers remember finished pods until the API forgets them).
        self._removed: OrderedDict[str, None] = OrderedDict()
        # Each running pod's requests, for the admission of the next (`_admit`).
        self._admitted: dict[str, admission.Admitted] = {}
        self._rejected: set[str] = set()  # pods refused admission (their status says why)
        # Pods refused by the node's labels or taints, waiting for the Node re-read
        # (`_recheck`): uid -> the pod's latest version.
        self._rechecking: dict[str, Obj] = {}
        # The Node as last written or read: admission checks its labels and taints.
        # Until the first write, what this agent will register (upstream's initialNode).
        self._node: Obj = {
            "metadata": {"name": name, "labels": node_labels(name, self.labels)},
            "spec": {"taints": self.taints},
        }
        self._cpu_requests: dict[str, tuple[str, int]] = {}  # uid -> QoS class, millicores
        self.lane = StartLane()  # pods' start-up work, one at a time, oldest first
        self._orders = itertools.count()
        # kubelet's --cluster-dns/--cluster-domain, and its Service lister (Service env).
        self.dns = DNSConfig(
            tuple(cluster_dns), cluster_domain, cluster_options=tuple(cluster_dns_options)
        )
        self.services = ServiceCache()
        # Containers are parented by the node's shim so they outlive a kubelite crash.
        self.runtime: Runtime = ShimRuntime(data_dir / "nodes" / name) if shim else LocalRuntime()
        self._saved: dict[str, tuple[Path, Obj]] = {}
        self._images_version: int | None = None
        self._images_cache: list[Obj] = []
        self._held: dict[str, Obj] = {}
        self.client: Any = None
        self.recorder: Recorder = None  # type: ignore[assignment]
        self._node_uid = ""
        self._node_conditions: dict[str, str] = {}  # as the last status write left them
        self._unschedulable = False  # as the kubelet starts assuming, so no first event
        self._shutdown = asyncio.Event()

    @property
    def allocatable(self) -> dict[str, str]:
        return self.capacity

    # ---- Component -----------------------------------------------------------------

    async def run(self, client: Any, ready: asyncio.Event) -> None:
        self.client = client
        self.recorder = Recorder(client, self.name, self.clock, quiet=self.lane.idle)
        self.pods_dir.mkdir(parents=True, exist_ok=True)
        if self.isolate:
            # a fork and a few mounts (some ms): off the loop, which serves the API meanwhile
            probe = self.pods_dir.parent / "dev-probe"
            problem = await asyncio.to_thread(sandbox.probe_private_dev, probe)
            self.private_dev_error = problem or None
            if problem:
                log.warning("node %s: containers see the host's /dev: %s", self.name, problem)
        await self._register()
        await self._renew_lease()
        await self._connect_runtime()
        ready.set()
        async with asyncio.TaskGroup() as outer:
            shim = outer.create_task(self.runtime.run())
            events = outer.create_task(self.recorder.run())
            try:
                await self._run_pods()
            finally:
                shim.cancel()
                events.cancel()
                # What the pods' termination said is still written.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(asyncio.shield(self.recorder.flush()), EVENT_FLUSH_S)

    async def _connect_runtime(self) -> None:
        """Reach the shim and read what a previous kubelite left: the basis of re-adoption."""
        if isinstance(self.runtime, ShimRuntime):
            try:
                self._held = await self.runtime.connect()
            except OSError as exc:
                log.warning("node %s runs containers in-process: %s", self.name, exc)
                self.runtime = LocalRuntime()
        self._saved = checkpoint.load_all(self.pods_dir)

    async def _run_pods(self) -> None:
        cancelled = False
        # Pod runners live in their own group so that on cancellation they can
        # still stop their containers gracefully before `run` returns.
        async with asyncio.TaskGroup() as pods:
            self._tg = pods
            try:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(self._heartbeat())
                    tg.create_task(self.services.run(self.client))
                    tg.create_task(self._watch_pods())
                    tg.create_task(eviction.run(self))
            except asyncio.CancelledError:
                cancelled = True
                self._shutdown.set()
                task = asyncio.current_task()
                if task is not None:
                    task.uncancel()
        if cancelled:
            raise asyncio.CancelledError

    # ---- the Node and its Lease ---------------------------------------------------------

    async def _register(self) -> None:
        now = self.clock.wall()
        info = node_info(self.data_dir)
        body = node_object(
            self.name,
            pod_cidr=self.pod_cidr,
            capacity=self.capacity,
            labels=self.labels,
            taints=self.taints,
            info=info,
            now=now,
        )
        try:
            node = await self.client.create(body)
        except AlreadyExists:
            node = await self.client.get("v1", "Node", self.name)
        self._node = node
        self._node_uid = node["metadata"]["uid"]
        self._info = info
        await self._update_node_status()
        if self.cgroups is None:
            await self.recorder.emit(
                node, WARNING, cgroups.UNENFORCED_REASON, cgroups.UNENFORCED_MESSAGE
            )

    async def _update_node_status(self) -> None:
        now = self.clock.wall()
        images = self._node_images()
        extra = limits_condition(self.cgroups is not None)

        def apply(node: Obj) -> Obj:
            node["status"] = node_status(
                self.name,
                capacity=self.capacity,
                info=self._info,
                now=now,
                previous=node.get("status"),
                images=images,
                extra_conditions=extra,
            )
            return node

        self._node = await self.client.mutate("v1", "Node", self.name, apply, subresource="status")
        await self._record_node_transitions(self._node)

    async def _record_node_transitions(self, node: Obj) -> None:
        """The kubelet's node events: each condition as it changes (all of them at the
        first status), and cordon or uncordon as the kubelet next sees the spec."""
        ref = {
            "kind": "Node",
            "apiVersion": "v1",
            "metadata": {"name": self.name, "uid": self.name},
        }
        first = not self._node_conditions
        if first:
            await self.recorder.emit(ref, NORMAL, "Starting", "Starting kubelet.")
        current = {
            c.get("type"): c.get("status")
            for c in (node.get("status") or {}).get("conditions") or []
        }
        for kind, reasons in NODE_CONDITION_EVENTS.items():
            status = current.get(kind)
            if status is None or self._node_conditions.get(kind) == status:
                continue
            reason = reasons.get(status)
            if reason is not None:
                await self.recorder.emit(
                    ref, NORMAL, reason, f"Node {self.name} status is now: {reason}"
                )
            if first and kind == "PIDPressure":
                await self.recorder.emit(
                    ref,
                    NORMAL,
                    "NodeAllocatableEnforced",
                    "Updated Node Allocatable limit across pods",
                )
        self._node_conditions = {k: v for k, v in current.items() if isinstance(k, str)}
        unschedulable = bool((node.get("spec") or {}).get("unschedulable"))
        if unschedulable != self._unschedulable:
            reason = "NodeNotSchedulable" if unschedulable else "NodeSchedulable"
            await self.recorder.emit(
                ref, NORMAL, reason, f"Node {self.name} status is now: {reason}"
            )
            self._unschedulable = unschedulable

    def _node_images(self) -> list[Obj]:
        """status.images, re-read only when the image store changed (a build or removal)."""
        version = self.images.version()
        if version != self._images_version:
            self._images_cache = node_images(self.images.list())
            self._images_version = version
        return self._images_cache

    async def _renew_lease(self) -> None:
        now = self.clock.wall()
        try:
            await self.client.mutate(
                "coordination.k8s.io/v1",
                "Lease",
                self.name,
                lambda lease: _renew(lease, self.name, now),
                "kube-node-lease",
            )
        except NotFound:
            with contextlib.suppress(AlreadyExists):
                await self.client.create(
                    lease_object(self.name, self._node_uid, now), "kube-node-lease"
                )

    async def _heartbeat(self) -> None:
        while True:
            await self.clock.sleep(HEARTBEAT_S)
            try:
                await self._renew_lease()
                await self._update_node_status()
            except NotFound:
                await self._register()
            except ApiError as exc:
                log.warning("node %s heartbeat failed: %s", self.name, exc)

    # ---- pods -----------------------------------------------------------------------

    async def _watch_pods(self) -> None:
        selector = f"spec.nodeName={self.name}"
        while True:
            pods, rv = await self.client.list("v1", "Pod", field_selector=selector)
            seen = {p["metadata"]["uid"] for p in pods}
            for uid in self._rechecking.keys() - seen:
                del self._rechecking[uid]  # gone while its node was re-read
            for pod in pods:
                self._upsert(pod)
            self._stop_leftovers()
            for uid, runner in list(self.runners.items()):
                if uid not in seen:
                    runner.request_termination(deleted=True)
            async for type_, obj in self.client.watch(
                "v1", "Pod", resource_version=rv, field_selector=selector
            ):
                if type_ == "ERROR":
                    break
                if type_ == "BOOKMARK":
                    continue
                if type_ == "DELETED":
                    self._rechecking.pop(obj["metadata"]["uid"], None)
                    gone = self.runners.get(obj["metadata"]["uid"])
                    if gone is not None:
                        gone.request_termination(
                            obj["metadata"].get("deletionGracePeriodSeconds"), deleted=True
                        )
                    else:
                        self._forget_ended(obj)
                    continue
                self._upsert(obj)

    def _upsert(self, pod: Obj, *, node_fresh: bool = False) -> None:
        uid = pod["metadata"]["uid"]
        runner = self.runners.get(uid)
        if runner is not None:
            runner.update(pod)
            return
        if uid in self._removed:
            return
        if uid in self._rechecking:
            self._rechecking[uid] = pod  # admitted or refused once the node is re-read
            return
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed") and not pod["metadata"].get("deletionTimestamp"):
            # Finished before we came: nothing to run, but its directory (its
            # containers' logs, for `kubectl logs`) stays until the pod is deleted.
            done = self._saved.pop(uid, None)
            if done is not None:
                checkpoint.remove(done[0])
            return
        saved = self._saved.pop(uid, None)
        if pod["metadata"].get("deletionTimestamp"):
            self._rejected.discard(uid)
        elif saved is None:
            if uid in self._rejected:
                return
            rejection = self._admit(pod)
            if rejection is not None and not node_fresh and rejection.reason in _NODE_STATE:
                self._rechecking[uid] = pod
                self._tg.create_task(self._recheck(uid))
                return
            if rejection is not None:
                self._rejected.add(uid)
                self._tg.create_task(self._reject(pod, *rejection))
                return
        runner = PodRunner(self, pod)
        if saved is not None:
            self._restore(runner, saved[1])
        self.runners[uid] = runner
        # a pod's requests and host ports are fixed at creation: taken once
        self._admitted[uid] = admission.Admitted(pod_requests(pod), admission.host_ports(pod))
        runner.update(pod)
        self._tg.create_task(self._run_pod(runner))

    async def _run_pod(self, runner: PodRunner) -> None:
        removed = False
        try:
            await runner.run(shutdown=self._shutdown)
            removed = runner.terminating.is_set() and not self._shutdown.is_set()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("pod %s/%s failed in the agent", runner.ns, runner.name)
        finally:
            if self.runners.get(runner.uid) is runner and not self._shutdown.is_set():
                del self.runners[runner.uid]
                self._admitted.pop(runner.uid, None)
            if removed:
                self._removed[runner.uid] = None
                while len(self._removed) > REMEMBER_REMOVED:
                    self._removed.popitem(last=False)

    def _forget_ended(self, pod: Obj) -> None:
        """A pod deleted with no runner (it had ended before this kubelite started):
        the directory its logs were kept in goes with it."""
        md = pod["metadata"]
        pod_dir = self.pods_dir / f"{md.get('namespace', 'default')}_{md['name']}_{md['uid']}"
        if pod_dir.is_dir() and not checkpoint.load(pod_dir):
            release_mounts(pod_dir)
            shutil.rmtree(pod_dir, ignore_errors=True)

    def _admit(self, pod: Obj) -> admission.Rejection | None:
        """The kubelet's admission of a pod bound here (a pod given a nodeName
        skips the scheduler), against the pods admitted before it (`admission.py`)."""
        admitted = [a for uid, a in self._admitted.items() if not self._finished(uid)]
        return admission.admit(
            pod, node=self._node, allocatable=self.allocatable, admitted=admitted
        )

    async def _recheck(self, uid: str) -> None:
        """Re-read the Node, then admit the pod again. The copy admission read is
        as old as the last heartbeat, where upstream's kubelet watches its Node:
        a `kubectl label node` just before the pod must not refuse it (newer
        upstream kubelets likewise re-read the Node when node affinity refuses
        a pod). A second refusal is final."""
        try:
            self._node = await self.client.get("v1", "Node", self.name)
        except ApiError as exc:
            log.warning("node %s: re-reading the Node for admission failed: %s", self.name, exc)
        pod = self._rechecking.pop(uid, None)
        if pod is not None and not self._shutdown.is_set():
            self._upsert(pod, node_fresh=True)

    def _finished(self, uid: str) -> bool:
        runner = self.runners.get(uid)
        phase = (runner.pod.get("status") or {}).get("phase") if runner is not None else None
        return runner is None or phase in ("Succeeded", "Failed")

    async def _reject(self, pod: Obj, reason: str, message: str) -> None:
        """Upstream's rejectPod: a Warning event and the pod Failed, never started."""
        md = pod["metadata"]
        await self.recorder.emit(pod, "Warning", reason, message)

        def failed(current: Obj) -> Obj:
            if current["metadata"].get("uid") != md["uid"]:
                raise NotFound(f'pods "{md["name"]}" not found')
            status = current.setdefault("status", {})
            status.update(phase="Failed", reason=reason, message="Pod was rejected: " + message)
            return current

        with contextlib.suppress(NotFound):
            await self.client.mutate_only(
                "v1", "Pod", md["name"], failed, md.get("namespace"), subresource="status"
            )

    def _restore(self, runner: PodRunner, saved: Obj) -> None:
        if saved.get("podIP"):
            self.ipam.reserve(runner.uid, saved["podIP"])
        runner.restore(saved, adopt.adopt(saved, self._held, self.runtime))
        log.info("node %s re-adopted pod %s/%s", self.name, runner.ns, runner.name)

    def _stop_leftovers(self) -> None:
        """After the first list: what the last kubelite ran for pods no longer here."""
        release_orphans(self.pods_dir, self.runners.keys())  # mounts no worker will release
        if not self._saved and not self._held:
            return
        for uid in adopt.stop_leftovers(self._saved, self._held, self.runtime):
            if self.cgroups is not None:
                self.cgroups.remove(uid)
        self._saved, self._held = {}, {}

    # ---- services for pod runners ---------------------------------------------------

    def next_order(self) -> int:
        return next(self._orders)

    async def lookup(self, kind: str, namespace: str, name: str) -> Obj | None:
        ns = namespace if kind != "PersistentVolume" else None
        return await self.client.get_or_none(KINDS[kind], kind, name, ns)

    async def exec_in(
        self,
        proc: ContainerProcess,
        command: list[str],
        timeout: float | None,
        where: tuple[str, str],
        pod_ip: str = "",
    ) -> tuple[int | None, bytes]:
        """Run a command in a container's filesystem view (exec probes, lifecycle hooks),
        as `kubectl exec` runs it: its binds and connects the pod's at `pod_ip` (empty:
        the host's network, a hostNetwork pod's), so it reaches the pod on localhost."""
        return await kexec.run(self, proc, where, command, timeout=timeout, pod_ip=pod_ip)

    def cgroups_prepare(self, runner: PodRunner, container: Obj) -> cgroups.Placement:
        """The cgroup files the container's process writes itself into before exec."""
        if self.cgroups is None:
            return cgroups.Placement()
        qos, millis = self._cpu_request(runner)
        weights = cgroups.CpuWeights(
            qos, millis, self._burstable_millis(), milli_value(self.allocatable.get("cpu") or 0)
        )
        return self.cgroups.prepare(runner.uid, container, weights)

    def _cpu_request(self, runner: PodRunner) -> tuple[str, int]:
        """The pod's QoS class and CPU request in millicores, worked out once per pod."""
        known = self._cpu_requests.get(runner.uid)
        if known is None:
            requests = pod_requests(runner.pod)
            qos = (runner.pod.get("status") or {}).get("qosClass") or (
                "Burstable" if requests else "BestEffort"
            )
            known = self._cpu_requests[runner.uid] = (qos, milli_value(requests.get("cpu", 0)))
        return known

    def _burstable_millis(self) -> int:
        """The CPU requests of the node's Burstable pods together (the tier's weight)."""
        total = 0
        for uid in self.runners:
            qos, millis = self._cpu_requests.get(uid) or ("", 0)
            if qos == "Burstable":
                total += millis
        return total

    def cgroups_oom(self, runner: PodRunner, name: str, exit_: Exit) -> bool:
        return self.cgroups is not None and self.cgroups.oom_killed(
            runner.uid, name, exit_.signal == 9
        )

    def cgroups_pids_limit(self, runner: PodRunner, name: str) -> int | None:
        """The pids limit, if the container ran into it."""
        if self.cgroups is not None and self.cgroups.pids_limit_reached(runner.uid, name):
            return self.cgroups.pids_max
        return None

    def cgroups_remove(self, runner: PodRunner) -> None:
        if self.cgroups is not None:
            self.cgroups.remove(runner.uid)
            if self._cpu_requests.pop(runner.uid, ("", 0))[0] == "Burstable":
                self.cgroups.set_burstable(self._burstable_millis())

    def status(self) -> dict[str, Any]:
        return {}


def proc_env(pid: int) -> dict[str, str]:
    """A running process's environment (what a command run beside it gets)."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return dict(os.environ)
    return dict(
        item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item
    )


def _renew(lease: Obj, name: str, now: float) -> Obj:
    spec = lease.setdefault("spec", {})
    spec["holderIdentity"] = name
    spec["leaseDurationSeconds"] = 40
    spec["renewTime"] = rfc3339_micro(now)
    return lease


NO_MOUNT_NAMESPACE = "containers have no mount namespace of their own on this node"


def sandbox_supported() -> bool:
    """Mount namespaces are the only way kubelite gives a container its own view."""
    return os.geteuid() == 0 or Path("/proc/self/ns/user").exists()


def node_agents(
    count: int, data_dir: Path, config: dict[str, Any] | None = None, **kwargs: Any
) -> list[NodeAgent]:
    """`kubelite up --nodes N`: `<hostname>` for one node, `<hostname>-1..N` for several."""
    host = socket.gethostname().split(".")[0].lower() or "kubelite"
    per_node = {n.get("name"): n for n in (config or {}).get("nodes") or []}
    agents = []
    base = _subnet_base(Path(data_dir), count)
    for i in range(count):
        name = host if count == 1 else f"{host}-{i + 1}"
        conf = (
            per_node.get(name) or ((config or {}).get("nodes") or [{}] * count)[i]
            if (config or {}).get("nodes")
            else {}
        )
        agents.append(
            NodeAgent(
                name,
                data_dir=data_dir,
                pod_cidr=f"127.244.{(base + i) % 256}.0/24",
                capacity=conf.get("capacity"),
                labels=conf.get("labels"),
                taints=conf.get("taints"),
                share=count,
                **kwargs,
            )
        )
    return agents


def _subnet_base(data_dir: Path, count: int = 1) -> int:
    """The first of this cluster's /24s in 127.244.0.0/16, picked once per data dir.

    A random start, among the /24s where nothing listens now, keeps clusters
    running side by side (tests, several data dirs) from handing out the same
    pod IP, which would make their pods fight over ports; keeping it in the
    data dir gives re-adopted pods their IPs back.
    """
    path = data_dir / "pod-subnet"
    try:
        return int(path.read_text().strip()) % 256
    except (OSError, ValueError):
        pass
    if (data_dir / "nodes").exists():
        base = 0  # a data dir whose nodes ran before this file existed keeps 127.244.0.0/24
    else:
        busy = busy_pod_subnets()
        free = [b for b in range(256) if not any((b + i) % 256 in busy for i in range(count))]
        base = random.choice(free or range(256))
    with contextlib.suppress(OSError):
        path.write_text(f"{base}\n")
    return base


_TABLES = ("/proc/net/tcp", "/proc/net/udp", "/proc/net/tcp6", "/proc/net/udp6")
_V4_MAPPED = "0000000000000000FFFF0000"  # ::ffff:a.b.c.d as /proc/net/tcp6 shows it


def busy_pod_subnets(tables: tuple[str, ...] = _TABLES) -> set[int]:
    """The /24s of 127.244.0.0/16 where some socket is bound now (another cluster's pods)."""
    busy: set[int] = set()
    for table in tables:
        try:
            with open(table) as f:
                next(f, None)  # the header
                for line in f:
                    # "0100007F:1F90": the address in host (little-endian) order
                    local = line.split(None, 2)[1].split(":", 1)[0]
                    if len(local) == 32 and local.startswith(_V4_MAPPED):
                        local = local[24:]
                    addr = int(local, 16) if len(local) == 8 else 0
                    if addr & 0xFFFF == 0xF47F:  # 127.244.x.x
                        busy.add((addr >> 16) & 0xFF)
        except (OSError, IndexError, ValueError):
            continue
    return busy
