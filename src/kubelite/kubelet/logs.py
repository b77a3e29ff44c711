"""`pods/log`: the API server asks the node agent that runs the pod.

`NodeLogs.stream` checks the request at once (raising the API error upstream
returns, e.g. a container still waiting to start) and hands back an async
iterator over the CRI log: tail, since, timestamps, limitBytes, previous,
and follow until the container instance ends. Which instance is read is
upstream's choice (`log_instance`): `previous` is the run lastState
describes, which for a container waiting out its CrashLoopBackOff is the
one that just crashed. A pod that had ended before this kubelite started
has no runner; its logs are read from its directory, where its stored
status says which run was last. `LogRouter` picks the agent by
`spec.nodeName`.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kubelite.apiserver.errors import BadRequest
from kubelite.kubelet import criolog
from kubelite.kubelet.criolog import Entry, Limiter, ReadOptions
from kubelite.kubelet.status import ContainerRecord

if TYPE_CHECKING:
    from kubelite.kubelet.agent import NodeAgent

Obj = dict[str, Any]
POLL_S = 0.1


class NodeLogs:
    def __init__(self, agent: NodeAgent) -> None:
        self.agent = agent

    def stream(self, pod: Obj, options: dict[str, str]) -> AsyncIterator[bytes]:
        md = pod["metadata"]
        name = options.get("container") or _only_container(pod)
        runner = self.agent.runners.get(md.get("uid", ""))
        rec = runner.record(name) if runner else None
        previous = options.get("previous") in ("true", "1", "True")
        if runner is None or rec is None:
            # No worker: a pod that ended before this kubelite started (its logs
            # stay on disk until the pod is deleted), or one not yet taken up.
            return self._ended_pod(pod, name, options, previous=previous)
        instance = log_instance(rec, previous=previous, pod=md["name"])
        if instance is None:
            # Waiting, and never ran: nothing logged yet (a re-adopted container
            # may have logged before kubelite restarted).
            if runner.log_path(name, previous=False).exists():
                instance = rec.restart_count
            else:
                raise waiting_error(rec, md["name"])
        path = runner.instance_log(name, instance)
        opts = ReadOptions.from_query(options, time.time())
        follow = options.get("follow") in ("true", "1", "True") and not previous
        restart = rec.restart_count

        def live() -> bool:
            proc = runner.procs.get(name)
            return proc is not None and not proc.exited and rec.restart_count == restart

        return read(path, opts, follow=follow, live=live)

    def _ended_pod(
        self, pod: Obj, name: str, options: dict[str, str], *, previous: bool
    ) -> AsyncIterator[bytes]:
        """Logs read from the pod's directory, where the status says what ran."""
        md = pod["metadata"]
        rec = _record_from_status(pod, name)
        instance = log_instance(rec, previous=previous, pod=md["name"]) if rec else None
        if rec is None or instance is None:
            raise waiting_error(rec, md["name"], name)
        pod_dir = self.agent.pods_dir / f"{md.get('namespace', 'default')}_{md['name']}_{md['uid']}"
        path = pod_dir / "logs" / name / f"{instance}.log"
        opts = ReadOptions.from_query(options, time.time())
        return read(path, opts, follow=False, live=lambda: False)


def log_instance(rec: ContainerRecord, *, previous: bool, pod: str) -> int | None:
    """Which instance of the container `kubectl logs` reads (its log file is
    `<instance>.log`), as upstream's validateContainerLogStatus picks the
    container: `previous` is the one lastState describes; otherwise the
    running or terminated one, or for a container waiting to restart the one
    in lastState. None: waiting, nothing ran yet.

    An instance's number is the restart count it ran under; the count goes up
    when the back-off ends, so while a container waits in CrashLoopBackOff the
    run in lastState is the current count, after that the one before it.
    """
    last = rec.last_state.get("terminated")
    waiting = rec.state.get("waiting")
    backing_off = (waiting or {}).get("reason") == "CrashLoopBackOff"
    last_instance = rec.restart_count if backing_off else rec.restart_count - 1
    if previous:
        if last is None or last_instance < 0:
            raise BadRequest(f'previous terminated container "{rec.name}" in pod "{pod}" not found')
        return last_instance
    if waiting is None:
        return rec.restart_count
    if last is not None and last_instance >= 0:
        return last_instance
    return None


def waiting_error(rec: ContainerRecord | None, pod: str, name: str = "") -> BadRequest:
    """Upstream's answer for a container with nothing to show yet."""
    name = rec.name if rec is not None else name
    reason = ((rec.state.get("waiting") or {}) if rec is not None else {}).get("reason")
    if reason == "ErrImagePull":
        why = "image can't be pulled"
    elif reason == "ImagePullBackOff":
        why = "trying and failing to pull image"
    else:
        why = reason or "ContainerCreating"
    return BadRequest(f'container "{name}" in pod "{pod}" is waiting to start: {why}')


def _record_from_status(pod: Obj, name: str) -> ContainerRecord | None:
    """The container as the pod's stored status last showed it."""
    status = pod.get("status") or {}
    for key in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
        for s in status.get(key) or []:
            if s.get("name") == name:
                rec = ContainerRecord(name, s.get("image", ""))
                rec.state = dict(s.get("state") or rec.state)
                rec.last_state = dict(s.get("lastState") or {})
                rec.restart_count = int(s.get("restartCount") or 0)
                return rec
    return None


def _only_container(pod: Obj) -> str:
    containers = (pod.get("spec") or {}).get("containers") or []
    return containers[0]["name"] if containers else ""


async def read(
    path: Path, opts: ReadOptions, *, follow: bool, live: Callable[[], bool]
) -> AsyncIterator[bytes]:
    limiter = Limiter(opts.limit_bytes)
    if not follow:
        for chunk in _render(criolog.read_entries(path, opts), opts):
            data, done = limiter.take(chunk)
            yield data
            if done:
                return
        return
    async for chunk in _follow(path, opts, live):
        data, done = limiter.take(chunk)
        yield data
        if done:
            return


def _render(items: Iterable[Entry], opts: ReadOptions) -> Iterable[bytes]:
    batch: list[bytes] = []
    size = 0
    for e in items:
        piece = criolog.render(e, opts.timestamps)
        batch.append(piece)
        size += len(piece)
        if size >= 32768:
            yield b"".join(batch)
            batch, size = [], 0
    if batch:
        yield b"".join(batch)


async def _follow(path: Path, opts: ReadOptions, live: Callable[[], bool]) -> AsyncIterator[bytes]:
    while not path.exists():
        if not live():
            return
        await asyncio.sleep(POLL_S)
    fh = path.open("rb")
    try:
        history = [e for f in criolog.rotated(path) for e in criolog.entries(_lines(f))]
        history += list(criolog.entries(fh.readlines()))
        if opts.since is not None:
            history = [e for e in history if e.time >= opts.since]
        if opts.tail_lines is not None:
            history = criolog._tail(history, opts.tail_lines)
        for chunk in _render(history, opts):
            yield chunk
        pending = b""
        while True:
            line = fh.readline()
            if line:
                pending += line
                if pending.endswith(b"\n"):
                    entry = criolog.parse_line(pending)
                    pending = b""
                    if entry is not None and (opts.since is None or entry.time >= opts.since):
                        yield criolog.render(entry, opts.timestamps)
                continue
            if _rotated_away(path, fh):
                fh.close()
                fh = path.open("rb")
                continue
            if not live():
                rest = fh.read()
                for entry in criolog.entries(rest.splitlines(keepends=True)):
                    yield criolog.render(entry, opts.timestamps)
                return
            await asyncio.sleep(POLL_S)
    finally:
        fh.close()


def _lines(path: Path) -> Iterable[bytes]:
    try:
        return path.read_bytes().splitlines(keepends=True)
    except OSError:
        return []


def _rotated_away(path: Path, fh: Any) -> bool:
    try:
        return os.stat(path).st_ino != os.fstat(fh.fileno()).st_ino
    except FileNotFoundError:
        return False


class LogRouter:
    """The API server's LogSource: the agent named by the pod's spec.nodeName answers."""

    def __init__(self, agents: Iterable[NodeAgent]) -> None:
        self.by_node = {a.name: NodeLogs(a) for a in agents}

    def stream(self, pod: Obj, options: dict[str, str]) -> AsyncIterator[bytes]:
        node = (pod.get("spec") or {}).get("nodeName", "")
        logs = self.by_node.get(node)
        if logs is None:
            name = options.get("container") or _only_container(pod)
            raise BadRequest(
                f'container "{name}" in pod "{pod["metadata"]["name"]}" is waiting to start: ContainerCreating'
            )
        return logs.stream(pod, options)
