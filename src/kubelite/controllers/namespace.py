"""The namespace controller: deleting a namespace deletes what it holds.

A namespace being deleted is `Terminating` and keeps the `kubernetes`
finalizer until every namespaced object in it is gone; then the controller
removes the finalizer and the API deletes the namespace, as upstream's
namespace deleter does. Pods take their grace period, so a namespace with
running pods is looked at again until they are gone.

While it waits, the namespace's `status.conditions` say why, with upstream's
five condition types, reasons and messages (which resources remain, and which
finalizers hold them), so `kubectl describe ns` shows what blocks it.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections import Counter
from typing import Any

from kubelite.apiserver import errors
from kubelite.controllers.controller import Controller
from kubelite.controllers.informer import Handlers
from kubelite.controllers.objects import Obj, deleting, key_of, timestamp

log = logging.getLogger(__name__)
FINALIZER = "kubernetes"
RECHECK_S = 0.5
# Upstream's condition types, in its order, with the reason and message of each when fine.
OK_CONDITIONS = (
    (
        "NamespaceDeletionDiscoveryFailure",
        "ResourcesDiscovered",
        "All resources successfully discovered",
    ),
    (
        "NamespaceDeletionGroupVersionParsingFailure",
        "ParsedGroupVersions",
        "All legacy kube types successfully parsed",
    ),
    (
        "NamespaceDeletionContentFailure",
        "ContentDeleted",
        "All content successfully deleted, may be waiting on finalization",
    ),
    ("NamespaceContentRemaining", "ContentRemoved", "All content successfully removed"),
    (
        "NamespaceFinalizersRemaining",
        "ContentHasNoFinalizers",
        "All content-preserving finalizers finished",
    ),
)


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
        listed = []
        failures: list[str] = []  # one per resource type whose deletion failed, as upstream
        # Asked each time: custom resources come and go with their CRDs. Their
        # versions share one store, so each (group, resource) is listed once.
        seen: set[tuple[str, str]] = set()
        for rt in client.served_types():
            if not rt.namespaced or not rt.stored or (rt.group, rt.plural) in seen:
                continue
            seen.add((rt.group, rt.plural))
            items, _ = await client.list(rt.api_version, rt.kind, name)
            if items:
                listed.append(rt)
            failed = False
            for obj in items:
                remaining += 1
                if deleting(obj) or failed:
                    continue
                try:
                    await client.delete(
                        rt.api_version,
                        rt.kind,
                        obj["metadata"]["name"],
                        name,
                        propagation_policy="Background",
                    )
                except (errors.NotFound, errors.Conflict):
                    pass
                except errors.ApiError as exc:
                    # Refused (an admission policy, a webhook): this type's deletion
                    # stops here; every other type's goes on.
                    failures.append(exc.message)
                    failed = True
        await self._report(ns, await self._left(name, listed), failures)
        if remaining == 0:
            finalizers = [
                f for f in (ns.get("spec") or {}).get("finalizers") or [] if f != FINALIZER
            ]
            with contextlib.suppress(errors.NotFound):
                await client.finalize_namespace(name, finalizers)
        return remaining

    async def _left(self, namespace: str, types: list[Any]) -> tuple[list[str], list[str]]:
        """What is still there after this pass, as upstream words it: each resource's
        count (`configmaps. has 1 resource instances`) and each finalizer's."""
        resources: list[str] = []
        finalizers: Counter[str] = Counter()
        for rt in types:
            items, _ = await self.client.list(rt.api_version, rt.kind, namespace)
            if items:
                resources.append(f"{rt.plural}.{rt.group} has {len(items)} resource instances")
            for obj in items:
                finalizers.update(obj["metadata"].get("finalizers") or ())
        held = [f"{f} in {n} resource instances" for f, n in finalizers.items()]
        return sorted(resources), sorted(held)

    async def _report(
        self, ns: Obj, left: tuple[list[str], list[str]], failures: list[str]
    ) -> None:
        """The deletion's conditions, written when any changed."""
        resources, finalizers = left
        wanted = {t: ("False", reason, message) for t, reason, message in OK_CONDITIONS}
        if failures:
            errs = failures[0] if len(failures) == 1 else "[" + ", ".join(failures) + "]"
            wanted["NamespaceDeletionContentFailure"] = (
                "True",
                "ContentDeletionFailed",
                f"Failed to delete all resource types, {len(failures)} remaining: {errs}",
            )
        if resources:
            wanted["NamespaceContentRemaining"] = (
                "True",
                "SomeResourcesRemain",
                f"Some resources are remaining: {', '.join(resources)}",
            )
        if finalizers:
            wanted["NamespaceFinalizersRemaining"] = (
                "True",
                "SomeFinalizersRemain",
                "Some content in the namespace has finalizers remaining: " + ", ".join(finalizers),
            )
        now = timestamp(self.clock())

        def apply(obj: Obj) -> Obj:
            conditions = obj.setdefault("status", {}).setdefault("conditions", [])
            by_type = {c.get("type"): c for c in conditions}
            for type_, (status, reason, message) in wanted.items():
                c = by_type.get(type_)
                if c is None:
                    conditions.append(
                        {
                            "type": type_,
                            "status": status,
                            "lastTransitionTime": now,
                            "reason": reason,
                            "message": message,
                        }
                    )
                    continue
                if c.get("status") != status:
                    c.update(status=status, lastTransitionTime=now)
                c.update(reason=reason, message=message)
            return obj

        current = (ns.get("status") or {}).get("conditions") or []
        if current and apply(copy.deepcopy(ns))["status"]["conditions"] == current:
            return
        with contextlib.suppress(errors.NotFound, errors.Conflict):
            await self.client.mutate(
                "v1", "Namespace", ns["metadata"]["name"], apply, subresource="status"
            )
