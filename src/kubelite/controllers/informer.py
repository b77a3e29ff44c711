"""The shared informer: list, then watch, into a local cache every controller reads.

Controllers never list through the API on their hot path: an informer keeps
the current objects of one kind (indexed by namespace, by owner uid and by
uid) and tells its handlers what changed. Handlers only enqueue keys; the
reconcilers read the cache. When the watch ends in a 410 `Expired` ERROR the
informer relists and turns the difference into events, so no change is ever
lost, only coalesced. `relist()` is also what unit tests call to bring the
cache up to date without running the watch.

Cached objects are shared: callers must `objects.copy()` before changing one.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from kubelite.api.selectors import LabelSelector
from kubelite.controllers.objects import Obj, key_of, meta, owner_uids

if TYPE_CHECKING:
    from kubelite.apiserver.client import LocalClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Handlers:
    on_add: Callable[[Obj], object] | None = None
    on_update: Callable[[Obj, Obj], object] | None = None
    on_delete: Callable[[Obj], object] | None = None


class Informer:
    def __init__(self, api_version: str, kind: str, *, resync_s: float | None = None) -> None:
        self.api_version, self.kind = api_version, kind
        self.resync_s = resync_s
        self._items: dict[str, Obj] = {}
        self._by_ns: dict[str, set[str]] = defaultdict(set)
        self._by_owner: dict[str, set[str]] = defaultdict(set)
        self._by_uid: dict[str, str] = {}
        self._handlers: list[Handlers] = []
        self.resource_version: str | None = None

    def add_handlers(self, handlers: Handlers) -> None:
        self._handlers.append(handlers)

    # ---- reads -------------------------------------------------------------------

    def get(self, key: str) -> Obj | None:
        return self._items.get(key)

    def by_uid(self, uid: str) -> Obj | None:
        key = self._by_uid.get(uid)
        return None if key is None else self._items.get(key)

    def list(
        self, namespace: str | None = None, selector: LabelSelector | None = None
    ) -> list[Obj]:
        keys: Iterable[str] = self._items if namespace is None else self._by_ns.get(namespace, ())
        out = [self._items[k] for k in keys]
        if selector is not None:
            out = [o for o in out if selector.matches(meta(o).get("labels"))]
        return out

    def owned_by(self, uid: str) -> builtins.list[Obj]:
        return [self._items[k] for k in self._by_owner.get(uid, ())]

    def __len__(self) -> int:
        return len(self._items)

    # ---- the cache -----------------------------------------------------------------

    def apply(self, kind: str, obj: Obj) -> None:
        """Fold one watch event into the cache and notify the handlers."""
        key = key_of(obj)
        old = self._items.get(key)
        if kind == "DELETED":
            if old is not None:
                self._forget(key, old)
            self._notify_delete(obj)
            return
        if old is not None:
            self._forget(key, old)
        self._remember(key, obj)
        if old is None:
            self._notify_add(obj)
        else:
            self._notify_update(old, obj)

    def replace(self, items: builtins.list[Obj], resource_version: str) -> None:
        """A fresh list: emit deletes for what vanished, adds/updates for the rest."""
        fresh = {key_of(o): o for o in items}
        for key in [k for k in self._items if k not in fresh]:
            self.apply("DELETED", self._items[key])
        for key, obj in fresh.items():
            old = self._items.get(key)
            if old is None or meta(old).get("resourceVersion") != meta(obj).get("resourceVersion"):
                self.apply("MODIFIED" if old else "ADDED", obj)
        self.resource_version = resource_version

    def _remember(self, key: str, obj: Obj) -> None:
        self._items[key] = obj
        md = meta(obj)
        self._by_ns[md.get("namespace") or ""].add(key)
        for uid in owner_uids(obj):
            self._by_owner[uid].add(key)
        if md.get("uid"):
            self._by_uid[md["uid"]] = key

    def _forget(self, key: str, obj: Obj) -> None:
        self._items.pop(key, None)
        md = meta(obj)
        self._by_ns[md.get("namespace") or ""].discard(key)
        for uid in owner_uids(obj):
            owned = self._by_owner.get(uid)
            if owned is not None:
                owned.discard(key)
                if not owned:
                    del self._by_owner[uid]
        if self._by_uid.get(md.get("uid", "")) == key:
            del self._by_uid[md["uid"]]

    def _notify_add(self, obj: Obj) -> None:
        for h in self._handlers:
            if h.on_add is not None:
                h.on_add(obj)

    def _notify_update(self, old: Obj, new: Obj) -> None:
        for h in self._handlers:
            if h.on_update is not None:
                h.on_update(old, new)

    def _notify_delete(self, obj: Obj) -> None:
        for h in self._handlers:
            if h.on_delete is not None:
                h.on_delete(obj)

    def resync(self) -> None:
        """Periodic resync: every cached object is handed to on_update again."""
        for obj in list(self._items.values()):
            self._notify_update(obj, obj)

    # ---- list + watch ----------------------------------------------------------------

    async def relist(self, client: LocalClient) -> None:
        items, rv = await client.list(self.api_version, self.kind)
        self.replace(items, rv)

    async def run(self, client: LocalClient, synced: asyncio.Event) -> None:
        """List, mark synced, then follow the watch; relist whenever it expires."""
        async with asyncio.TaskGroup() as tg:
            if self.resync_s:
                tg.create_task(self._resync_loop(self.resync_s))
            while True:
                await self.relist(client)
                synced.set()
                # A stream that just closed (a too slow consumer) resumes from
                # the last revision seen; only an expired one needs a relist.
                while await self._follow(client):
                    pass

    async def _follow(self, client: LocalClient) -> bool:
        """Apply watch events; False once the watch expired (relist needed)."""
        stream = client.watch(self.api_version, self.kind, resource_version=self.resource_version)
        async for kind, obj in stream:
            if kind == "ERROR":
                log.info("%s watch expired; relisting", self.kind)
                return False
            rv = meta(obj).get("resourceVersion")
            if kind != "BOOKMARK":
                self.apply(kind, obj)
            if rv:
                self.resource_version = rv
        return True

    async def _resync_loop(self, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            self.resync()


class InformerFactory:
    """One informer per kind, shared by every controller that asks for it.

    Kinds asked for once the factory runs (custom resources, as their CRDs
    appear) start at once; `drop` stops one whose type went away.
    """

    def __init__(self) -> None:
        self._informers: dict[tuple[str, str], Informer] = {}
        self._running: tuple[asyncio.TaskGroup, LocalClient] | None = None
        self._late: dict[tuple[str, str], asyncio.Task[None]] = {}

    def informer(self, api_version: str, kind: str) -> Informer:
        inf = self._informers.get((api_version, kind))
        if inf is None:
            inf = self._informers[(api_version, kind)] = Informer(api_version, kind)
            if self._running is not None:
                tg, client = self._running
                self._late[(api_version, kind)] = tg.create_task(self._run_late(inf, client))
        return inf

    async def _run_late(self, inf: Informer, client: LocalClient) -> None:
        from kubelite.apiserver import errors

        try:
            await inf.run(client, asyncio.Event())
        except errors.NotFound:  # the type went away before we were told
            log.debug("informer for %s %s: type no longer served", inf.api_version, inf.kind)

    def drop(self, api_version: str, kind: str) -> None:
        """Stop and forget the informer of a kind no longer served."""
        self._informers.pop((api_version, kind), None)
        task = self._late.pop((api_version, kind), None)
        if task is not None:
            task.cancel()

    def __iter__(self) -> Iterator[Informer]:
        return iter(list(self._informers.values()))

    async def relist(self, client: LocalClient) -> None:
        for inf in self:
            await inf.relist(client)

    async def run(self, client: LocalClient, synced: asyncio.Event) -> None:
        """Run every informer asked for so far; `synced` once all have listed."""
        informers = list(self)
        events = [asyncio.Event() for _ in informers]
        try:
            async with asyncio.TaskGroup() as tg:
                self._running = (tg, client)
                for inf, ev in zip(informers, events, strict=True):
                    tg.create_task(inf.run(client, ev))
                for ev in events:
                    await ev.wait()
                synced.set()
        finally:
            self._running = None


__all__ = ["Handlers", "Informer", "InformerFactory"]
