"""The garbage collector: ownerReferences decide what outlives what.

Every kind (except Events) is watched; the informers' owner-uid index is the
dependency graph. Three things are processed, one object at a time:

- an object whose owners are all gone (or waiting for their dependents) is
  deleted, with the propagation its own finalizers ask for;
- an owner deleted with `propagationPolicy: Orphan` carries the `orphan`
  finalizer: its dependents lose their reference to it, then the finalizer
  is removed and the API deletes the owner;
- an owner deleted with `Foreground` carries `foregroundDeletion`: its
  dependents are deleted first, and the finalizer is removed once no
  dependent with `blockOwnerDeletion` remains.

Background deletion needs nothing here beyond the first rule: the owner goes
at once and its dependents follow as dangling. Decisions are made on live
reads, never on the cache alone, as upstream's collector does.

An object is deleted only when every owner is verified gone. A reference
that cannot be resolved with certainty leaves the object alone: a kind the
API does not serve (looked at again later: its CRD may come), and a
cluster-scoped object naming a namespaced owner kind, which can never
resolve (upstream forgets such an object). A reference to an owner that
exists in another namespace than its dependent's is reported with a
Warning `OwnerRefInvalidNamespace` event, as upstream's graph builder does.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from kubelite.api.crd.types import CRD_API_VERSION, CRD_KIND, resource_types
from kubelite.apiserver import errors
from kubelite.controllers.controller import Controller
from kubelite.controllers.events import WARNING
from kubelite.controllers.informer import Handlers, Informer
from kubelite.controllers.objects import Obj, deleting, meta

log = logging.getLogger(__name__)

NAME = "garbage-collector-controller"
ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
_SKIPPED_KINDS = frozenset({"Event"})
# Owner states, as upstream classifies references (solid, dangling, waiting),
# plus the two that stop the collector from touching the object at all.
SOLID, GONE, WAITING = "solid", "gone", "waiting"
INVALID = "invalid"  # a cluster-scoped object naming a namespaced owner kind
UNKNOWN_KIND = "unknown-kind"  # a kind not served (now)
# How soon an object whose owner kind is not served is looked at again.
UNKNOWN_KIND_RETRY_S = 60.0


def item_key(obj: Obj) -> str:
    md = meta(obj)
    return "|".join((obj["apiVersion"], obj["kind"], md.get("namespace") or "", md["name"]))


class GarbageCollector(Controller):
    name = NAME
    workers = 4

    def setup(self) -> None:
        self.watched: list[Informer] = []
        # Custom resources are watched while their CRD serves them (see `_crd_changed`).
        self._custom: dict[str, tuple[str, str]] = {}
        for rt in self.client.served_types():
            if rt.kind in _SKIPPED_KINDS or not rt.stored or rt.custom is not None:
                continue
            self._watch(rt.api_version, rt.kind)
        crds = self.informers.informer(CRD_API_VERSION, CRD_KIND)
        crds.add_handlers(
            Handlers(
                on_add=self._crd_changed,
                on_update=lambda _old, crd: self._crd_changed(crd),
                on_delete=self._crd_gone,
            )
        )

    def _watch(self, api_version: str, kind: str) -> None:
        inf = self.informers.informer(api_version, kind)
        inf.add_handlers(
            Handlers(on_add=self._added, on_update=self._updated, on_delete=self._deleted)
        )
        self.watched.append(inf)

    def _crd_changed(self, crd: Obj) -> None:
        name = meta(crd)["name"]
        served = resource_types(crd)
        wanted = (served[0].api_version, served[0].kind) if served else None
        if self._custom.get(name) == wanted:
            return
        self._crd_gone(crd)
        if wanted is not None:
            self._custom[name] = wanted
            self._watch(*wanted)

    def _crd_gone(self, crd: Obj) -> None:
        watched = self._custom.pop(meta(crd)["name"], None)
        if watched is None:
            return
        self.watched = [inf for inf in self.watched if (inf.api_version, inf.kind) != watched]
        self.informers.drop(*watched)

    # ---- the graph -------------------------------------------------------------------

    def dependents(self, uid: str) -> list[Obj]:
        out: list[Obj] = []
        for inf in self.watched:
            out += inf.owned_by(uid)
        return out

    def _added(self, obj: Obj) -> None:
        if meta(obj).get("ownerReferences") or _gc_finalizers(obj):
            self.enqueue(item_key(obj))

    def _updated(self, old: Obj, obj: Obj) -> None:
        om, nm = meta(old), meta(obj)
        if om.get("ownerReferences") != nm.get("ownerReferences") or (
            _gc_finalizers(obj)
            and (deleting(obj) != deleting(old) or om.get("finalizers") != nm.get("finalizers"))
        ):
            self.enqueue(item_key(obj))

    def _deleted(self, obj: Obj) -> None:
        for dep in self.dependents(meta(obj).get("uid", "")):
            self.enqueue(item_key(dep))
        # An owner in foreground deletion waits for this one to go.
        for ref in meta(obj).get("ownerReferences") or []:
            owner = self._cached_owner(obj, ref)
            if owner is not None and FOREGROUND in (meta(owner).get("finalizers") or []):
                self.enqueue(item_key(owner))

    def _cached_owner(self, dependent: Obj, ref: dict[str, Any]) -> Obj | None:
        for inf in self.watched:
            if inf.api_version == ref.get("apiVersion") and inf.kind == ref.get("kind"):
                owner = inf.by_uid(ref.get("uid", ""))
                return owner
        return None

    # ---- reconcile ---------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        api_version, kind, ns, name = key.split("|")
        obj = await self.client.get_or_none(api_version, kind, name, ns or None)
        if obj is None:
            return None
        finalizers = meta(obj).get("finalizers") or []
        if deleting(obj):
            if ORPHAN in finalizers:
                await self._orphan_dependents(obj)
            elif FOREGROUND in finalizers:
                await self._delete_dependents_first(obj)
            return None
        if meta(obj).get("ownerReferences"):
            return await self._attempt_to_delete(obj)
        return None

    async def _attempt_to_delete(self, obj: Obj) -> float | None:
        by_state: dict[str, list[dict[str, Any]]] = {
            SOLID: [],
            GONE: [],
            WAITING: [],
            INVALID: [],
            UNKNOWN_KIND: [],
        }
        for ref in meta(obj).get("ownerReferences") or []:
            by_state[await self._owner_state(obj, ref)].append(ref)
        if by_state[INVALID]:
            return None  # never resolves: neither deleted nor retried
        if by_state[UNKNOWN_KIND]:
            return UNKNOWN_KIND_RETRY_S
        solid, gone, waiting = by_state[SOLID], by_state[GONE], by_state[WAITING]
        if solid:
            if gone or waiting:
                await self._drop_refs(obj, {r.get("uid") for r in gone + waiting})
            return None
        finalizers = meta(obj).get("finalizers") or []
        if waiting and self.dependents(meta(obj)["uid"]):
            policy = "Foreground"  # keep blocking the owner until our own dependents are gone
        elif ORPHAN in finalizers:
            policy = "Orphan"
        elif FOREGROUND in finalizers:
            policy = "Foreground"
        else:
            policy = "Background"
        md = meta(obj)
        log.debug(
            "gc: deleting %s %s/%s (%s)", obj["kind"], md.get("namespace"), md["name"], policy
        )
        with contextlib.suppress(errors.NotFound, errors.Conflict):
            await self.client.delete(
                obj["apiVersion"],
                obj["kind"],
                md["name"],
                md.get("namespace"),
                propagation_policy=policy,
                preconditions={"uid": md["uid"]},
            )
        return None

    async def _owner_state(self, obj: Obj, ref: dict[str, Any]) -> str:
        rt = self.client.find_resource(ref.get("apiVersion", ""), ref.get("kind", ""))
        if rt is None:
            return UNKNOWN_KIND  # never guess that an owner of an unknown kind is gone
        ns = meta(obj).get("namespace") or None
        if rt.namespaced:
            await self._report_other_namespace(obj, ref, rt.kind)
            if ns is None:
                return INVALID
        owner = await self.client.get_or_none(
            rt.api_version, rt.kind, ref.get("name", ""), ns if rt.namespaced else None
        )
        if owner is None or meta(owner).get("uid") != ref.get("uid"):
            return GONE
        if deleting(owner) and FOREGROUND in (meta(owner).get("finalizers") or []):
            return WAITING
        return SOLID

    async def _report_other_namespace(self, obj: Obj, ref: dict[str, Any], kind: str) -> None:
        """Warn when the referenced owner exists, but not in the dependent's namespace."""
        ns = meta(obj).get("namespace") or ""
        uid = ref.get("uid", "")
        owner = next(
            (o for inf in self.watched if inf.kind == kind and (o := inf.by_uid(uid)) is not None),
            None,
        )
        if owner is None or (meta(owner).get("namespace") or "") == ns:
            return
        md = meta(obj)
        log.info(
            "gc: %s %s/%s names owner %s %s/%s from another namespace",
            obj["kind"],
            ns,
            md["name"],
            kind,
            meta(owner).get("namespace"),
            ref.get("name"),
        )
        owner_ref = (
            f"[{ref.get('apiVersion', '')}/{ref.get('kind', '')}, namespace: {ns}, "
            f"name: {ref.get('name', '')}, uid: {uid}]"
        )
        await self.recorder.event(
            obj,
            WARNING,
            "OwnerRefInvalidNamespace",
            f'ownerRef {owner_ref} does not exist in namespace "{ns}"',
        )

    async def _drop_refs(self, obj: Obj, uids: set[Any]) -> None:
        def drop(live: Obj) -> Obj:
            refs = [r for r in meta(live).get("ownerReferences") or [] if r.get("uid") not in uids]
            if refs:
                live["metadata"]["ownerReferences"] = refs
            else:
                live["metadata"].pop("ownerReferences", None)
            return live

        md = meta(obj)
        with contextlib.suppress(errors.NotFound):
            await self.client.mutate(
                obj["apiVersion"], obj["kind"], md["name"], drop, md.get("namespace")
            )

    async def _orphan_dependents(self, owner: Obj) -> None:
        uid = meta(owner)["uid"]
        for dep in self.dependents(uid):
            await self._drop_refs(dep, {uid})
        await self._remove_finalizer(owner, ORPHAN)

    async def _delete_dependents_first(self, owner: Obj) -> None:
        uid = meta(owner)["uid"]
        blocking = [d for d in self.dependents(uid) if _blocks(d, uid)]
        if not blocking:
            await self._remove_finalizer(owner, FOREGROUND)
            return
        for dep in blocking:
            if not deleting(dep):
                self.enqueue(item_key(dep))

    async def _remove_finalizer(self, obj: Obj, finalizer: str) -> None:
        def remove(live: Obj) -> Obj:
            kept = [f for f in meta(live).get("finalizers") or [] if f != finalizer]
            if kept:
                live["metadata"]["finalizers"] = kept
            else:
                live["metadata"].pop("finalizers", None)
            return live

        md = meta(obj)
        with contextlib.suppress(errors.NotFound):
            await self.client.mutate(
                obj["apiVersion"], obj["kind"], md["name"], remove, md.get("namespace")
            )


def _gc_finalizers(obj: Obj) -> bool:
    return bool({ORPHAN, FOREGROUND} & set(meta(obj).get("finalizers") or []))


def _blocks(dep: Obj, owner_uid: str) -> bool:
    return any(
        r.get("uid") == owner_uid and r.get("blockOwnerDeletion")
        for r in meta(dep).get("ownerReferences") or []
    )
