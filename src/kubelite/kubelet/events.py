"""Events the node agent records, in upstream's shape and wording.

`kubectl describe pod` lists events by `involvedObject.uid`; repeats of the
same reason and message on the same object bump `count` and
`lastTimestamp` instead of adding rows, as the kubelet's event correlator does.

As upstream's broadcaster, recording never waits on the API: `emit` queues
(a bounded queue; beyond it events are dropped) and `run` writes them in
order, so a burst of pods starting is not held up by their events. Given a
`quiet` event, `run` waits for it (at most QUIET_WAIT_S) before writing: the
agent sets it while no pod is starting, so event writes fill the gaps after
a burst instead of sharing the loop with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from typing import Any

from kubelite.apiserver.errors import ApiError
from kubelite.kubelet.clock import Clock, rfc3339

log = logging.getLogger(__name__)
Obj = dict[str, Any]

NORMAL = "Normal"
WARNING = "Warning"
MAX_QUEUED_EVENTS = 1000  # upstream's broadcaster queue
WRITES_PER_TURN = 16  # then the writer yields to the rest of the loop
QUIET_WAIT_S = 1.0  # longest queued events wait for the agent to be quiet


def involved(pod: Obj, field_path: str = "") -> Obj:
    md = pod["metadata"]
    ref = {
        "kind": pod.get("kind", "Pod"),
        "apiVersion": pod.get("apiVersion", "v1"),
        "namespace": md.get("namespace", ""),
        "name": md["name"],
        "uid": md.get("uid", ""),
        "resourceVersion": md.get("resourceVersion", ""),
    }
    if field_path:
        ref["fieldPath"] = field_path
    if not ref["namespace"]:
        del ref["namespace"]
    return ref


def container_path(pod: Obj, name: str) -> str:
    spec = pod.get("spec") or {}
    if any(c["name"] == name for c in spec.get("initContainers") or []):
        return f"spec.initContainers{{{name}}}"
    if any(c["name"] == name for c in spec.get("ephemeralContainers") or []):
        return f"spec.ephemeralContainers{{{name}}}"
    return f"spec.containers{{{name}}}"


class Recorder:
    def __init__(
        self,
        client: Any,
        node: str,
        clock: Clock,
        *,
        max_queued: int = MAX_QUEUED_EVENTS,
        quiet: asyncio.Event | None = None,
    ) -> None:
        self.client = client
        self.quiet = quiet
        self.node = node
        self.clock = clock
        self.max_queued = max_queued
        self.dropped = 0
        self._seen: dict[tuple[str, str, str, str], tuple[str, str, int]] = {}
        self._queue: deque[tuple[Any, ...]] = deque()
        self._wake: asyncio.Event | None = None

    async def emit(
        self, obj: Obj, type_: str, reason: str, message: str, field_path: str = ""
    ) -> None:
        """Queue the event; `run` writes it."""
        if len(self._queue) >= self.max_queued:
            self.dropped += 1
            log.debug("event queue full, dropping %s", reason)
            return
        ref = involved(obj, field_path)
        self._push(("emit", ref, type_, reason, message, field_path, self.clock.wall()))

    def forget(self, uid: str) -> None:
        """Drop the correlation state of a removed pod (after its queued events)."""
        self._push(("forget", uid))

    def _push(self, item: tuple[Any, ...]) -> None:
        self._queue.append(item)
        if self._wake is not None:
            self._wake.set()

    async def run(self) -> None:
        self._wake = asyncio.Event()
        if self._queue:  # queued before the writer started (the node's first events)
            self._wake.set()
        try:
            while True:
                await self._wake.wait()
                if self.quiet is not None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.quiet.wait(), QUIET_WAIT_S)
                self._wake.clear()
                await self.flush(yield_every=WRITES_PER_TURN)
        finally:
            self._wake = None

    async def flush(self, yield_every: int = 0) -> None:
        written = 0
        while self._queue:
            item = self._queue.popleft()
            if item[0] == "forget":
                self._forget(item[1])
                continue
            await self._write(*item[1:])
            written += 1
            if yield_every and written % yield_every == 0:
                await asyncio.sleep(0)

    async def _write(
        self, ref: Obj, type_: str, reason: str, message: str, field_path: str, now: float
    ) -> None:
        ns = ref.get("namespace") or "default"
        key = (ref.get("uid", ""), field_path, reason, message)
        try:
            if key in self._seen:
                name, event_ns, count = self._seen[key]
                self._seen[key] = (name, event_ns, count + 1)
                await self.client.mutate_only(
                    "v1", "Event", name, _bump(count + 1, rfc3339(now)), event_ns
                )
                return
            name = f"{ref['name']}.{secrets.token_hex(8)}"
            await self.client.create_only(
                self._event(name, ns, ref, type_, reason, message, now), ns
            )
            self._seen[key] = (name, ns, 1)
        except ApiError as exc:
            log.debug("event %s for %s/%s not recorded: %s", reason, ns, ref["name"], exc)
            with contextlib.suppress(KeyError):
                del self._seen[key]

    def _event(
        self, name: str, ns: str, ref: Obj, type_: str, reason: str, message: str, now: float
    ) -> Obj:
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": ref,
            "reason": reason,
            "message": message,
            "type": type_,
            "source": {"component": "kubelet", "host": self.node},
            "firstTimestamp": rfc3339(now),
            "lastTimestamp": rfc3339(now),
            "count": 1,
            "reportingComponent": "kubelet",
            "reportingInstance": self.node,
        }

    def _forget(self, uid: str) -> None:
        for key in [k for k in self._seen if k[0] == uid]:
            del self._seen[key]


def _bump(count: int, now: str) -> Any:
    def fn(ev: Obj) -> Obj:
        ev["count"] = count
        ev["lastTimestamp"] = now
        return ev

    return fn
