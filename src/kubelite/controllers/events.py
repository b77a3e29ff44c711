"""Events: what `kubectl describe` shows under "Events", in upstream's words.

As client-go's legacy recorder: a core/v1 Event named `<object>.<hex nanos>`
with `source.component` set to the controller's name (kubectl's "From"
column). A repeat of the same event on the same object (same type, reason
and message) bumps `count` and `lastTimestamp` instead of adding a new
Event, as the event correlator does. Recording never fails a reconcile.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from kubelite.apiserver import errors
from kubelite.controllers.clock import Clock, system_clock
from kubelite.controllers.objects import meta, timestamp

if TYPE_CHECKING:
    from kubelite.apiserver.client import LocalClient

log = logging.getLogger(__name__)

NORMAL = "Normal"
WARNING = "Warning"
_REMEMBERED = 4096


class EventRecorder:
    def __init__(self, client: LocalClient, component: str, *, clock: Clock = system_clock) -> None:
        self.client = client
        self.component = component
        self.clock = clock
        self._last_ns = 0
        self._seen: OrderedDict[tuple[str, str, str, str], tuple[str, str, int]] = OrderedDict()

    async def event(self, obj: dict[str, Any], kind: str, reason: str, message: str) -> None:
        md = meta(obj)
        ns = md.get("namespace") or "default"
        key = (str(md.get("uid")), kind, reason, message)
        try:
            seen = self._seen.get(key)
            if seen is not None and await self._bump(seen[0], ns, key, seen[2]):
                return
            await self._create(obj, ns, kind, reason, message, key)
        except errors.ApiError as exc:
            log.debug("event %s on %s/%s not recorded: %s", reason, ns, md.get("name"), exc)

    async def _create(
        self, obj: dict[str, Any], ns: str, kind: str, reason: str, message: str, key: Any
    ) -> None:
        md = meta(obj)
        now = self.clock()
        # Nanoseconds as upstream, kept strictly increasing so a coarse clock
        # never makes two events share a name.
        self._last_ns = max(int(now * 1e9), self._last_ns + 1)
        name = f"{md.get('name')}.{self._last_ns:x}"
        involved = {
            "kind": obj.get("kind"),
            "namespace": md.get("namespace"),
            "name": md.get("name"),
            "uid": md.get("uid"),
            "apiVersion": obj.get("apiVersion"),
            "resourceVersion": md.get("resourceVersion"),
        }
        event: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": name, "namespace": ns},
            "involvedObject": {k: v for k, v in involved.items() if v},
            "reason": reason,
            "message": message,
            "source": {"component": self.component},
            "firstTimestamp": timestamp(now),
            "lastTimestamp": timestamp(now),
            "count": 1,
            "type": kind,
            "eventTime": None,
            "reportingComponent": self.component,
            "reportingInstance": "",
        }
        await self.client.create(event, ns)
        self._remember(key, (event["metadata"]["name"], ns, 1))

    async def _bump(self, name: str, ns: str, key: Any, count: int) -> bool:
        patch = {"count": count + 1, "lastTimestamp": timestamp(self.clock())}
        try:
            await self.client.patch("v1", "Event", name, patch, ns)
        except errors.NotFound:
            self._seen.pop(key, None)
            return False
        self._remember(key, (name, ns, count + 1))
        return True

    def _remember(self, key: Any, value: tuple[str, str, int]) -> None:
        self._seen[key] = value
        self._seen.move_to_end(key)
        while len(self._seen) > _REMEMBERED:
            self._seen.popitem(last=False)
