"""Small readers over Kubernetes-shaped dicts shared by several plugins.

Label selectors (metav1.LabelSelector), node selector terms (v1.NodeSelector),
taints and tolerations follow the upstream helper semantics: a nil label
selector matches nothing, an empty one matches everything; an empty node
selector term matches nothing; a toleration with an empty key and ``Exists``
tolerates every taint.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubelite.api.nodeaffinity import (
    find_untolerated_taint,
    match_node_selector_terms,
    required_affinity_matches,
    tolerates,
)

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


def required_node_affinity_matches(pod: Obj, node: Obj) -> bool:
    """The pod's nodeSelector and requiredDuringScheduling node affinity both hold."""
    return required_affinity_matches(pod.get("spec", {}), node)


def pod_priority(pod: Obj) -> int:
    prio = pod.get("spec", {}).get("priority")
    return int(prio) if prio is not None else 0


def pod_key(pod: Obj) -> str:
    meta = pod.get("metadata", {})
    return f"{meta.get('namespace') or 'default'}/{meta.get('name', '')}"
