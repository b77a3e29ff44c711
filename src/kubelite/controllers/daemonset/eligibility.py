"""Which nodes a DaemonSet runs on, and how its pods are pinned there.

As upstream's `NodeShouldRunDaemonPod`: the daemon pod the node would get
(the template plus the tolerations every daemon pod carries) must fit the
node's name, its required node affinity and nodeSelector, and tolerate its
NoSchedule and NoExecute taints. A pod already running stays while it
tolerates the NoExecute ones. Pods are placed by the default scheduler,
pinned to their node by a required `matchFields metadata.name In [node]`
affinity term (`ReplaceDaemonSetPodNodeNameNodeAffinity`).

The matching is written here rather than borrowed from the scheduler: parts
meet only at the API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubelite.api.nodeaffinity import (
    NODE_NAME_FIELD,
    find_untolerated_taint,
    required_affinity_matches,
)
from kubelite.controllers.objects import Obj, copy, meta

NO_SCHEDULE = "NoSchedule"
NO_EXECUTE = "NoExecute"

# The tolerations AddOrUpdateDaemonPodTolerations gives every daemon pod.
_DAEMON_TOLERATIONS: tuple[tuple[str, str], ...] = (
    ("node.kubernetes.io/not-ready", NO_EXECUTE),
    ("node.kubernetes.io/unreachable", NO_EXECUTE),
    ("node.kubernetes.io/disk-pressure", NO_SCHEDULE),
    ("node.kubernetes.io/memory-pressure", NO_SCHEDULE),
    ("node.kubernetes.io/pid-pressure", NO_SCHEDULE),
    ("node.kubernetes.io/unschedulable", NO_SCHEDULE),
)
_HOST_NETWORK_TOLERATION = ("node.kubernetes.io/network-unavailable", NO_SCHEDULE)


def _same_toleration(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Toleration.MatchToleration: same key, effect, operator and value."""
    return all((a.get(k) or "") == (b.get(k) or "") for k in ("key", "effect", "operator", "value"))


def _add_or_update_toleration(spec: dict[str, Any], toleration: dict[str, Any]) -> None:
    existing = list(spec.get("tolerations") or [])
    for i, t in enumerate(existing):
        if _same_toleration(t, toleration):
            existing[i] = toleration
            spec["tolerations"] = existing
            return
    spec["tolerations"] = [*existing, toleration]


def add_daemon_tolerations(spec: dict[str, Any]) -> None:
    """Tolerate the node-condition taints, so node trouble never evicts a daemon."""
    wanted = list(_DAEMON_TOLERATIONS)
    if spec.get("hostNetwork"):
        wanted.append(_HOST_NETWORK_TOLERATION)
    for key, effect in wanted:
        _add_or_update_toleration(spec, {"key": key, "operator": "Exists", "effect": effect})


def daemon_pod_spec(ds: Obj, node_name: str) -> dict[str, Any]:
    """`NewPod`'s spec: the template's, on `node_name`, with the daemon tolerations."""
    spec: dict[str, Any] = copy(((ds.get("spec") or {}).get("template") or {}).get("spec") or {})
    spec["nodeName"] = node_name
    add_daemon_tolerations(spec)
    return spec


def node_should_run(node: Obj, ds: Obj) -> tuple[bool, bool]:
    """(should run, should continue running) a daemon pod of `ds` on `node`."""
    name = meta(node).get("name") or ""
    template_spec = ((ds.get("spec") or {}).get("template") or {}).get("spec") or {}
    if template_spec.get("nodeName") not in (None, "", name):
        return False, False
    spec = daemon_pod_spec(ds, name)
    if not required_affinity_matches(spec, node):
        return False, False
    taints = (node.get("spec") or {}).get("taints") or []
    tolerations = spec.get("tolerations") or []
    if find_untolerated_taint(taints, tolerations, frozenset({NO_SCHEDULE, NO_EXECUTE})) is None:
        return True, True
    return False, find_untolerated_taint(taints, tolerations, frozenset({NO_EXECUTE})) is None


# ---- pinning pods to nodes ---------------------------------------------------------


def _node_name_term(node_name: str) -> dict[str, Any]:
    return {
        "matchFields": [{"key": NODE_NAME_FIELD, "operator": "In", "values": [node_name]}],
    }


def pin_to_node(affinity: Mapping[str, Any] | None, node_name: str) -> dict[str, Any]:
    """ReplaceDaemonSetPodNodeNameNodeAffinity: the required terms become one name term.

    Preferred terms and pod (anti-)affinity stay; the replaced required terms
    were already checked against this node by `node_should_run`.
    """
    out: dict[str, Any] = copy(dict(affinity or {}))
    node_affinity = out.setdefault("nodeAffinity", {})
    if node_affinity is None:
        node_affinity = out["nodeAffinity"] = {}
    required = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
    if required is None:
        required = node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = {}
    required["nodeSelectorTerms"] = [_node_name_term(node_name)]
    return out


def target_node(pod: Obj) -> str | None:
    """GetTargetNodeName: the bound node, else the one the name affinity pins it to."""
    spec = pod.get("spec") or {}
    if spec.get("nodeName"):
        return str(spec["nodeName"])
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    for term in required.get("nodeSelectorTerms") or []:
        for f in term.get("matchFields") or []:
            if f.get("key") == NODE_NAME_FIELD and f.get("operator") == "In":
                values = f.get("values") or []
                return str(values[0]) if len(values) == 1 else None
    return None
