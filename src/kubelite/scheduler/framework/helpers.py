"""Small readers over Kubernetes-shaped dicts shared by several plugins.

Label selectors (metav1.LabelSelector), node selector terms (v1.NodeSelector),
taints and tolerations follow the upstream helper semantics: a nil label
selector matches nothing, an empty one matches everything; an empty node
selector term matches nothing; a toleration with an empty key and ``Exists``
tolerates every taint.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "Selector",
    "compile_label_selector",
    "find_untolerated_taint",
    "match_node_selector_terms",
    "pod_key",
    "pod_priority",
    "required_node_affinity_matches",
    "tolerates",
]

Obj = Mapping[str, Any]


class Selector:
    """A compiled label selector; ``None`` source compiles to match-nothing."""

    __slots__ = ("labels", "exprs", "nothing")

    def __init__(self, labels: dict[str, str], exprs: list[tuple[str, str, frozenset[str]]]):
        self.labels = labels
        self.exprs = exprs
        self.nothing = False

    @property
    def empty(self) -> bool:
        return not self.nothing and not self.labels and not self.exprs

    def matches(self, labels: Mapping[str, str] | None) -> bool:
        if self.nothing:
            return False
        labels = labels or {}
        for key, val in self.labels.items():
            if labels.get(key) != val:
                return False
        return all(_label_requirement(labels, key, op, values) for key, op, values in self.exprs)


def _label_requirement(
    labels: Mapping[str, str], key: str, op: str, values: frozenset[str]
) -> bool:
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    return False


def compile_label_selector(sel: Obj | None) -> Selector:
    """Compile a metav1.LabelSelector dict."""
    if sel is None:
        out = Selector({}, [])
        out.nothing = True
        return out
    exprs = [
        (e["key"], e["operator"], frozenset(e.get("values") or ()))
        for e in sel.get("matchExpressions") or ()
    ]
    return Selector(dict(sel.get("matchLabels") or {}), exprs)


def _node_requirement(value: str | None, op: str, values: list[str]) -> bool:
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


def _term_matches(term: Obj, node: Obj) -> bool:
    exprs = term.get("matchExpressions") or ()
    fields = term.get("matchFields") or ()
    if not exprs and not fields:
        return False  # an empty term matches no objects
    labels = node.get("metadata", {}).get("labels") or {}
    for e in exprs:
        if not _node_requirement(labels.get(e["key"]), e["operator"], e.get("values") or []):
            return False
    name = node.get("metadata", {}).get("name")
    for f in fields:
        if f["key"] != "metadata.name":
            return False
        if not _node_requirement(name, f["operator"], f.get("values") or []):
            return False
    return True


def match_node_selector_terms(terms: Iterable[Obj], node: Obj) -> bool:
    """Terms are ORed; requirements inside a term are ANDed."""
    return any(_term_matches(t, node) for t in terms)


def required_node_affinity_matches(pod: Obj, node: Obj) -> bool:
    """The pod's nodeSelector and requiredDuringScheduling node affinity both hold."""
    spec = pod.get("spec", {})
    selector = spec.get("nodeSelector")
    if selector:
        labels = node.get("metadata", {}).get("labels") or {}
        for key, val in selector.items():
            if labels.get(key) != val:
                return False
    required = (
        (spec.get("affinity") or {})
        .get("nodeAffinity", {})
        .get("requiredDuringSchedulingIgnoredDuringExecution")
    )
    if required is not None:
        return match_node_selector_terms(required.get("nodeSelectorTerms") or (), node)
    return True


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
    if op == "Equal":
        return (toleration.get("value") or "") == (taint.get("value") or "")
    return False


def find_untolerated_taint(
    taints: Iterable[Obj], tolerations: Iterable[Obj], effects: frozenset[str]
) -> Obj | None:
    """The first taint with one of ``effects`` that no toleration tolerates."""
    tols = list(tolerations)
    for taint in taints:
        if taint.get("effect") not in effects:
            continue
        if not any(tolerates(t, taint) for t in tols):
            return taint
    return None


def pod_priority(pod: Obj) -> int:
    prio = pod.get("spec", {}).get("priority")
    return int(prio) if prio is not None else 0


def pod_key(pod: Obj) -> str:
    meta = pod.get("metadata", {})
    return f"{meta.get('namespace') or 'default'}/{meta.get('name', '')}"
