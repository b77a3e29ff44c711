"""Node affinity and taint toleration, as the scheduler and controllers read them.

Upstream keeps these in component-helpers (scheduling/corev1) so that
kube-scheduler and the DaemonSet controller decide alike whether a pod may
run on a node; here both import them from the object model.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Obj = Mapping[str, Any]
NODE_NAME_FIELD = "metadata.name"  # the one field a nodeSelectorTerm's matchFields may name


def requirement_matches(value: str | None, op: str, values: list[str]) -> bool:
    """One NodeSelectorRequirement against a label's (or field's) value, None when absent."""
    if op == "In":
        return value is not None and value in values
    if op == "NotIn":
        return value is None or value not in values
    if op == "Exists":
        return value is not None
    if op == "DoesNotExist":
        return value is None
    if op in ("Gt", "Lt") and value is not None and len(values) == 1:
        try:
            have, want = int(value), int(values[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    return False


def term_matches(term: Obj, node: Obj) -> bool:
    """A NodeSelectorTerm: its requirements ANDed; an empty term matches no node."""
    exprs = term.get("matchExpressions") or ()
    fields = term.get("matchFields") or ()
    if not exprs and not fields:
        return False
    node_meta = node.get("metadata") or {}
    labels = node_meta.get("labels") or {}
    for e in exprs:
        if not requirement_matches(
            labels.get(e.get("key")), e.get("operator"), e.get("values") or []
        ):
            return False
    for f in fields:
        if f.get("key") != NODE_NAME_FIELD or f.get("operator") not in ("In", "NotIn"):
            return False  # upstream refuses any other field selector: the term matches nothing
        if not requirement_matches(node_meta.get("name"), f["operator"], f.get("values") or []):
            return False
    return True


def match_node_selector_terms(terms: Iterable[Obj], node: Obj) -> bool:
    """Terms are ORed; requirements inside a term are ANDed."""
    return any(term_matches(t, node) for t in terms)


def required_affinity_matches(spec: Obj, node: Obj) -> bool:
    """A pod spec's nodeSelector and requiredDuringScheduling node affinity both hold."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    for key, value in (spec.get("nodeSelector") or {}).items():
        if labels.get(key) != value:
            return False
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    )
    if required is None:
        return True
    return match_node_selector_terms(required.get("nodeSelectorTerms") or (), node)


def tolerates(toleration: Obj, taint: Obj) -> bool:
    """v1.Toleration.ToleratesTaint."""
    effect = toleration.get("effect") or ""
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key") or ""
    if key and key != taint.get("key"):
        return False
    op = toleration.get("operator") or "Equal"
    if op == "Exists":
        return True
    return op == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def find_untolerated_taint(
    taints: Iterable[Obj], tolerations: Iterable[Obj], effects: frozenset[str]
) -> Obj | None:
    """The first taint with one of `effects` that no toleration tolerates."""
    tols = list(tolerations)
    for taint in taints:
        if taint.get("effect") in effects and not any(tolerates(t, taint) for t in tols):
            return taint
    return None
