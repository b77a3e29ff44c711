"""CustomResourceDefinitions on the server: their status, and the types they serve.

Every write of a CRD goes through here twice: before it is stored, its
status is computed (names accepted, established, stored versions) and a new
CRD gets the `customresourcecleanup.apiextensions.k8s.io` finalizer; once
stored (or deleted), the registry's dynamic types are set from it, so the
next request already sees the type, and discovery and OpenAPI change with
it. At start-up the stored CRDs are read back and their types served again.
Nothing here polls: it runs only when a CRD is written.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from kubelite.api.crd.status import compute_status
from kubelite.api.crd.types import CLEANUP_FINALIZER, CRD_API_VERSION, CRD_KIND, resource_types
from kubelite.api.registry import Registry, ResourceType
from kubelite.apiserver import meta as m

if TYPE_CHECKING:
    from kubelite.store import Store

log = logging.getLogger(__name__)
Obj = dict[str, Any]


class CrdRegistrar:
    """Keeps `registry`'s dynamic types in step with the CRDs in `store`."""

    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry
        self.crd_type = registry.by_kind(CRD_API_VERSION, CRD_KIND)

    def is_crd(self, rt: ResourceType) -> bool:
        return rt is self.crd_type and rt is not None

    def _stored(self) -> list[Obj]:
        if self.crd_type is None:
            return []
        items, _, _ = self.store.list(self.crd_type.prefix())
        return [kv.obj() for kv in items]

    def load(self) -> None:
        """Serve exactly the types of the stored CRDs (start-up, or a fresh store in tests)."""
        stored = {crd["metadata"]["name"]: crd for crd in self._stored()}
        for owner in {rt.custom.crd_name for rt in self.registry.dynamic_resources()}:
            if owner not in stored:
                self.registry.set_dynamic(owner, ())
        for name, crd in stored.items():
            self.registry.set_dynamic(name, resource_types(crd))
        if stored:
            log.info("serving the types of %d CustomResourceDefinitions", len(stored))

    def prepare(self, crd: Obj, old: Obj | None, *, now: float) -> None:
        """Before a CRD is stored: its finalizer (when new) and its status."""
        md = m.meta(crd)
        if old is None:
            crd["status"] = {}
            finalizers = list(md.get("finalizers") or [])
            if CLEANUP_FINALIZER not in finalizers:
                md["finalizers"] = [*finalizers, CLEANUP_FINALIZER]
        else:
            crd["status"] = old.get("status") or {}
        builtins = [rt for rt in self.registry.resources if rt.custom is None]
        crd["status"] = compute_status(
            crd, others=self._stored(), builtins=builtins, now=m.now_rfc3339(now)
        )

    def written(self, crd: Obj) -> None:
        """After a CRD is stored: serve what it now defines."""
        name = crd["metadata"]["name"]
        types = resource_types(crd)
        self.registry.set_dynamic(name, types)
        log.debug("crd %s: serving %s", name, [rt.api_version for rt in types])

    def deleted(self, name: str) -> None:
        self.registry.set_dynamic(name, ())
        log.info("crd %s deleted: its types are no longer served", name)
