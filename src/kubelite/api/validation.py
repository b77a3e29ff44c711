"""Validation of kubelite's objects with upstream field paths and messages.

`validate(obj)` checks an object on create, `validate(obj, old=old)` on
update (immutable fields included), and returns the `FieldError`s a real
kube-apiserver would put in the 422's `details.causes`, in the order it would
list them; `[]` means valid.

Objects are expected to be defaulted first (`defaults.apply_defaults`), as
upstream always defaults before it validates: a Pod without
`restartPolicy`, for instance, fails here just as an undefaulted internal Pod
fails upstream. The API server also does, before calling this, what its
generic REST layer does: generate the name from `generateName`, fill
`metadata.namespace` from the URL for namespaced kinds and clear it for
cluster-scoped ones; on update, call `defaults.prepare_update(new, old)` and
copy the stored `resourceVersion` into an unconditional update.

The per-kind rules live in `validation_meta` (ObjectMeta, labels,
selectors), `validation_pod`, `validation_apps`, `validation_daemonset`, `validation_service`,
`validation_storage`, `validation_batch`, `validation_autoscaling`, `validation_networking`,
`validation_node`, `validation_csi`, `validation_certificates` and `validation_misc`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubelite.api import (
    validation_admission_policy as vap,
)
from kubelite.api import (
    validation_admissionregistration as admissionregistration,
)
from kubelite.api import (
    validation_apps as apps,
)
from kubelite.api import (
    validation_autoscaling as autoscaling,
)
from kubelite.api import (
    validation_batch as batch,
)
from kubelite.api import (
    validation_certificates as certificates,
)
from kubelite.api import (
    validation_csi as csi,
)
from kubelite.api import (
    validation_daemonset as daemonset,
)
from kubelite.api import (
    validation_misc as misc,
)
from kubelite.api import (
    validation_networking as networking,
)
from kubelite.api import (
    validation_networkpolicy as netpol,
)
from kubelite.api import (
    validation_node as node,
)
from kubelite.api import (
    validation_pod as pod,
)
from kubelite.api import (
    validation_podtemplate as podtemplate,
)
from kubelite.api import (
    validation_policy as policy,
)
from kubelite.api import (
    validation_quota as quota,
)
from kubelite.api import (
    validation_rbac as rbac,
)
from kubelite.api import (
    validation_replicationcontroller as rc,
)
from kubelite.api import (
    validation_service as svc,
)
from kubelite.api import (
    validation_storage as storage,
)
from kubelite.api import (
    validation_workload_status as workload_status,
)
from kubelite.api.fielderrors import FieldError
from kubelite.api.names import validate_object_name
from kubelite.api.validation_service import DEFAULT_NODE_PORT_RANGE

Obj = dict[str, Any]

__all__ = ["DEFAULT_NODE_PORT_RANGE", "validate", "validate_object_name"]

_Create = Callable[[Obj], list[FieldError]]
_Update = Callable[[Obj, Obj], list[FieldError]]


def _validate_crd(obj: Obj) -> list[FieldError]:
    # Loaded with the first CRD written: a cluster without CRDs never carries the
    # structural-schema checks.
    from kubelite.api.crd.validation import validate_crd

    return validate_crd(obj)


def _validate_crd_update(obj: Obj, old: Obj) -> list[FieldError]:
    from kubelite.api.crd.validation import validate_crd_update

    return validate_crd_update(obj, old)


_VALIDATORS: dict[tuple[str, str], tuple[_Create, _Update]] = {
    ("v1", "Pod"): (pod.validate_pod, pod.validate_pod_update),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): (
        _validate_crd,
        _validate_crd_update,
    ),
    ("v1", "ConfigMap"): (misc.validate_config_map, misc.validate_config_map_update),
    ("v1", "Secret"): (misc.validate_secret, misc.validate_secret_update),
    ("v1", "Namespace"): (misc.validate_namespace, misc.validate_namespace_update),
    ("v1", "Node"): (misc.validate_node, misc.validate_node_update),
    ("v1", "ServiceAccount"): (misc.validate_service_account, misc.validate_service_account_update),
    ("v1", "Event"): (misc.validate_event, misc.validate_event_update),
    ("v1", "PersistentVolume"): (storage.validate_pv, storage.validate_pv_update),
    ("v1", "PersistentVolumeClaim"): (storage.validate_pvc, storage.validate_pvc_update),
    ("v1", "LimitRange"): (quota.validate_limit_range, quota.validate_limit_range_update),
    ("v1", "ResourceQuota"): (quota.validate_resource_quota, quota.validate_resource_quota_update),
    ("v1", "PodTemplate"): (
        podtemplate.validate_pod_template,
        podtemplate.validate_pod_template_update,
    ),
    ("v1", "ReplicationController"): (
        rc.validate_replication_controller,
        rc.validate_replication_controller_update,
    ),
    ("networking.k8s.io/v1", "NetworkPolicy"): (
        netpol.validate_network_policy,
        netpol.validate_network_policy_update,
    ),
    ("apps/v1", "Deployment"): (apps.validate_deployment, apps.validate_deployment_update),
    ("apps/v1", "ReplicaSet"): (apps.validate_replica_set, apps.validate_replica_set_update),
    ("apps/v1", "StatefulSet"): (apps.validate_stateful_set, apps.validate_stateful_set_update),
    ("apps/v1", "DaemonSet"): (daemonset.validate_daemon_set, daemonset.validate_daemon_set_update),
    ("scheduling.k8s.io/v1", "PriorityClass"): (
        misc.validate_priority_class,
        misc.validate_priority_class_update,
    ),
    ("storage.k8s.io/v1", "StorageClass"): (
        storage.validate_storage_class,
        storage.validate_storage_class_update,
    ),
    ("storage.k8s.io/v1", "CSIDriver"): (csi.validate_csi_driver, csi.validate_csi_driver_update),
    ("storage.k8s.io/v1", "CSINode"): (csi.validate_csi_node, csi.validate_csi_node_update),
    ("storage.k8s.io/v1", "VolumeAttachment"): (
        csi.validate_volume_attachment,
        csi.validate_volume_attachment_update,
    ),
    ("storage.k8s.io/v1", "CSIStorageCapacity"): (
        csi.validate_csi_storage_capacity,
        csi.validate_csi_storage_capacity_update,
    ),
    ("certificates.k8s.io/v1", "CertificateSigningRequest"): (
        certificates.validate_csr,
        certificates.validate_csr_update,
    ),
    ("coordination.k8s.io/v1", "Lease"): (misc.validate_lease, misc.validate_lease_update),
    ("events.k8s.io/v1", "Event"): (misc.validate_event, misc.validate_event_update),
    ("policy/v1", "PodDisruptionBudget"): (
        policy.validate_pod_disruption_budget,
        policy.validate_pod_disruption_budget_update,
    ),
    ("batch/v1", "Job"): (batch.validate_job, batch.validate_job_update),
    ("batch/v1", "CronJob"): (batch.validate_cron_job, batch.validate_cron_job_update),
    ("autoscaling/v2", "HorizontalPodAutoscaler"): (
        autoscaling.validate_hpa,
        autoscaling.validate_hpa_update,
    ),
    ("networking.k8s.io/v1", "Ingress"): (
        networking.validate_ingress,
        networking.validate_ingress_update,
    ),
    ("networking.k8s.io/v1", "IngressClass"): (
        networking.validate_ingress_class,
        networking.validate_ingress_class_update,
    ),
    ("node.k8s.io/v1", "RuntimeClass"): (
        node.validate_runtime_class,
        node.validate_runtime_class_update,
    ),
    ("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration"): (
        admissionregistration.validate_mutating_webhook_configuration,
        admissionregistration.validate_mutating_webhook_configuration_update,
    ),
    ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"): (
        admissionregistration.validate_validating_webhook_configuration,
        admissionregistration.validate_validating_webhook_configuration_update,
    ),
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy"): (
        vap.validate_validating_admission_policy,
        vap.validate_validating_admission_policy_update,
    ),
    ("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding"): (
        vap.validate_validating_admission_policy_binding,
        vap.validate_validating_admission_policy_binding_update,
    ),
    **{
        ("rbac.authorization.k8s.io/v1", kind): (rbac.validate_role, rbac.validate_role_update)
        for kind in ("Role", "ClusterRole")
    },
    **{
        ("rbac.authorization.k8s.io/v1", kind): (
            rbac.validate_binding,
            rbac.validate_binding_update,
        )
        for kind in ("RoleBinding", "ClusterRoleBinding")
    },
}


_CSR = ("certificates.k8s.io/v1", "CertificateSigningRequest")
_STATUS_VALIDATORS = {
    ("apps/v1", "Deployment"): workload_status.validate_deployment_status_update,
    ("apps/v1", "ReplicaSet"): workload_status.validate_replica_set_status_update,
    ("apps/v1", "StatefulSet"): workload_status.validate_stateful_set_status_update,
    ("apps/v1", "DaemonSet"): workload_status.validate_daemon_set_status_update,
    ("storage.k8s.io/v1", "VolumeAttachment"): csi.validate_volume_attachment_status_update,
    _CSR: certificates.validate_csr_status_update,
}


def validate(
    obj: Obj,
    *,
    old: Obj | None = None,
    node_port_range: tuple[int, int] = DEFAULT_NODE_PORT_RANGE,
    strict_endpoint_ips: bool = False,
    subresource: str = "",
) -> list[FieldError]:
    """Validate `obj` (create when `old` is None, else update from `old`).

    `node_port_range` is the cluster's `--service-node-port-range`.
    `strict_endpoint_ips` restores upstream's refusal of loopback endpoint
    addresses, which kubelite allows because its pod IPs are loopback ones.
    `subresource="status"` validates a Pod's status write as upstream's
    status strategy does (the spec it cannot change is not re-checked);
    `subresource="ephemeralcontainers"` a write of its ephemeral containers.
    Kinds kubelite does not serve validate to `[]`.
    """
    key = (obj.get("apiVersion", ""), obj.get("kind", ""))
    if key == ("v1", "Pod") and old is not None and subresource == "status":
        return pod.validate_pod_status_update(obj, old)
    if key == ("v1", "ResourceQuota") and old is not None and subresource == "status":
        return quota.validate_resource_quota_status_update(obj, old)
    if key == ("v1", "ReplicationController") and old is not None and subresource == "status":
        return rc.validate_replication_controller_status_update(obj, old)
    if key == ("v1", "Namespace") and old is not None and subresource == "status":
        return misc.validate_namespace_status_update(obj, old)
    if old is not None and subresource == "status" and key in _STATUS_VALIDATORS:
        return _STATUS_VALIDATORS[key](obj, old)
    if old is not None and subresource == "approval" and key == _CSR:
        return certificates.validate_csr_approval_update(obj, old)
    if key == ("v1", "Pod") and old is not None and subresource == "ephemeralcontainers":
        return pod.validate_pod_ephemeral_containers_update(obj, old)
    if key == ("v1", "Service"):
        if old is None:
            return svc.validate_service(obj, node_port_range=node_port_range)
        return svc.validate_service_update(obj, old, node_port_range=node_port_range)
    if key == ("v1", "Endpoints"):
        if old is None:
            return svc.validate_endpoints(obj, strict_endpoint_ips=strict_endpoint_ips)
        return svc.validate_endpoints_update(obj, old, strict_endpoint_ips=strict_endpoint_ips)
    if key == ("discovery.k8s.io/v1", "EndpointSlice"):
        if old is None:
            return svc.validate_endpoint_slice(obj, strict_endpoint_ips=strict_endpoint_ips)
        return svc.validate_endpoint_slice_update(obj, old, strict_endpoint_ips=strict_endpoint_ips)
    validators = _VALIDATORS.get(key)
    if validators is None:
        return []
    create, update = validators
    if old is None:
        return create(obj)
    errs = update(obj, old)
    if key == ("batch/v1", "Job"):
        errs += workload_status.validate_job_status_counts(obj)
        if subresource == "status":
            errs += workload_status.validate_job_status_transitions(obj, old)
    return errs
