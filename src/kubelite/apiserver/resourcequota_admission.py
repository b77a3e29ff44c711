"""The ResourceQuota admission plugin: refuse what would take a namespace over `hard`.

It runs last, on the defaulted and validated object (after LimitRanger has
filled in requests and limits), as upstream orders it. For each quota in the
namespace whose `spec.hard` names something the object uses and whose scopes
match it:

- a pod must state, in every container, each of cpu/memory (requests or
  limits) the quota limits: `failed quota: q: must specify limits.cpu for: app`;
- usage after the write may not exceed `hard`: `exceeded quota: q, requested:
  pods=1, used: pods=2, limited: pods=2`.

Both are 403s worded as upstream's. Creates are charged for every kind; an
update only for Services and claims (a type or size change). Upstream charges
against the quota's `status.used` and bumps it in the same request, so
concurrent writers cannot both slip under the limit. The store is written by
one thread here, so the namespace's usage is counted afresh from the stored
objects instead: exact, and independent of how far the quota controller has
caught up (a quota binds from its first write, not from its first status).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubelite.api import quota as rl
from kubelite.api.registry import REGISTRY
from kubelite.apiserver import errors

if TYPE_CHECKING:
    from kubelite.apiserver.admission import Attributes
    from kubelite.apiserver.rest import RestStorage

NAME = "ResourceQuota"
RESOURCE_QUOTA = REGISTRY.by_kind("v1", "ResourceQuota")
_CHARGED_ON_UPDATE = frozenset({("", "services"), ("", "persistentvolumeclaims")})

Obj = dict[str, Any]


class _Quotas:
    """Every namespace's quotas, re-read only after a quota was written: most writes
    land in namespaces without any, and a list per write grew with the store."""

    def __init__(self) -> None:
        self._seen: tuple[object, int] | None = None
        self._by_namespace: dict[str, list[Obj]] = {}

    def of(self, storage: RestStorage, namespace: str) -> list[Obj]:
        assert RESOURCE_QUOTA is not None
        store = storage.store
        seen = (store, store.kind_revision(RESOURCE_QUOTA.prefix()))
        if self._seen is None or seen[0] is not self._seen[0] or seen[1] != self._seen[1]:
            items, _, _ = store.list(RESOURCE_QUOTA.prefix())
            by_namespace: dict[str, list[Obj]] = {}
            for kv in items:
                quota = kv.obj()
                by_namespace.setdefault(quota["metadata"].get("namespace", ""), []).append(quota)
            self._by_namespace, self._seen = by_namespace, seen
        return self._by_namespace.get(namespace, [])


def _forbidden(attrs: Attributes, message: str) -> errors.Forbidden:
    """admission.NewForbidden: the resource qualified by its group, as upstream names it."""
    from kubelite.apiserver.webhook_match import admission_forbidden

    rt = attrs.resource
    text, details = admission_forbidden(rt.plural, rt.group, attrs.name, message)
    return errors.Forbidden(text, details=details)


class ResourceQuotaAdmission:
    """Upstream's ResourceQuota plugin, counting usage live from the store."""

    def __init__(self) -> None:
        self._quotas = _Quotas()  # shared lists: read them, never change them

    def admit(
        self, attrs: Attributes, obj: Obj | None, old: Obj | None, storage: RestStorage
    ) -> None:
        """Nothing to change: quota only validates."""

    def validate(self, attrs: Attributes, obj: Obj, old: Obj | None, storage: RestStorage) -> None:
        rt = attrs.resource
        if attrs.subresource or not rt.namespaced or not attrs.namespace:
            return
        key = (rt.group, rt.plural)
        if attrs.operation != "CREATE" and not (
            attrs.operation == "UPDATE" and key in _CHARGED_ON_UPDATE
        ):
            return
        quotas = self._quotas.of(storage, attrs.namespace)
        matched: list[tuple[Obj, rl.ResourceList, set[str]]] = []
        for quota in quotas:
            hard = rl.parse_list((quota.get("spec") or {}).get("hard"))
            names = rl.tracked(rt.group, rt.plural, hard)
            if not names or not rl.in_scope(rt.group, rt.plural, obj, quota):
                continue
            if key == ("", "pods") and (missing := rl.missing_compute(obj, names)):
                raise _forbidden(attrs, f"failed quota: {quota['metadata']['name']}: {missing}")
            matched.append((quota, hard, names))
        if not matched:
            return
        now = storage.clock()
        delta = rl.usage(rt.group, rt.plural, obj, now)
        if old is not None:
            delta = rl.subtract_non_negative(delta, rl.usage(rt.group, rt.plural, old, now))
        if not rl.remove_zeros(delta):
            return
        stored = [kv.obj() for kv in storage.store.list(rt.prefix(attrs.namespace))[0]]
        for quota, hard, names in matched:
            requested = rl.remove_zeros(rl.mask(delta, names))
            if not requested:
                continue
            used = rl.namespace_usage(rt.group, rt.plural, stored, quota, names, now)
            over = rl.exceeded(rl.mask(rl.add(used, requested), requested), hard)
            if over:
                raise _forbidden(
                    attrs,
                    f"exceeded quota: {quota['metadata']['name']}, "
                    f"requested: {rl.pretty(rl.mask(requested, over))}, "
                    f"used: {rl.pretty(rl.mask(used, over))}, "
                    f"limited: {rl.pretty(rl.mask(hard, over))}",
                )


__all__ = ["NAME", "ResourceQuotaAdmission"]
