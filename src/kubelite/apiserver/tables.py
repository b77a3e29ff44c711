"""Server-side printing: objects as `meta.k8s.io/v1` Tables.

`kubectl get` asks for `application/json;as=Table;v=v1;g=meta.k8s.io` and
prints whatever columns the server sends; the server owns them. A plain list
would make kubectl print only NAME and AGE. The per-kind printers are ports of
kube-apiserver's (see `tables_printers` and `tables_pod`); a kind without one
gets NAME and AGE.

Like upstream's `asTable`, each row carries the object as kubectl asked with
`includeObject`: `Metadata` (a PartialObjectMetadata, the default), `Object`
(the whole object; `--sort-by` and `-o custom-columns` need it) or `None`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from kubelite.api.registry import ResourceType
from kubelite.apiserver import errors
from kubelite.apiserver.tables_admission import WEBHOOK_CONFIGURATION
from kubelite.apiserver.tables_admission_policy import BINDING as VAP_BINDING
from kubelite.apiserver.tables_admission_policy import POLICY as VAP
from kubelite.apiserver.tables_certificates import CERTIFICATE_SIGNING_REQUEST
from kubelite.apiserver.tables_csi import (
    CSI_DRIVER,
    CSI_NODE,
    CSI_STORAGE_CAPACITY,
    VOLUME_ATTACHMENT,
)
from kubelite.apiserver.tables_custom import CUSTOM_RESOURCE_DEFINITION, printer_for
from kubelite.apiserver.tables_format import human_duration, since
from kubelite.apiserver.tables_hpa import HORIZONTAL_POD_AUTOSCALER
from kubelite.apiserver.tables_legacy import COMPONENT_STATUS, REPLICATION_CONTROLLER
from kubelite.apiserver.tables_pod import POD
from kubelite.apiserver.tables_policy import (
    LIMIT_RANGE,
    NETWORK_POLICY,
    POD_TEMPLATE,
    RESOURCE_QUOTA,
)
from kubelite.apiserver.tables_printers import (
    AGE,
    CLUSTER_ROLE_BINDING,
    CONFIG_MAP,
    CONTROLLER_REVISION,
    CRON_JOB,
    DAEMON_SET,
    DEPLOYMENT,
    ENDPOINT_SLICE,
    ENDPOINTS,
    EVENT,
    INGRESS,
    INGRESS_CLASS,
    JOB,
    LEASE,
    NAME,
    NAMESPACE,
    NODE,
    PERSISTENT_VOLUME,
    PERSISTENT_VOLUME_CLAIM,
    POD_DISRUPTION_BUDGET,
    PRIORITY_CLASS,
    REPLICA_SET,
    ROLE,
    ROLE_BINDING,
    RUNTIME_CLASS,
    SECRET,
    SERVICE,
    SERVICE_ACCOUNT,
    STATEFUL_SET,
    STORAGE_CLASS,
    Printer,
    Row,
)
from kubelite.apiserver.tables_scale import SCALE

__all__ = ["PRINTERS", "columns_for", "human_duration", "to_table"]

INCLUDE_OBJECT = ("None", "Metadata", "Object")


def _generic(obj: Mapping[str, Any], now: datetime) -> Row:
    metadata = obj.get("metadata") or {}
    return [metadata.get("name", ""), since(metadata.get("creationTimestamp"), now)], None


GENERIC = Printer((NAME, AGE), _generic)

# By kind; Event serves both core/v1 and events.k8s.io/v1 (upstream prints
# both from one internal type).
PRINTERS: dict[str, Printer] = {
    "Pod": POD,
    "Deployment": DEPLOYMENT,
    "ReplicaSet": REPLICA_SET,
    "StatefulSet": STATEFUL_SET,
    "DaemonSet": DAEMON_SET,
    "ControllerRevision": CONTROLLER_REVISION,
    "Service": SERVICE,
    "Endpoints": ENDPOINTS,
    "EndpointSlice": ENDPOINT_SLICE,
    "ConfigMap": CONFIG_MAP,
    "Secret": SECRET,
    "ServiceAccount": SERVICE_ACCOUNT,
    "Namespace": NAMESPACE,
    "Node": NODE,
    "PersistentVolume": PERSISTENT_VOLUME,
    "PersistentVolumeClaim": PERSISTENT_VOLUME_CLAIM,
    "Event": EVENT,
    "PriorityClass": PRIORITY_CLASS,
    "StorageClass": STORAGE_CLASS,
    "CSIDriver": CSI_DRIVER,
    "CSINode": CSI_NODE,
    "VolumeAttachment": VOLUME_ATTACHMENT,
    "CSIStorageCapacity": CSI_STORAGE_CAPACITY,
    "CertificateSigningRequest": CERTIFICATE_SIGNING_REQUEST,
    "Lease": LEASE,
    "PodDisruptionBudget": POD_DISRUPTION_BUDGET,
    "Role": ROLE,
    "ClusterRole": ROLE,
    "RoleBinding": ROLE_BINDING,
    "ClusterRoleBinding": CLUSTER_ROLE_BINDING,
    "Job": JOB,
    "CronJob": CRON_JOB,
    "Ingress": INGRESS,
    "IngressClass": INGRESS_CLASS,
    "RuntimeClass": RUNTIME_CLASS,
    "HorizontalPodAutoscaler": HORIZONTAL_POD_AUTOSCALER,
    "CustomResourceDefinition": CUSTOM_RESOURCE_DEFINITION,
    "NetworkPolicy": NETWORK_POLICY,
    "LimitRange": LIMIT_RANGE,
    "ResourceQuota": RESOURCE_QUOTA,
    "PodTemplate": POD_TEMPLATE,
    "ReplicationController": REPLICATION_CONTROLLER,
    "ComponentStatus": COMPONENT_STATUS,
    "MutatingWebhookConfiguration": WEBHOOK_CONFIGURATION,
    "ValidatingWebhookConfiguration": WEBHOOK_CONFIGURATION,
    "ValidatingAdmissionPolicy": VAP,
    "ValidatingAdmissionPolicyBinding": VAP_BINDING,
    "Scale": SCALE,
}


def columns_for(kind: str) -> list[dict[str, Any]]:
    """The column definitions `to_table` uses for `kind`."""
    return [dict(c) for c in PRINTERS.get(kind, GENERIC).columns]


# ObjectMeta fields PartialObjectMetadata carries: all of them (it *is* ObjectMeta).
def _partial(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata") or {},
    }


def _row_object(obj: Mapping[str, Any], include_object: str) -> Any:
    if include_object == "Object":
        return obj
    if include_object == "None":
        return None
    return _partial(obj)


def _table_metadata(
    objects: list[dict[str, Any]], list_meta: dict[str, Any] | None
) -> dict[str, Any]:
    if list_meta is not None:
        return dict(list_meta)
    # A single object (a get, or a watch event): its resourceVersion, as upstream.
    if len(objects) == 1:
        rv = (objects[0].get("metadata") or {}).get("resourceVersion")
        if rv:
            return {"resourceVersion": rv}
    return {}


def to_table(
    kind: str,
    objects: list[dict[str, Any]],
    *,
    include_object: str = "Metadata",
    list_meta: dict[str, Any] | None = None,
    now: datetime | None = None,
    include_columns: bool = True,
    resource: ResourceType | None = None,
) -> dict[str, Any]:
    """A `meta.k8s.io/v1` Table of `objects`, all of kind `kind`.

    `include_object` is the request's `includeObject` ("" means Metadata);
    anything else is a 400, as upstream. `list_meta` (resourceVersion,
    continue, remainingItemCount) becomes the Table's metadata.
    `include_columns=False` leaves `columnDefinitions` empty, as upstream's
    `TableOptions.noHeaders`; watch events may use it after the first event,
    but kubectl copes with both, so sending them every time is fine.
    `resource` matters for custom resources only: their CRD's printer columns.
    """
    include_object = include_object or "Metadata"
    if include_object not in INCLUDE_OBJECT:
        raise errors.BadRequest(f'unrecognized includeObject value: "{include_object}"')
    if resource is not None and resource.custom is not None:
        printer = printer_for(resource.custom.columns)
    else:
        printer = PRINTERS.get(kind, GENERIC)
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    rows = []
    for obj in objects:
        cells, conditions = printer.row(obj, now)
        row: dict[str, Any] = {"cells": cells}
        if conditions:
            row["conditions"] = [dict(c) for c in conditions]
        row["object"] = _row_object(obj, include_object)
        rows.append(row)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": _table_metadata(objects, list_meta),
        "columnDefinitions": [dict(c) for c in printer.columns] if include_columns else [],
        "rows": rows,
    }
