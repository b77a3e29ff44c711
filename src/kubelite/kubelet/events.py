"""Events the node agent records, in upstream's shape and wording.

`kubectl describe pod` lists events by `involvedObject.uid`; repeats of the
same reason and message on the same object bump `count` and
`lastTimestamp` instead of adding rows, as the kubelet's event correlator does.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from typing import Any

from kubelite.apiserver.errors import ApiError
from kubelite.kubelet.clock import Clock, rfc3339

log = logging.getLogger(__name__)
Obj = dict[str, Any]

NORMAL = "Normal"
WARNING = "Warning"


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
    return f"spec.containers{{{name}}}"


class Recorder:
    def __init__(self, client: Any, node: str, clock: Clock) -> None:
        self.client = client
        self.node = node
        self.clock = clock
        self._seen: dict[tuple[str, str, str, str], tuple[str, str, int]] = {}

    async def emit(
        self, obj: Obj, type_: str, reason: str, message: str, field_path: str = ""
    ) -> None:
        ref = involved(obj, field_path)
        ns = ref.get("namespace") or "default"
        key = (ref.get("uid", ""), field_path, reason, message)
        now = self.clock.wall()
        try:
            if key in self._seen:
                name, event_ns, count = self._seen[key]
                self._seen[key] = (name, event_ns, count + 1)
                await self.client.mutate(
                    "v1", "Event", name, _bump(count + 1, rfc3339(now)), event_ns
                )
                return
            name = f"{ref['name']}.{secrets.token_hex(8)}"
            await self.client.create(self._event(name, ns, ref, type_, reason, message, now), ns)
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

    def forget(self, uid: str) -> None:
        for key in [k for k in self._seen if k[0] == uid]:
            del self._seen[key]


def _bump(count: int, now: str) -> Any:
    def fn(ev: Obj) -> Obj:
        ev["count"] = count
        ev["lastTimestamp"] = now
        return ev

    return fn
