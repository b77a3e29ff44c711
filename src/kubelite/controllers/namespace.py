"""The namespace controller: deleting a namespace deletes what it holds.

A namespace being deleted is `Terminating` and keeps the `kubernetes`
finalizer until every namespaced object in it is gone; then the controller
removes the finalizer and the API deletes the namespace, as upstream's
namespace deleter does. Pods take their grace period, so a namespace with
running pods is looked at again until they are gone.
"""

from __future__ import annotations

import contextlib
import logging

from kubelite.apiserver import errors
from kubelite.controllers.controller import Controller
from kubelite.controllers.informer import Handlers
from kubelite.controllers.objects import Obj, deleting, key_of

log = logging.getLogger(__name__)
FINALIZER = "kubernetes"
RECHECK_S = 0.5


class NamespaceController(Controller):
    name = "namespace-controller"

    def setup(self) -> None:
        self.ns_informer = self.informers.informer("v1", "Namespace")
        self.ns_informer.add_handlers(
            Handlers(on_add=self._changed, on_update=lambda _o, n: self._changed(n))
        )

    def _changed(self, ns: Obj) -> None:
        if deleting(ns):
            self.enqueue(key_of(ns))

    async def reconcile(self, key: str) -> float | None:
        remaining = await self.delete_content(key)
        return RECHECK_S if remaining else None

    async def delete_content(self, name: str) -> int:
        """Delete the namespace's content; returns how many objects remain."""
        client = self.client
        ns = await client.get_or_none("v1", "Namespace", name)
        if ns is None or not deleting(ns):
            return 0
        remaining = 0
        # Asked each time: custom resources come and go with their CRDs. Their
        # versions share one store, so each (group, resource) is listed once.
        seen: set[tuple[str, str]] = set()
        for rt in client.served_types():
            if not rt.namespaced or not rt.stored or (rt.group, rt.plural) in seen:
                continue
            seen.add((rt.group, rt.plural))
            items, _ = await client.list(rt.api_version, rt.kind, name)
            for obj in items:
                remaining += 1
                if deleting(obj):
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
