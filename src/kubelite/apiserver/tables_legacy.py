"""Table printers for the legacy core/v1 kinds: ReplicationController, ComponentStatus.

Ported from kube-apiserver's printers (v1.32). An RC prints as a ReplicaSet
does, its map selector written as `labels.FormatLabels` writes it. A
ComponentStatus's STATUS comes from its Healthy condition: Healthy when
True, Unhealthy otherwise, Unknown without one.
"""

from __future__ import annotations

from datetime import datetime

from kubelite.apiserver.tables_format import container_cells, format_labels, since
from kubelite.apiserver.tables_printers import AGE, CONTAINERS, IMAGES, NAME, Obj, Printer, Row, col

_RC_DOCS = "https://kubernetes.io/docs/concepts/workloads/controllers/replicationcontroller"
_DESIRED_DOC = (
    "Replicas is the number of desired replicas. This is a pointer to distinguish between "
    "explicit zero and unspecified. Defaults to 1. More info: "
    f"{_RC_DOCS}#what-is-a-replicationcontroller"
)
_CURRENT_DOC = (
    "Replicas is the most recently observed number of replicas. More info: "
    f"{_RC_DOCS}#what-is-a-replicationcontroller"
)
_SELECTOR_DOC = (
    "Selector is a label query over pods that should match the Replicas count. If Selector is "
    "empty, it is defaulted to the labels present on the Pod template. Label keys and values "
    "that must match in order to be controlled by this replication controller, if empty "
    "defaulted to labels on Pod template. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors"
)


def _replication_controller(obj: Obj, now: datetime) -> Row:
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    metadata = obj.get("metadata") or {}
    template = spec.get("template") or {}
    names, images = container_cells((template.get("spec") or {}).get("containers") or [])
    cells = [
        metadata.get("name", ""),
        int(spec.get("replicas") or 0),
        int(status.get("replicas") or 0),
        int(status.get("readyReplicas") or 0),
        since(metadata.get("creationTimestamp"), now),
        names,
        images,
        format_labels(spec.get("selector")),
    ]
    return cells, None


REPLICATION_CONTROLLER = Printer(
    (
        NAME,
        col("Desired", _DESIRED_DOC, "integer"),
        col("Current", _CURRENT_DOC, "integer"),
        col("Ready", "The number of ready replicas for this replication controller.", "integer"),
        AGE,
        CONTAINERS,
        IMAGES,
        col("Selector", _SELECTOR_DOC, priority=1),
    ),
    _replication_controller,
)


def _component_status(obj: Obj, _now: datetime) -> Row:
    status, message, error = "Unknown", "", ""
    for cond in obj.get("conditions") or []:
        if cond.get("type") == "Healthy":
            status = "Healthy" if cond.get("status") == "True" else "Unhealthy"
            message, error = cond.get("message") or "", cond.get("error") or ""
            break
    return [(obj.get("metadata") or {}).get("name", ""), status, message, error], None


COMPONENT_STATUS = Printer(
    (
        NAME,
        col("Status", "Status of the component conditions"),
        col("Message", "Message of the component conditions"),
        col("Error", "Error of the component conditions"),
    ),
    _component_status,
)

__all__ = ["COMPONENT_STATUS", "REPLICATION_CONTROLLER"]
