"""The ClusterRole aggregation controller: `admin`, `edit` and `view` grow with their labels.

As upstream's clusterrole-aggregation controller: a ClusterRole with an
`aggregationRule` gets as `rules` the rules of every other ClusterRole that
matches any of its `clusterRoleSelectors`, those roles taken in name order and
each rule once (the first time it appears). So a chart's ClusterRole labelled
`rbac.authorization.k8s.io/aggregate-to-view: "true"` adds its rules to `view`,
and, through `view`'s own aggregate-to-edit label, to `edit` and `admin`.

Any ClusterRole change may change any aggregate, so every change enqueues
every aggregating ClusterRole (there are few); the reconcile recomputes one
from the cache and writes it only when its rules differ.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from kubelite.api.selectors import LabelSelector, SelectorError, selector_from_dict
from kubelite.apiserver import errors
from kubelite.controllers.controller import Controller
from kubelite.controllers.informer import Handlers
from kubelite.controllers.objects import Obj, copy, labels, meta

log = logging.getLogger(__name__)

RBAC = "rbac.authorization.k8s.io/v1"


def selectors_of(role: Mapping[str, Any]) -> list[LabelSelector] | None:
    """The role's clusterRoleSelectors; None when it does not aggregate."""
    rule = role.get("aggregationRule")
    if rule is None:
        return None
    out = []
    for sel in rule.get("clusterRoleSelectors") or []:
        try:
            out.append(selector_from_dict(sel))
        except SelectorError:  # validation refuses these; a stored one matches nothing
            continue
    return out


def aggregated_rules(role: Mapping[str, Any], roles: Iterable[Mapping[str, Any]]) -> list[Obj]:
    """The union of the matching roles' rules, as upstream orders and de-duplicates it."""
    selectors = selectors_of(role) or []
    name = meta(role).get("name")
    matched = sorted(
        (r for r in roles if meta(r).get("name") != name and _matches(selectors, r)),
        key=lambda r: str(meta(r).get("name")),
    )
    rules: list[Obj] = []
    for source in matched:
        for rule in source.get("rules") or []:
            if not any(_same_rule(rule, have) for have in rules):
                rules.append(copy(rule))
    return rules


def _matches(selectors: list[LabelSelector], role: Mapping[str, Any]) -> bool:
    role_labels = labels(role)
    return any(sel.matches(role_labels) for sel in selectors)


def _same_rule(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Semantic equality: an absent list is the same as an empty one."""
    keys = set(a) | set(b)
    return all((a.get(k) or None) == (b.get(k) or None) for k in keys)


def same_rules(a: list[Any] | None, b: list[Any] | None) -> bool:
    a, b = a or [], b or []
    return len(a) == len(b) and all(_same_rule(x, y) for x, y in zip(a, b, strict=True))


class ClusterRoleAggregationController(Controller):
    name = "clusterrole-aggregation-controller"
    workers = 1  # one writer: aggregates feed each other (view -> edit -> admin)

    def setup(self) -> None:
        self.roles = self.informers.informer(RBAC, "ClusterRole")
        self.roles.add_handlers(
            Handlers(
                on_add=lambda _r: self._enqueue_aggregates(),
                on_update=lambda _old, _new: self._enqueue_aggregates(),
                on_delete=lambda _r: self._enqueue_aggregates(),
            )
        )

    def _enqueue_aggregates(self) -> None:
        # Also after our own writes: an aggregate's new rules feed those selecting it.
        for role in self.roles.list():
            if role.get("aggregationRule") is not None:
                self.enqueue(meta(role)["name"])

    async def reconcile(self, key: str) -> float | None:
        role = self.roles.get(key)
        if role is None or role.get("aggregationRule") is None:
            return None
        rules = aggregated_rules(role, self.roles.list())
        if same_rules(role.get("rules"), rules):
            return None
        updated = copy(role)
        updated["rules"] = rules
        try:
            await self.client.update(updated)
        except errors.NotFound:
            return None  # deleted meanwhile
        log.info("aggregated %d rules into ClusterRole %s", len(rules), key)
        return None


__all__ = ["ClusterRoleAggregationController", "aggregated_rules", "same_rules", "selectors_of"]
