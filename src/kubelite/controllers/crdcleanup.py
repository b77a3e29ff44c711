"""Deleting a CustomResourceDefinition deletes its custom resources first.

A CRD carries the `customresourcecleanup.apiextensions.k8s.io` finalizer from
its creation. Once it is being deleted, this controller deletes every object
of its type through the API (their own finalizers are honoured), looks again
until none is left, then removes the finalizer; the API then deletes the CRD
and stops serving its types, as upstream's finalizer controller does.
"""

from __future__ import annotations

import contextlib
import logging

from kubelite.api.crd.types import CLEANUP_FINALIZER, CRD_API_VERSION, CRD_KIND, resource_types
from kubelite.apiserver import errors
from kubelite.controllers.controller import Controller
from kubelite.controllers.informer import Handlers
from kubelite.controllers.objects import Obj, deleting, meta

log = logging.getLogger(__name__)
RECHECK_S = 0.5


class CustomResourceCleanupController(Controller):
    name = "crd-finalizer-controller"
    workers = 1

    def setup(self) -> None:
        self.crds = self.informers.informer(CRD_API_VERSION, CRD_KIND)
        self.crds.add_handlers(
            Handlers(on_add=self._changed, on_update=lambda _old, crd: self._changed(crd))
        )

    def _changed(self, crd: Obj) -> None:
        if deleting(crd) and CLEANUP_FINALIZER in (meta(crd).get("finalizers") or []):
            self.enqueue(meta(crd)["name"])

    async def reconcile(self, key: str) -> float | None:
        crd = await self.client.get_or_none(CRD_API_VERSION, CRD_KIND, key)
        if crd is None or not deleting(crd):
            return None
        if CLEANUP_FINALIZER not in (meta(crd).get("finalizers") or []):
            return None
        remaining = await self._delete_instances(crd)
        if remaining:
            return RECHECK_S
        await self._remove_finalizer(key)
        return None

    async def _delete_instances(self, crd: Obj) -> int:
        served = resource_types(crd)
        if not served:
            return 0
        rt = served[0]
        try:
            items, _ = await self.client.list(rt.api_version, rt.kind)
        except errors.NotFound:
            return 0
        for obj in items:
            if deleting(obj):
                continue
            md = meta(obj)
            with contextlib.suppress(errors.NotFound, errors.Conflict):
                await self.client.delete(
                    rt.api_version,
                    rt.kind,
                    md["name"],
                    md.get("namespace"),
                    propagation_policy="Background",
                )
        log.debug("crd %s: %d custom resources still being deleted", meta(crd)["name"], len(items))
        return len(items)

    async def _remove_finalizer(self, name: str) -> None:
        def remove(live: Obj) -> Obj:
            kept = [f for f in meta(live).get("finalizers") or [] if f != CLEANUP_FINALIZER]
            if kept:
                live["metadata"]["finalizers"] = kept
            else:
                live["metadata"].pop("finalizers", None)
            return live

        with contextlib.suppress(errors.NotFound):
            await self.client.mutate(CRD_API_VERSION, CRD_KIND, name, remove)
