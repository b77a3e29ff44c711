"""Table printers for the policy kinds: NetworkPolicy, LimitRange, ResourceQuota, PodTemplate.

Ported from kube-apiserver's printers (v1.32): the columns kubectl shows are
the server's. ResourceQuota's REQUEST and LIMIT cells list `name: used/hard`
for every resource in `status.hard`, limits.* under LIMIT and everything else
under REQUEST; a quota the controller has not yet counted shows empty cells,
as upstream's does.
"""

from __future__ import annotations

from datetime import datetime

from kubelite.api.validation_meta import quantity_string
from kubelite.apiserver.tables_format import (
    container_cells,
    format_label_selector,
    format_labels,
    since,
)
from kubelite.apiserver.tables_printers import AGE, AGE_DOC, NAME, Obj, Printer, Row, col

_POD_SELECTOR_DOC = (
    "Selects the pods to which this NetworkPolicy object applies. The array of ingress rules "
    "is applied to any pods selected by this field. Multiple network policies can select the "
    "same set of pods. In this case, the ingress rules for each are combined additively. "
    "This field is NOT optional and follows standard label selector semantics. An empty "
    "podSelector matches all pods in this namespace."
)


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name", ""))


def _age(obj: Obj, now: datetime) -> str:
    return since((obj.get("metadata") or {}).get("creationTimestamp"), now)


def _network_policy(obj: Obj, now: datetime) -> Row:
    selector = (obj.get("spec") or {}).get("podSelector") or {}
    return [_name(obj), format_label_selector(selector), _age(obj, now)], None


NETWORK_POLICY = Printer((NAME, col("Pod-Selector", _POD_SELECTOR_DOC), AGE), _network_policy)


def _limit_range(obj: Obj, now: datetime) -> Row:
    # A metav1.Time cell: kubectl prints its RFC 3339 text.
    return [_name(obj), (obj.get("metadata") or {}).get("creationTimestamp")], None


LIMIT_RANGE = Printer((NAME, col("Created At", AGE_DOC, "date")), _limit_range)


def _resource_quota(obj: Obj, now: datetime) -> Row:
    status = obj.get("status") or {}
    hard, used = status.get("hard") or {}, status.get("used") or {}
    requests: list[str] = []
    limits: list[str] = []
    for name in sorted(hard):
        cell = f"{name}: {quantity_string(used.get(name, '0'))}/{quantity_string(hard[name])}"
        (limits if name.split(".")[0] == "limits" and "." in name else requests).append(cell)
    return [_name(obj), _age(obj, now), ", ".join(requests), ", ".join(limits)], None


RESOURCE_QUOTA = Printer(
    (
        NAME,
        AGE,
        col(
            "Request",
            "Request represents a minimum amount of cpu/memory that a container may consume.",
        ),
        col(
            "Limit",
            "Limits control the maximum amount of cpu/memory that a container may use "
            "independent of contention on the node.",
        ),
    ),
    _resource_quota,
)


def _pod_template(obj: Obj, now: datetime) -> Row:
    template = obj.get("template") or {}
    names, images = container_cells((template.get("spec") or {}).get("containers"))
    labels = (template.get("metadata") or {}).get("labels")
    return [_name(obj), names, images, format_labels(labels)], None


POD_TEMPLATE = Printer(
    (
        NAME,
        col("Containers", "Names of each container in the template."),
        col("Images", "Images referenced by each container in the template."),
        col("Pod Labels", "The labels for the pod template."),
    ),
    _pod_template,
)

__all__ = ["LIMIT_RANGE", "NETWORK_POLICY", "POD_TEMPLATE", "RESOURCE_QUOTA"]
