"""One pod on this node, from ContainerCreating to its removal.

A `PodRunner` owns the pod's IP, volumes and container processes. Its
lifecycle: set up volumes, run init containers one at a time to completion,
then supervise every container (restart policy, CrashLoopBackOff, probes)
until the pod is deleted or the agent stops. A sidecar (an init container
with `restartPolicy: Always`, upstream's native sidecar) takes its turn among
the init containers but only until it has started (its postStart hook done,
its startupProbe passed); it then runs beside the rest, probed, and is
restarted whenever it exits, whatever the pod's restartPolicy. Once every
regular container of a pod that does not restart them has ended (a Job's
pod), its sidecars are stopped, last declared first, and the regular
containers' ends alone decide the phase. Ephemeral containers (`kubectl
debug`) start once the pod's volumes are ready, whatever its init containers
do, and are never restarted, as upstream's kubelet runs them. Termination is
upstream's: preStop hook, SIGTERM, the grace period, SIGKILL — the sidecars'
SIGTERM only once the regular containers have exited, in reverse order of
declaration (`termination.TerminationOrder`). A pod deleted before its
runner set it up is only stopped: no IP, no volumes. Meanwhile
liveness and startup probing has ended, but readiness is probed until each
container stops, and a change is written at once, so endpoints see a pod that
stops serving while it shuts down. Then, for a deleted pod, its final status
(every container ended, never ready, a terminal phase) is written once, and
the object is removed with grace 0 — upstream's status manager deletes a pod
only once its API status shows the end. Otherwise status is written whenever
something changes, coalesced, through the status subresource.

A container whose image is missing is "pulled" as upstream's image manager
pulls (kubelite has no registry: the pull fails, ErrImagePull), and each
failure arms a back-off per image (10 s doubling to 5 min) during which the
container waits as ImagePullBackOff; an image built meanwhile is used at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubelite.apiserver.errors import ApiError, Conflict, NotFound
from kubelite.kubelet import checkpoint, criolog, probes, pullsecrets, termination
from kubelite.kubelet.backoff import Backoff, go_duration
from kubelite.kubelet.clock import parse_rfc3339, rfc3339
from kubelite.kubelet.dns import DNSWarning, write_pod_resolv_conf
from kubelite.kubelet.envvars import Sources, referenced_objects, skipped_keys_message
from kubelite.kubelet.etchosts import write_pod_hostname, write_pod_hosts
from kubelite.kubelet.events import NORMAL, WARNING, container_path
from kubelite.kubelet.images import Image
from kubelite.kubelet.prepare import (
    ERR_IMAGE_PULL,
    IMAGE_PULL_BACK_OFF,
    Context,
    PrepareError,
    build_spec,
    container_id,
    pod_hostname,
    pull_error,
    resolve_image,
)
from kubelite.kubelet.process import Exit, StartError
from kubelite.kubelet.runtime import ContainerProcess
from kubelite.kubelet.startlane import Releaser
from kubelite.kubelet.status import (
    TERMINAL_PHASES,
    WAITING_INITIALIZING,
    ContainerRecord,
    final_phase,
    finish,
    mount_statuses,
    phase,
    pod_status,
    readiness_gates,
)
from kubelite.kubelet.termination import MIN_SHUTDOWN_S, TerminationOrder, is_sidecar
from kubelite.kubelet.volumes import PodVolumes, VolumeError

if TYPE_CHECKING:
    from kubelite.kubelet.agent import NodeAgent

log = logging.getLogger(__name__)
Obj = dict[str, Any]
CONFIG_RETRY_S = 2.0
IMAGE_BACKOFF_S = 10.0  # the kubelet's backOffPeriod for image pulls
IMAGE_BACKOFF_MAX_S = 300.0  # and its MaxContainerBackOff
STATUS_HOLD_S = 1.0  # longest a starting pod's first status write waits for the start


def pod_ref(pod: Obj) -> str:
    """Upstream's format.Pod: name_namespace(uid)."""
    md = pod["metadata"]
    return f"{md['name']}_{md.get('namespace', 'default')}({md.get('uid', '')})"


SERVICE_ACCOUNT_VOLUME_PREFIX = "kube-api-access-"
SERVICE_ACCOUNT_SYNC_S = 60.0


class PodRunner:
    def __init__(self, agent: NodeAgent, pod: Obj) -> None:
        self.agent = agent
        self.pod = pod
        md = pod["metadata"]
        self.uid: str = md["uid"]
        self.ns: str = md.get("namespace", "default")
        self.name: str = md["name"]
        self.dir = agent.pods_dir / f"{self.ns}_{self.name}_{self.uid}"
        spec = pod.get("spec") or {}
        self.inits = [
            ContainerRecord(
                c["name"],
                c.get("image", ""),
                init=True,
                sidecar=is_sidecar(c),
                volume_mounts=mount_statuses(c),
            )
            for c in spec.get("initContainers") or []
        ]
        self.containers = [
            ContainerRecord(c["name"], c.get("image", ""), volume_mounts=mount_statuses(c))
            for c in spec.get("containers") or []
        ]
        self.ephemerals = [
            ContainerRecord(
                c["name"], c.get("image", ""), ephemeral=True, volume_mounts=mount_statuses(c)
            )
            for c in spec.get("ephemeralContainers") or []
        ]
        self._ephemeral_runs: dict[str, asyncio.Task[None]] = {}
        self._sandbox = asyncio.Event()  # set once its IP and volumes are ready
        if self.inits:
            for rec in self.containers:
                rec.waiting(WAITING_INITIALIZING)
        self.procs: dict[str, ContainerProcess] = {}
        # Containers found running (or ended) when kubelite restarted: re-attached, not started.
        self.adopted: dict[str, ContainerProcess] = {}
        # Containers whose instance had ended (or was backing off) when kubelite
        # restarted: their next start is a restart, as after any other end.
        self._ended_before: set[str] = set()
        self._checkpointed: tuple[object, ...] | None = None  # what the checkpoint holds
        self.restored_ip = ""
        self.volumes = PodVolumes(
            self.dir,
            allocatable=agent.allocatable,
            tokens=lambda ns, sa, request: agent.client.create_token(ns, sa, request),
            shm=agent.private_dev_error is None,
        )
        self._dev_warned: set[str] = set()  # containers told their message is not collected
        self.ip = ""
        self.sandbox_ready = False
        self.phase_override: str | None = None
        self.evicted = False  # the eviction manager ended it: Failed, left in the API
        self.status_reason: tuple[str, str] = ("", "")  # status.reason and .message
        self.start_time = rfc3339(agent.clock.wall())
        self.terminating = asyncio.Event()
        self.deleted = False  # the API object is gone already
        self.grace: float | None = None
        self._dirty = asyncio.Event()
        self._updated = asyncio.Event()  # set by each update of the API object
        self._progress = asyncio.Event()  # set by every mark(): what `_until_started` waits on
        self._settled = asyncio.Event()
        self.order = agent.next_order()  # the lane serves pods in the order they came
        self._lane: Releaser | None = None  # held from set-up to the first spawn request
        self._liveness_killed: set[str] = set()
        # Upstream's image back-off, per pod and image: 10 s doubling to 5 min.
        self._image_backoff = Backoff(IMAGE_BACKOFF_S, IMAGE_BACKOFF_MAX_S)
        # Readiness probe loops, one per running container: owned here, not by the
        # container's supervision, as they outlive it while the pod terminates.
        self._readiness: dict[str, asyncio.Task[None]] = {}

    # ---- called by the agent ---------------------------------------------------

    def update(self, pod: Obj) -> None:
        gates_before = _gate_conditions(self.pod)
        self.pod = pod
        self._updated.set()
        if _gate_conditions(pod) != gates_before and self.sandbox_ready:
            # A controller set a readiness gate's condition: Ready is the kubelet's
            # to recompute, as upstream's status manager does on the pod's update.
            self.mark()
        if pod["metadata"].get("deletionTimestamp"):
            self.request_termination(pod["metadata"].get("deletionGracePeriodSeconds"))
        elif not self.terminating.is_set():
            self._start_ephemerals()

    def request_termination(self, grace: float | None = None, *, deleted: bool = False) -> None:
        self.deleted = self.deleted or deleted
        if grace is not None:
            self.grace = float(grace) if self.grace is None else min(self.grace, float(grace))
        self.terminating.set()

    def record(self, name: str) -> ContainerRecord | None:
        return next(
            (r for r in self.inits + self.containers + self.ephemerals if r.name == name), None
        )

    def restore(self, saved: Obj, adopted: dict[str, ContainerProcess]) -> None:
        """Take up a pod a previous kubelite ran: its IP, start time and container records."""
        self.restored_ip = saved.get("podIP", "")
        self.start_time = saved.get("startTime") or self.start_time
        for entry in saved.get("containers") or []:
            rec = self.record(entry.get("name", ""))
            if rec is not None:
                checkpoint.restore_record(rec, entry)
                if not rec.ephemeral and rec.name not in adopted and _instance_ended(rec):
                    self._ended_before.add(rec.name)
        self.adopted = adopted
        if adopted:
            self._settled.set()

    def save(self) -> None:
        """The checkpoint a restarted kubelite re-adopts this pod from."""
        entries = []
        for rec in self.inits + self.containers + self.ephemerals:
            proc = self.procs.get(rec.name)
            pid, started = (proc.pid, proc.start_time) if proc is not None else (None, None)
            entries.append(checkpoint.container_entry(rec, pid, started))
        self._checkpointed = self._checkpoint_key()
        data = {
            "uid": self.uid,
            "namespace": self.ns,
            "name": self.name,
            "podIP": self.ip,
            "startTime": self.start_time,
            "containers": entries,
        }
        try:
            checkpoint.save(self.dir, data)
        except OSError as exc:
            log.warning("checkpoint of pod %s/%s not written: %s", self.ns, self.name, exc)

    def _checkpoint_key(self) -> tuple[object, ...]:
        """What of the pod a restarted kubelite must get back (its IP, each
        container's instance, restart count and state), cheap to compare.
        Readiness is not in it: a probe's flip is no reason to write the file."""
        return (
            self.ip,
            *(
                (
                    r.name,
                    r.container_id,
                    r.restart_count,
                    tuple(r.state),
                    (r.state.get("waiting") or {}).get("reason"),
                    tuple(r.last_state),
                )
                for r in self.inits + self.containers + self.ephemerals
            ),
        )

    # ---- lifecycle ---------------------------------------------------------------

    async def run(self, *, shutdown: asyncio.Event) -> None:
        self.agent.lane.settling(self.uid)  # until the first status write
        try:
            async with asyncio.TaskGroup() as tg:
                status_task = tg.create_task(self._status_loop())
                # Deleted before it was set up (or a deleted pod seen again after its
                # runner ended): nothing to set up, only to stop — upstream's kubelet
                # mounts no volumes for a terminating pod, so no FailedMount either.
                life = None if self.terminating.is_set() else tg.create_task(self._lifecycle())
                deadline = tg.create_task(self._active_deadline())
                stop = tg.create_task(self._wait_stop(shutdown))
                await stop
                deadline.cancel()
                if life is not None:
                    life.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await life
                await self._stop_ephemeral_runs()
                from_shutdown = shutdown.is_set() and not self.terminating.is_set()
                if not from_shutdown:
                    # A deleted pod's status is written once, when its containers
                    # have stopped, not once per container as each stops.
                    status_task.cancel()
                await self._terminate(from_shutdown=from_shutdown)
                status_task.cancel()
        except Exception as exc:
            # A worker that failed says so, and leaves no mounts behind.
            self.volumes.teardown()
            with contextlib.suppress(Exception):
                await self.event(WARNING, "FailedSync", f"error syncing pod: {_first(exc)}")
            raise
        finally:
            await self._stop_readiness_probes()
            self.agent.lane.settled(self.uid)

    async def _active_deadline(self) -> None:
        """Upstream's activeDeadlineHandler: a pod still active `activeDeadlineSeconds`
        after its start time is failed with reason DeadlineExceeded and its containers
        stopped (the API object stays). The field may be set or lowered later."""
        clock = self.agent.clock
        start = parse_rfc3339(self.start_time)
        while not self.terminating.is_set():
            self._updated.clear()
            seconds = (self.pod.get("spec") or {}).get("activeDeadlineSeconds")
            remaining = None if seconds is None else start + float(seconds) - clock.wall()
            if remaining is not None and remaining <= 0:
                await self._deadline_exceeded()
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._updated.wait(), remaining)

    async def _deadline_exceeded(self) -> None:
        policy = (self.pod.get("spec") or {}).get("restartPolicy", "Always")
        if phase(policy, self.inits, self.containers) in TERMINAL_PHASES:
            return  # it ended in time: the kubelet syncs a finished pod no more
        message = "Pod was active on the node longer than the specified deadline"
        log.info("pod %s/%s: %s", self.ns, self.name, message)
        self.evicted = True  # failed here, left in the API for its owner to see
        self.phase_override = "Failed"
        self.status_reason = (DEADLINE_EXCEEDED, message)
        await self.event(NORMAL, DEADLINE_EXCEEDED, message)
        self.request_termination()

    async def _wait_stop(self, shutdown: asyncio.Event) -> None:
        t1 = asyncio.ensure_future(self.terminating.wait())
        t2 = asyncio.ensure_future(shutdown.wait())
        try:
            await asyncio.wait({t1, t2}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            t1.cancel()
            t2.cancel()

    async def _lifecycle(self) -> None:
        # Set-up through the first spawn request runs in the node's start lane.
        self._lane = await self.agent.lane.take(self.order)
        try:
            await self._set_up_and_run()
        finally:
            self._let_go()

    def _let_go(self) -> None:
        release, self._lane = self._lane, None
        if release is not None:
            release()

    async def _set_up_and_run(self) -> None:
        if (self.pod.get("spec") or {}).get("hostNetwork"):
            # Upstream's pod IPs of a host-network pod: the node's own.
            self.ip = self.agent.host_ip
        else:
            if self.restored_ip:
                self.agent.ipam.reserve(self.uid, self.restored_ip)
            self.ip = self.agent.ipam.allocate(self.uid)
        if self.adopted and self.agent.isolate:
            # Re-attached containers read these files in place: bring them up to date
            # (the cluster DNS address may not be the previous kubelite's).
            for w in self._pod_files()[1]:
                await self.event(WARNING, w.reason, w.message)
        self.mark()
        await self._setup_volumes()
        await self._check_pull_secrets()
        self.sandbox_ready = True
        self._sandbox.set()
        self.mark()
        spec = self.pod.get("spec") or {}
        sidecars: dict[str, asyncio.Task[None]] = {}
        async with asyncio.TaskGroup() as tg:
            if await self._initialize(spec, tg, sidecars):
                for rec in self.containers:
                    if rec.name not in self.adopted and rec.name not in self._ended_before:
                        rec.waiting("ContainerCreating")
                self.mark()
                tg.create_task(self._refresh_volumes())
                await asyncio.gather(
                    *(tg.create_task(self._supervise(c)) for c in spec.get("containers") or [])
                )
            # Every regular container has ended for good (or an init container failed
            # in a pod that does not restart it): the sidecars go too, as upstream's
            # KillPod for a pod with nothing left to keep running.
            await self._stop_sidecars(sidecars)

    async def _initialize(
        self, spec: Obj, tg: asyncio.TaskGroup, sidecars: dict[str, asyncio.Task[None]]
    ) -> bool:
        """Run the init containers in order; False when one failed for good.

        A sidecar is started, and the next init container waits only until it
        has started; it then runs on (restarted on exit) under `sidecars`. A pod
        that got past its init containers before kubelite restarted (a regular
        container that ever left waiting) only gets its sidecars back, waiting for
        none, as upstream's computeInitContainerActions.
        """
        initialized = any("waiting" not in r.state or r.last_state for r in self.containers)
        for c in spec.get("initContainers") or []:
            rec = self.record(c["name"])
            assert rec is not None
            if rec.sidecar:
                sidecars[rec.name] = tg.create_task(self._run_sidecar(c, rec))
                if not initialized:
                    await self._until_started(rec)
            elif not initialized and not await self._run_init(c):
                return False
        return True

    async def _until_started(self, rec: ContainerRecord) -> None:
        """Until the container has started; re-checked whenever something is marked."""
        while not rec.started:
            self._progress.clear()
            await self._progress.wait()

    async def _check_pull_secrets(self) -> None:
        """The kubelet's getPullSecretsForPod, after the volumes: warn of missing ones."""
        missing = await pullsecrets.missing_pull_secrets(self.pod, self.agent.lookup)
        if missing:
            await self.event(WARNING, pullsecrets.REASON, pullsecrets.warning_message(missing))

    async def _setup_volumes(self) -> None:
        while True:
            try:
                if self._lane is None:
                    self._lane = await self.agent.lane.take(self.order)
                await self.volumes.setup(
                    self.pod, self.agent.lookup, pod_ip=self.ip, host_ip=self.agent.host_ip
                )
                return
            except VolumeError as exc:
                self._let_go()
                if self.terminating.is_set():
                    # Deleted meanwhile (a token for a pod that is gone): nothing to
                    # report. Termination cancels the lifecycle: wait for that.
                    await asyncio.Event().wait()
                self.mark(settled=True)
                await self.event(WARNING, "FailedMount", str(exc))
                await self.agent.clock.sleep(CONFIG_RETRY_S * 2)

    async def _refresh_volumes(self) -> None:
        """Keep configMap/secret volumes current (the kubelet's periodic sync)."""
        refreshed = [
            v
            for v in (self.pod.get("spec") or {}).get("volumes") or []
            if any(k in v for k in ("configMap", "secret", "projected", "downwardAPI"))
        ]
        if not refreshed:
            return
        # The service-account volume every pod gets changes only when its token
        # nears expiry (80 % of an hour): a minute is plenty, and keeps 100 idle
        # pods from re-reading it every second.
        period = self.agent.volume_sync_s
        if all(v["name"].startswith(SERVICE_ACCOUNT_VOLUME_PREFIX) for v in refreshed):
            period = max(period, SERVICE_ACCOUNT_SYNC_S)
        while True:
            await self.agent.clock.sleep(period)
            await self.volumes.refresh(
                self.pod, self.agent.lookup, pod_ip=self.ip, host_ip=self.agent.host_ip
            )

    def _start_ephemerals(self) -> None:
        """Run each ephemeral container the pod gained (the API only ever adds them);
        none in a pod that has finished, as upstream's kubelet."""
        if (self.pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return
        for c in (self.pod.get("spec") or {}).get("ephemeralContainers") or []:
            name = c["name"]
            if name in self._ephemeral_runs:
                continue
            if self.record(name) is None:
                self.ephemerals.append(
                    ContainerRecord(
                        name, c.get("image", ""), ephemeral=True, volume_mounts=mount_statuses(c)
                    )
                )
                self.mark()
            self._ephemeral_runs[name] = asyncio.get_running_loop().create_task(
                self._run_ephemeral(c)
            )

    async def _run_ephemeral(self, c: Obj) -> None:
        rec = self.record(c["name"])
        assert rec is not None
        if rec.terminated is not None and rec.name not in self.adopted:
            return  # it ran, and ended, before kubelite restarted: never run again
        await self._sandbox.wait()
        await self._start_and_wait(c, rec)
        self.mark()

    async def _stop_ephemeral_runs(self) -> None:
        """Before termination stops the containers: their processes stay for it to stop."""
        runs = list(self._ephemeral_runs.values())
        for run in runs:
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)

    async def _run_init(self, c: Obj) -> bool:
        rec = self.record(c["name"])
        assert rec is not None
        policy = (self.pod.get("spec") or {}).get("restartPolicy", "Always")
        if rec.name not in self.adopted and (rec.terminated or {}).get("exitCode") == 0:
            return True  # completed before kubelite restarted
        while True:
            exit_ = await self._start_and_wait(c, rec)
            if exit_ is not None and exit_.code == 0:
                return True
            if policy == "Never":
                self.mark()
                return False
            await self._before_restart(c, rec)

    async def _supervise(self, c: Obj) -> None:
        rec = self.record(c["name"])
        assert rec is not None
        policy = (self.pod.get("spec") or {}).get("restartPolicy", "Always")
        while True:
            exit_ = await self._start_and_wait(c, rec)
            failed = exit_ is None or exit_.code != 0
            if policy == "Never" or (policy == "OnFailure" and not failed):
                self.mark()
                return
            await self._before_restart(c, rec)

    async def _run_sidecar(self, c: Obj, rec: ContainerRecord) -> None:
        """A sidecar: restarted (with CrashLoopBackOff) whenever it exits, whatever the
        pod's restartPolicy, until the pod stops it (`_stop_sidecars`, `_terminate`)."""
        while True:
            await self._start_and_wait(c, rec)
            await self._before_restart(c, rec)

    async def _stop_sidecars(self, tasks: dict[str, asyncio.Task[None]]) -> None:
        """Stop the sidecars of a pod whose regular containers are done, in upstream's
        order (the last declared first), within the pod's grace period.

        As `_terminate` does: their supervision ends first (no restart comes), then
        what runs is stopped and recorded here.
        """
        if not tasks:
            return
        for task in tasks.values():
            task.cancel()
        await asyncio.gather(*tasks.values(), return_exceptions=True)
        for name in tasks:
            if name in self.adopted:  # re-attached, its supervision not yet begun
                self.procs[name] = self.adopted.pop(name)
        procs = {n: p for n, p in self.procs.items() if n in tasks}
        order = TerminationOrder(self.pod, [n for n, p in procs.items() if not p.exited])
        grace = self._grace()

        async def stop(name: str, proc: ContainerProcess) -> None:
            rec = self.record(name)
            assert rec is not None
            if not proc.exited:
                await self.event(NORMAL, "Killing", f"Stopping container {name}", name)
            await self._stop_and_record(self._container_spec(name), rec, proc, grace, order)
            self.procs.pop(name, None)

        await asyncio.gather(*(stop(n, p) for n, p in procs.items()))
        self.save()
        self.mark()

    async def _before_restart(self, c: Obj, rec: ContainerRecord) -> None:
        """CrashLoopBackOff wait before the next start, as upstream's doBackOff."""
        key = f"{self.uid}/{rec.name}"
        terminated = rec.state.get("terminated") or {}
        finished = terminated.get("_finished", self.agent.clock.monotonic())
        rec.last_state = {"terminated": _public(terminated)} if terminated else rec.last_state
        backoff = self.agent.backoff
        remaining = backoff.remaining(key, finished_at=finished, now=self.agent.clock.monotonic())
        if remaining > 0:
            delay = go_duration(backoff.current(key))
            rec.waiting(
                "CrashLoopBackOff",
                f"back-off {delay} restarting failed container={rec.name} pod={pod_ref(self.pod)}",
            )
            self.mark()
            await self.event(
                WARNING,
                "BackOff",
                f"Back-off restarting failed container {rec.name} in pod {pod_ref(self.pod)}",
                rec.name,
            )
            await self.agent.clock.sleep(remaining)
        backoff.restarted(key, self.agent.clock.monotonic())
        rec.restart_count += 1

    async def _start_and_wait(self, c: Obj, rec: ContainerRecord) -> Exit | None:
        """One container instance; None when it could not start."""
        if rec.name in self._ended_before:
            # Ended before kubelite restarted: that end, once more, decides what follows.
            self._ended_before.discard(rec.name)
            self._let_go()
            ended = rec.terminated or rec.last_state.get("terminated") or {}
            return Exit(int(ended.get("exitCode", 1)))
        proc = self.adopted.pop(rec.name, None)
        if proc is not None:
            self._let_go()  # re-attached: nothing to start
            self.procs[rec.name] = proc
        else:
            proc = await self._start(c, rec)
        if proc is None:
            return None
        kinds = _probe_kinds(c, rec)
        if "readinessProbe" in kinds:
            self._readiness[rec.name] = asyncio.get_running_loop().create_task(
                self._probe_loop(c, rec, proc, "readinessProbe")
            )
        try:
            async with asyncio.TaskGroup() as tg:
                tasks = [
                    tg.create_task(self._probe_loop(c, rec, proc, kind))
                    for kind in kinds
                    if kind != "readinessProbe"
                ]
                exit_ = await proc.wait()
                for task in tasks:
                    task.cancel()
        finally:
            # A terminating pod's readiness is probed until its container stops, as
            # upstream's; liveness and startup probing end as termination starts.
            if not (self.terminating.is_set() and not proc.exited):
                await self._stop_readiness_probes(rec.name)
        self._finish(rec, exit_)
        self.procs.pop(rec.name, None)
        self.save()
        proc.release()
        if exit_.message.startswith(PIDS_PREFIX):
            await self.event(WARNING, "PidsLimitReached", exit_.message, rec.name)
        return exit_

    async def _start(self, c: Obj, rec: ContainerRecord) -> ContainerProcess | None:
        while True:
            # The lane the pod took for its set-up, or a fresh turn (restarts, more containers).
            release, self._lane = self._lane, None
            if release is None:
                release = await self.agent.lane.take(self.order)
            try:
                return await self._start_once(c, rec, release)
            except PrepareError as exc:
                failure = exc
            finally:
                release()
            rec.waiting(failure.reason, failure.message)
            self.mark(settled=True)
            for type_, reason, message in _failure_events(failure):
                await self.event(type_, reason, message, rec.name)
            await self._retry_wait(c, failure)

    async def _ensure_image(self, c: Obj, rec: ContainerRecord) -> Image:
        """Upstream's EnsureImageExists: an image present is used whatever the
        back-off; a missing one is "pulled" (kubelite has no registry, so the pull
        fails: Pulling, then Failed with why), and each failure arms the pod's
        back-off for the image (10 s doubling to 5 min); until it runs out the
        answer is ImagePullBackOff, without a pull."""
        try:
            return resolve_image(self.agent.images, c)
        except PrepareError as exc:
            if exc.reason != ERR_IMAGE_PULL:
                raise
            failure = exc
        image = c.get("image", "")
        backoff = self._image_backoff
        if backoff.since_update(image, self.agent.clock.monotonic()) > 0:
            raise PrepareError(IMAGE_PULL_BACK_OFF, f'Back-off pulling image "{image}"')
        await self.event(NORMAL, "Pulling", f'Pulling image "{image}"', rec.name)
        await self.event(
            WARNING, "Failed", f'Failed to pull image "{image}": {pull_error(image)}', rec.name
        )
        backoff.restarted(image, self.agent.clock.monotonic())
        raise failure

    async def _retry_wait(self, c: Obj, failure: PrepareError) -> None:
        """Until the next try at starting the container: CONFIG_RETRY_S, or for an
        image in back-off until the back-off runs out or the image is built."""
        if failure.reason != IMAGE_PULL_BACK_OFF:
            await self.agent.clock.sleep(CONFIG_RETRY_S)
            return
        image = c.get("image", "")
        while (left := self._image_backoff.since_update(image, self.agent.clock.monotonic())) > 0:
            await self.agent.clock.sleep(min(left, CONFIG_RETRY_S))
            with contextlib.suppress(PrepareError):
                resolve_image(self.agent.images, c)
                return  # built meanwhile: present images need no pull

    async def _start_once(
        self, c: Obj, rec: ContainerRecord, sent: Callable[[], None]
    ) -> ContainerProcess | None:
        """Prepare and spawn; the lane is let go once the spawn request is out."""
        image = await self._ensure_image(c, rec)
        rec.image_id = image.image_id
        cid = container_id(self.uid, rec.name, rec.restart_count)
        ctx = await self._context(c, rec, cid)
        spec = build_spec(ctx, c, image, self._log_path(rec.name, rec.restart_count))
        for kind, name, keys in ctx.sources.skipped:
            message = skipped_keys_message(kind, name, self.ns, keys)
            await self.event(WARNING, "InvalidEnvironmentVariableNames", message)
        await self.event(
            NORMAL,
            "Pulled",
            f'Container image "{c.get("image")}" already present on machine',
            rec.name,
        )
        rec.container_id = cid
        await self.event(NORMAL, "Created", f"Created container: {rec.name}", rec.name)
        self._prune_logs(rec)
        placement = self.agent.cgroups_prepare(self, c)
        spec.cgroup_ops, spec.cgroup_procs = placement.ops, placement.procs
        try:
            proc = await self.agent.runtime.start(rec.container_id, spec, sent)
        except StartError as exc:
            sent()
            now = self.agent.clock.wall()
            rec.state = {
                "terminated": {
                    "exitCode": 128,
                    "reason": "StartError",
                    "message": str(exc),
                    "startedAt": "1970-01-01T00:00:00Z",
                    "finishedAt": rfc3339(now),
                    "containerID": rec.container_id,
                    "_finished": self.agent.clock.monotonic(),
                }
            }
            rec.ready = rec.started = False
            self.mark(settled=True)
            await self.event(WARNING, "Failed", f"Error: {exc}", rec.name)
            return None
        self.procs[rec.name] = proc
        if spec.cgroup_procs and not os.path.exists(spec.cgroup_procs[0]):
            log.warning(
                "cgroups for container %s of pod %s/%s not made: limits not enforced",
                rec.name,
                self.ns,
                self.name,
            )
        started_at = rfc3339(self.agent.clock.wall())
        hook = (c.get("lifecycle") or {}).get("postStart")
        if hook:
            # Running only once its postStart hook returns, as upstream reports it.
            self.save()  # its process, should kubelite stop meanwhile
            await self.event(NORMAL, "Started", f"Started container {rec.name}", rec.name)
            if not await self._post_start(c, rec, proc, hook):
                return proc  # killed: its exit is reported, and restarted per the policy
        self._now_running(c, rec, started_at)
        if not hook:
            await self.event(NORMAL, "Started", f"Started container {rec.name}", rec.name)
        return proc

    def _now_running(self, c: Obj, rec: ContainerRecord, started_at: str) -> None:
        """The container runs (its postStart hook done): started unless a startupProbe
        is to say so, and ready as upstream's prober manager reports it — a running
        regular init container is not (it is once it exits 0:
        `ContainerRecord.completed_init`), a sidecar is as a regular container is,
        an ephemeral container never is."""
        rec.state = {"running": {"startedAt": started_at}}
        rec.started = "startupProbe" not in c
        regular_init = rec.init and not rec.sidecar
        rec.ready = (
            rec.started and "readinessProbe" not in c and not (regular_init or rec.ephemeral)
        )
        self.save()
        self.mark(settled=True)

    async def _post_start(
        self, c: Obj, rec: ContainerRecord, proc: ContainerProcess, hook: Obj
    ) -> bool:
        """Run the postStart hook; on failure kill the container as upstream's kubelet
        does (the event does not carry the hook's output: it may hold secrets)."""
        self.mark(settled=True)  # ContainerCreating while the hook runs
        failure = await self._run_handler(c, proc, hook)
        if not failure or proc.exited:
            return not failure
        log.info("pod %s/%s: PostStartHook of %s failed: %s", self.ns, self.name, rec.name, failure)
        await self.event(WARNING, "FailedPostStartHook", "PostStartHook failed", rec.name)
        await self.event(NORMAL, "Killing", "FailedPostStartHook", rec.name)
        await self._stop_container(c, rec, proc, self._grace())
        return False

    def _finish(self, rec: ContainerRecord, exit_: Exit) -> None:
        now = self.agent.clock.wall()
        started = (rec.state.get("running") or {}).get("startedAt") or rfc3339(now)
        oom = self.agent.cgroups_oom(self, rec.name, exit_)
        reason = "OOMKilled" if oom else "Completed" if exit_.code == 0 else "Error"
        pids = self.agent.cgroups_pids_limit(self, rec.name)
        if pids is not None and not exit_.message:
            exit_.message = pids_message(pids)
        message = exit_.message
        written = "" if exit_.reason else self._termination_message(rec, exit_)
        if written:  # after the runtime's own message, as upstream joins them
            message = f"{message}: {written}" if message else written
        terminated: Obj = {
            "exitCode": exit_.code,
            "reason": exit_.reason or reason,
            **({"message": message} if message else {}),
            "startedAt": started,
            "finishedAt": rfc3339(now),
            "containerID": rec.container_id,
            "_finished": self.agent.clock.monotonic(),
        }
        rec.state = {"terminated": terminated}
        rec.ready = False
        rec.started = False
        self.mark()

    def _termination_message(self, rec: ContainerRecord, exit_: Exit) -> str:
        """What the ended instance left in its termination-message file, or its log."""
        c = self._container_spec(rec.name)
        bound = self.agent.private_dev_error is None and termination.message_path(c)
        return termination.read_message(
            termination.host_file(self.dir, rec.name, rec.container_id) if bound else None,
            self._log_path(rec.name, rec.restart_count),
            fallback=exit_.code != 0
            and c.get("terminationMessagePolicy") == termination.FALLBACK_TO_LOGS,
        )

    async def _termination_log(self, c: Obj, rec: ContainerRecord, cid: str) -> Path | None:
        """The host file bound at the container's terminationMessagePath, if any."""
        if not termination.message_path(c):
            return None
        problem = self.agent.private_dev_error
        if problem is None:
            if rec.restart_count > 0:
                termination.prune(self.dir, rec.name)
            return termination.host_file(self.dir, rec.name, cid)  # made by the container's child
        if rec.name not in self._dev_warned:
            self._dev_warned.add(rec.name)
            await self.event(
                WARNING,
                "TerminationMessageNotCollected",
                f"Termination message of container {rec.name} is not collected: {problem}; "
                "the container sees the host's /dev",
                rec.name,
            )
        return None

    async def _context(self, c: Obj, rec: ContainerRecord, cid: str) -> Context:
        cms, secrets = referenced_objects(c)
        sources = Sources(
            configmaps={n: await self.agent.lookup("ConfigMap", self.ns, n) for n in cms},
            secrets={n: await self.agent.lookup("Secret", self.ns, n) for n in secrets},
            node_allocatable=self.agent.allocatable,
            services=await self.agent.services.env_for(self.pod),
        )
        resolv = hosts = hostname = None
        if self.agent.isolate:  # without a mount namespace there is nowhere to bind them
            resolv, warnings, hosts = self._pod_files()
            for w in warnings:
                await self.event(WARNING, w.reason, w.message)
            hostname = write_pod_hostname(self.pod, self.dir, pod_hostname(self.pod))
        return Context(
            pod=self.pod,
            pod_dir=self.dir,
            pod_ip=self.ip,
            host_ip=self.agent.host_ip,
            volumes=self.volumes.paths,
            sources=sources,
            data_dir=self.agent.data_dir,
            isolate=self.agent.isolate,
            resolv_conf=resolv,
            hosts=hosts,
            hostname=hostname,
            shm=self.volumes.shm,
            termination_log=await self._termination_log(c, rec, cid),
        )

    def _pod_files(self) -> tuple[Path, list[DNSWarning], Path]:
        """The pod's resolv.conf and hosts file as they should read now (written
        only when they do not), and the DNS warnings of a written resolv.conf."""
        resolv, warnings = write_pod_resolv_conf(self.pod, self.dir, self.agent.dns)
        hosts = write_pod_hosts(
            self.pod, self.dir, self.ip, pod_hostname(self.pod), self.agent.dns.cluster_domain
        )
        return resolv, warnings, hosts

    # ---- logs --------------------------------------------------------------------

    def _log_path(self, name: str, restart: int) -> Any:
        return self.dir / "logs" / name / f"{restart}.log"

    def log_path(self, name: str, *, previous: bool) -> Any:
        """The log of the container's current instance, or of the one before it."""
        rec = self.record(name)
        if rec is None:
            return None
        restart = rec.restart_count - 1 if previous else rec.restart_count
        if restart < 0:
            return None
        return self._log_path(name, restart)

    def instance_log(self, name: str, instance: int) -> Path:
        """The log of the container's run under restart count `instance`."""
        return Path(self._log_path(name, instance))

    def _prune_logs(self, rec: ContainerRecord) -> None:
        """Keep the current and the previous instance's logs, as the kubelet does."""
        for old in range(rec.restart_count - 2, -1, -1):
            path = self._log_path(rec.name, old)
            if not path.exists() and not criolog.rotated(path):
                break
            for f in criolog.files(path):
                f.unlink(missing_ok=True)

    # ---- probes ------------------------------------------------------------------

    async def _probe_loop(
        self, c: Obj, rec: ContainerRecord, proc: ContainerProcess, kind: str
    ) -> None:
        probe = c[kind]
        timing = probes.Timing.of(probe)
        initial = {"readinessProbe": False, "livenessProbe": True, "startupProbe": None}[kind]
        result = probes.ProbeResult(timing, initial)
        clock = self.agent.clock
        if kind != "startupProbe":
            while "startupProbe" in c and not rec.started:
                await clock.sleep(0.05)
        await clock.sleep(timing.initial_delay)
        label = {
            "readinessProbe": "Readiness",
            "livenessProbe": "Liveness",
            "startupProbe": "Startup",
        }[kind]
        while not proc.exited:
            try:
                outcome, message = await probes.run_probe(
                    probe, c, self.ip, self._exec_runner(proc)
                )
            except probes.ProbeError as exc:
                # Upstream's prober records the error and throws the result away:
                # the container keeps its last readiness, liveness or start.
                if not proc.exited:
                    text = f"{label} probe errored and resulted in unknown state: {exc}"
                    await self.event(WARNING, "Unhealthy", text, rec.name)
                await clock.sleep(_on_grid(clock.monotonic(), timing.period))
                continue
            ok = outcome != probes.FAILURE
            if not proc.exited and outcome != probes.SUCCESS:
                reason, what = ("Unhealthy", "failed") if not ok else ("ProbeWarning", "warning")
                text = f"{label} probe {what}: {message}".rstrip()
                await self.event(WARNING, reason, text, rec.name)
            if result.observe(ok) or kind == "readinessProbe":
                await self._probe_changed(c, rec, proc, kind, result, ok)
                if kind == "startupProbe" and result.value:
                    return
            await clock.sleep(_on_grid(clock.monotonic(), timing.period))

    async def _probe_changed(
        self,
        c: Obj,
        rec: ContainerRecord,
        proc: ContainerProcess,
        kind: str,
        result: probes.ProbeResult,
        ok: bool,
    ) -> None:
        if kind == "readinessProbe":
            if rec.ready != bool(result.value) and rec.running:
                rec.ready = bool(result.value)
                if self.terminating.is_set():
                    # The status loop ended with the deletion: write this change alone,
                    # so endpoints stop serving a pod that is shutting down.
                    await self._write_status()
                else:
                    self.mark()
            return
        if kind == "startupProbe" and result.value:
            rec.started = True
            rec.ready = "readinessProbe" not in c
            self.mark()
            return
        if result.value is False:
            label = "liveness" if kind == "livenessProbe" else "startup"
            message = f"Container {rec.name} failed {label} probe, will be restarted"
            if rec.sidecar:  # upstream's wording for a restartable init container
                message = f"Init container {rec.name} failed {label} probe"
            await self.event(NORMAL, "Killing", message, rec.name)
            # Upstream's killContainer: a liveness or startup probe's own grace
            # period, when it has one, in place of the pod's.
            grace = c[kind].get("terminationGracePeriodSeconds")
            await self._stop_container(c, rec, proc, self._grace() if grace is None else grace)

    async def _stop_readiness_probes(self, name: str | None = None) -> None:
        """End container `name`'s readiness probing, or every container's."""
        names = [name] if name is not None else list(self._readiness)
        tasks = [t for n in names if (t := self._readiness.pop(n, None)) is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _exec_runner(self, proc: ContainerProcess) -> probes.ExecRunner:
        async def run(command: list[str], timeout: float) -> tuple[int | None, bytes]:
            where = self._workdir_of(proc)
            return await self.agent.exec_in(proc, command, timeout, where, self._network_ip())

        return run

    def _network_ip(self) -> str:
        """The pod IP its exec probes and hooks bind and connect from; empty for a
        hostNetwork pod, whose processes use the host's network as they ask."""
        return "" if (self.pod.get("spec") or {}).get("hostNetwork") else self.ip

    def _workdir_of(self, proc: ContainerProcess) -> tuple[str, str]:
        for name, p in self.procs.items():
            if p is proc:
                return self._where(name)
        return "", "/"

    def exec_target(self, name: str) -> tuple[ContainerProcess, str, str] | None:
        """Container `name` if it runs: its process, its root on the host, its working dir."""
        rec, proc = self.record(name), self.procs.get(name)
        if rec is None or proc is None or "running" not in rec.state:
            return None
        return (proc, *self._where(name))

    def _where(self, name: str) -> tuple[str, str]:
        """Where a command run in the container starts: its root and working dir, as the
        container's own process; without a filesystem view, the image directory's copy."""
        c = self._container_spec(name)
        try:
            image = resolve_image(self.agent.images, c)
        except PrepareError:
            return (str(self.dir / "root" / name), "/") if self.agent.isolate else ("", "/")
        workdir = c.get("workingDir") or image.run_config.get("WorkingDir") or "/"
        if self.agent.isolate:
            return str(self.dir / "root" / name), workdir
        return "", str(image.rootfs / workdir.lstrip("/"))

    def _container_spec(self, name: str) -> Obj:
        spec = self.pod.get("spec") or {}
        return next(
            (
                c
                for kind in ("initContainers", "containers", "ephemeralContainers")
                for c in spec.get(kind) or []
                if c.get("name") == name
            ),
            {},
        )

    # ---- termination -------------------------------------------------------------

    def _grace(self) -> float:
        spec = self.pod.get("spec") or {}
        default = float(spec.get("terminationGracePeriodSeconds", 30))
        return default if self.grace is None else self.grace

    async def _stop_container(
        self,
        c: Obj | None,
        rec: ContainerRecord,
        proc: ContainerProcess,
        grace: float,
        order: TerminationOrder | None = None,
    ) -> None:
        """preStop, SIGTERM, the grace period, SIGKILL; with an `order`, SIGTERM waits
        for the container's turn (a sidecar: after the containers it outlives)."""
        clock = self.agent.clock
        deadline = clock.monotonic() + grace
        try:
            hook = ((c or {}).get("lifecycle") or {}).get("preStop")
            if hook and not proc.exited and grace > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._pre_stop(c or {}, rec, proc, hook), timeout=grace)
            floor = 0.001
            if order is not None and order.waits(rec.name) and not proc.exited:
                await order.wait_turn(rec.name, deadline - clock.monotonic())
                floor = MIN_SHUTDOWN_S  # a late turn still gets upstream's short window
            proc.signal_group(signal.SIGTERM)
            remaining = max(0.0, deadline - clock.monotonic())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.wait(), timeout=max(remaining, floor))
            if not proc.exited:
                proc.signal_group(signal.SIGKILL)
                await proc.wait()
        finally:
            if order is not None:
                order.ended(rec.name)

    async def _pre_stop(
        self, c: Obj, rec: ContainerRecord, proc: ContainerProcess, hook: Obj
    ) -> None:
        failure = await self._run_handler(c, proc, hook)
        if failure:
            # As upstream: the event leaves out the hook's output (it may hold secrets).
            log.info(
                "pod %s/%s: PreStopHook of %s failed: %s", self.ns, self.name, rec.name, failure
            )
            await self.event(WARNING, "FailedPreStopHook", "PreStopHook failed", rec.name)

    async def _run_handler(self, c: Obj, proc: ContainerProcess, hook: Obj) -> str:
        """Run a lifecycle handler (exec, httpGet or sleep); what failed, or ""."""
        if "exec" in hook:
            command = list(hook["exec"].get("command") or [])
            where = self._workdir_of(proc)
            code, out = await self.agent.exec_in(proc, command, None, where, self._network_ip())
            if code != 0:
                output = out.decode(errors="replace")
                return f"command '{' '.join(command)}' exited with {code}: {output}"
        elif "httpGet" in hook:
            try:
                failure, fell_back = await probes.http_hook(hook["httpGet"], c, self.ip, 3600)
            except probes.ProbeError as exc:
                return str(exc)
            if fell_back:
                message = (
                    f"request to HTTPS lifecycle hook {fell_back} got HTTP response, "
                    "retry with HTTP succeeded"
                )
                await self.event(WARNING, "LifecycleHTTPFallback", message)
            return failure
        elif "sleep" in hook:
            await self.agent.clock.sleep(float(hook["sleep"].get("seconds") or 0))
        return ""

    async def _terminate(self, *, from_shutdown: bool) -> None:
        for name, proc in self.adopted.items():  # re-attached but not yet supervised
            self.procs.setdefault(name, proc)
        self.adopted.clear()
        grace = self._grace()
        specs = {c["name"]: c for c in (self.pod.get("spec") or {}).get("containers") or []}
        specs.update(
            {c["name"]: c for c in (self.pod.get("spec") or {}).get("initContainers") or []}
        )
        running = {n: p for n, p in self.procs.items() if self.record(n) and not p.exited}
        # Regular containers first, then the sidecars, the last declared first.
        order = TerminationOrder(self.pod, running)
        stops = []
        for name, proc in running.items():
            rec = self.record(name)
            assert rec is not None
            await self.event(NORMAL, "Killing", f"Stopping container {name}", name)
            stops.append(self._stop_and_record(specs.get(name), rec, proc, grace, order))
        await asyncio.gather(*stops)
        # Before the final status: a readiness write after it would undo its end.
        await self._stop_readiness_probes()
        if not from_shutdown:
            await self._write_status(final=True)  # the truth first, then the removal
        self.volumes.teardown()
        self.agent.cgroups_remove(self)
        checkpoint.remove(self.dir)  # stopped on purpose: nothing to re-adopt
        if from_shutdown:
            return
        self.agent.ipam.release(self.uid)
        if not self.deleted and not self.evicted:
            # Gone already (404), or a new pod of the same name (409): not ours to remove.
            with contextlib.suppress(NotFound, Conflict):
                await self.agent.client.delete(
                    "v1",
                    "Pod",
                    self.name,
                    self.ns,
                    grace_period_seconds=0,
                    preconditions={"uid": self.uid},
                )
        self.agent.recorder.forget(self.uid)
        self.agent.backoff.forget(self.uid + "/")
        shutil.rmtree(self.dir, ignore_errors=True)

    async def _stop_and_record(
        self,
        c: Obj | None,
        rec: ContainerRecord,
        proc: ContainerProcess,
        grace: float,
        order: TerminationOrder | None = None,
    ) -> None:
        await self._stop_container(c, rec, proc, grace, order)
        exit_ = await proc.wait()
        self._finish(rec, exit_)
        proc.release()

    # ---- status and events -------------------------------------------------------

    def mark(self, *, settled: bool = False) -> None:
        """Status changed; `settled` once the start has an outcome worth showing."""
        self._dirty.set()
        self._progress.set()
        if settled:
            self._settled.set()

    async def _status_loop(self) -> None:
        # While the pod starts, the steps on the way (IP, volumes, ContainerCreating)
        # are not written one by one: in a burst those writes would hold up every
        # pod's start. The first write waits for the start's outcome, or STATUS_HOLD_S.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._settled.wait(), STATUS_HOLD_S)
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            await self._write_status()
            self.agent.lane.settled(self.uid)
            await asyncio.sleep(0.01)

    async def _write_status(self, *, final: bool = False) -> None:
        """Write the pod's status; `final` once its containers have stopped for good."""
        if self.deleted:
            return
        if self.ip and not final and self._checkpoint_key() != self._checkpointed:
            # Nothing is published that a restarted kubelite would not get back
            # (a pod IP, a restart count, a container that never started).
            self.save()
        now = rfc3339(self.agent.clock.wall())

        def apply(pod: Obj) -> Obj:
            if pod["metadata"].get("uid") != self.uid:
                raise NotFound(f'pods "{self.name}" not found')
            phase = self.phase_override
            if final:
                settled = self._final_phase(pod)
                phase = phase or settled
            pod["status"] = pod_status(
                pod,
                self.inits,
                self.containers,
                pod_ip=self.ip,
                host_ip=self.agent.host_ip,
                start_time=self.start_time,
                now=now,
                sandbox_ready=self.sandbox_ready,
                phase_override=phase,
                ephemerals=self.ephemerals,
                reason=self.status_reason,
            )
            return pod

        try:
            await self.agent.client.mutate_only(
                "v1", "Pod", self.name, apply, self.ns, subresource="status"
            )
        except NotFound:
            self.deleted = True
        except ApiError as exc:
            log.debug("status of pod %s/%s not written: %s", self.ns, self.name, exc)
            self._dirty.set()

    def _final_phase(self, stored: Obj) -> str:
        """Settle the containers' final states; the phase the pod ends in (one it
        already ended in stays: a kubelite restarted meanwhile knows less than the API)."""
        status = stored.get("status") or {}
        finish(self.inits, self.containers, stored=status)
        if status.get("phase") in TERMINAL_PHASES:
            return str(status["phase"])
        policy = (stored.get("spec") or {}).get("restartPolicy", "Always")
        return final_phase(policy, self.inits, self.containers)

    async def evict(self, message: str) -> None:
        """Upstream's eviction manager evicting the pod: a Warning `Evicted` event,
        its containers stopped within `EVICTION_GRACE_S`, the pod left `Failed` with
        reason `Evicted` (not deleted: its controller replaces it)."""
        if self.terminating.is_set():
            return
        log.info("evicting pod %s/%s: %s", self.ns, self.name, message)
        self.evicted = True
        self.phase_override = "Failed"
        self.status_reason = (EVICTED, message)
        await self.event(WARNING, EVICTED, message)
        self.request_termination(EVICTION_GRACE_S)

    async def event(self, type_: str, reason: str, message: str, container: str = "") -> None:
        path = container_path(self.pod, container) if container else ""
        await self.agent.recorder.emit(self.pod, type_, reason, message, path)


PIDS_PREFIX = "the container reached its pids limit"
DEADLINE_EXCEEDED = "DeadlineExceeded"
EVICTED = "Evicted"
EVICTION_GRACE_S = 1.0  # upstream's immediateEvictionGracePeriodSeconds


def _gate_conditions(pod: Obj) -> list[tuple[str, str]]:
    """The statuses of the conditions the pod's readiness gates name, as stored."""
    gates = readiness_gates(pod)
    if not gates:  # most pods: every watch event of theirs passes here
        return []
    by_type = {
        c.get("type"): c.get("status") for c in (pod.get("status") or {}).get("conditions") or []
    }
    return [(gate, str(by_type.get(gate))) for gate in gates]


def _instance_ended(rec: ContainerRecord) -> bool:
    """A checkpointed container whose instance had ended: terminated, or waiting out
    its back-off (a CrashLoopBackOff follows an end)."""
    return (
        rec.terminated is not None
        or (rec.state.get("waiting") or {}).get("reason") == "CrashLoopBackOff"
    )


PROBE_GRID_S = 0.05


def _on_grid(now: float, period: float) -> float:
    """The wait until the first 50 ms mark at least `period` away: probes of many
    pods then fall due together and share the loop's wake-ups, which is most of
    what 100 idle pods probed every second cost."""
    due = now + period
    return math.ceil(due / PROBE_GRID_S) * PROBE_GRID_S - now


def pids_message(limit: int) -> str:
    return f"{PIDS_PREFIX} ({limit}): a fork failed with EAGAIN (resource temporarily unavailable)"


def _probe_kinds(c: Obj, rec: ContainerRecord) -> list[str]:
    if rec.init and not rec.sidecar:
        return []  # regular init containers have no probes (the API refuses them)
    return [k for k in ("startupProbe", "livenessProbe", "readinessProbe") if c.get(k)]


def _public(terminated: Obj) -> Obj:
    return {k: v for k, v in terminated.items() if not k.startswith("_")}


def _first(exc: BaseException) -> BaseException:
    """The first error inside task groups' exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _failure_events(exc: PrepareError) -> list[tuple[str, str, str]]:
    """The events of a container that could not be created, as upstream's
    kubelet records them: an image's failure with its own reason first, then
    `Failed` "Error: <reason>" (FailedToCreateContainer)."""
    if exc.reason == ERR_IMAGE_PULL:
        return [(WARNING, "Failed", f"Error: {exc.reason}")]  # the pull's Failed came first
    if exc.reason == IMAGE_PULL_BACK_OFF:
        return [(NORMAL, "BackOff", exc.message), (WARNING, "Failed", f"Error: {exc.reason}")]
    if exc.reason.startswith("ErrImage"):
        return [(WARNING, exc.reason, exc.message), (WARNING, "Failed", f"Error: {exc.reason}")]
    return [(WARNING, "Failed", f"Error: {exc.message}")]
