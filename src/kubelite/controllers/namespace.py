"""The namespace controller: deleting a namespace deletes what it holds.

A namespace being deleted is `Terminating` and keeps the `kubernetes`
finalizer until every namespaced object in it is gone; then the controller
removes the finalizer and the API deletes the namespace, as upstream's
namespace deleter does. Pods take their grace period, so a namespace with
running pods is requeued until they are gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from kubelite.api.registry import REGISTRY
from kubelite.apiserver import errors
from kubelite.apiserver.client import LocalClient
from kubelite.controllers.workqueue import WorkQueue

log = logging.getLogger(__name__)
FINALIZER = "kubernetes"


class NamespaceController:
    name = "namespace-controller"

    def __init__(self) -> None:
        self.queue = WorkQueue()

    async def run(self, client: LocalClient, ready: asyncio.Event) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._watch(client, ready))
            tg.create_task(self._work(client))

    async def _watch(self, client: LocalClient, ready: asyncio.Event) -> None:
        rv: str | None = None
        while True:
            ready.set()
            async for kind, obj in client.watch("v1", "Namespace", resource_version=rv):
                if kind == "ERROR":
                    rv = None
                    break
                rv = obj["metadata"].get("resourceVersion", rv)
                if kind != "BOOKMARK" and obj["metadata"].get("deletionTimestamp"):
                    self.queue.add(obj["metadata"]["name"])

    async def _work(self, client: LocalClient) -> None:
        while True:
            name = await self.queue.get()
            try:
                remaining = await self.reconcile(client, str(name))
            except Exception:
                log.exception("namespace %s: deletion failed; will retry", name)
                self.queue.add_rate_limited(name)
            else:
                self.queue.forget(name)
                if remaining:
                    self.queue.add_after(name, 0.5)
            finally:
                self.queue.done(name)

    async def reconcile(self, client: LocalClient, name: str) -> int:
        """Delete the namespace's content; returns how many objects remain."""
        ns = await client.get_or_none("v1", "Namespace", name)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return 0
        remaining = 0
        for rt in REGISTRY.resources:
            if not rt.namespaced:
                continue
            items, _ = await client.list(rt.api_version, rt.kind, name)
            for obj in items:
                remaining += 1
                if obj["metadata"].get("deletionTimestamp"):
                    continue
                with contextlib.suppress(errors.NotFound, errors.Conflict):
                    await client.delete(
                        rt.api_version,
                        rt.kind,
                        obj["metadata"]["name"],
                        name,
                        propagation_policy="Background",
                    )
        if remaining == 0:
            finalizers = [
                f for f in (ns.get("spec") or {}).get("finalizers") or [] if f != FINALIZER
            ]
            with contextlib.suppress(errors.NotFound):
                await client.finalize_namespace(name, finalizers)
        return remaining
