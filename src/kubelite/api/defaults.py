"""Defaulting: the values a real cluster fills in before it validates and stores.

`apply_defaults(obj)` mirrors the generated `SetObjectDefaults_<Kind>` of each
served group/version (pkg/apis/core/v1, apps/v1, discovery/v1, scheduling/v1,
storage/v1): the hand-written `SetDefaults_*` functions plus the declarative
`+default=` markers. A value the user set is never overwritten.

A few fields a real cluster fills *outside* defaulting are done here too,
because users see them on every object and nothing else in kubelite owns them:

- Pod `priority`/`preemptionPolicy` (the Priority admission plugin) when the pod
  names no PriorityClass; `apply_priority_class` covers the named case.
- Service `ipFamilies`/`ipFamilyPolicy` and `clusterIP`/`clusterIPs`
  normalisation (the Service REST strategy and IP allocator), for the
  single-stack IPv4 cluster kubelite always is.
- Namespace `spec.finalizers` (the Namespace strategy's PrepareForCreate).
- Secret `stringData` merged into `data` (v1 conversion; it is write-only).

`prepare_update(obj, old)` is the update-time counterpart: what
rest.BeforeUpdate and the kind's strategy copy over from the stored object.

What upstream defaults differently for a bare Pod and a Pod *template* is kept:
`SetDefaults_Pod` (requests from limits, enableServiceLinks, host ports under
hostNetwork) and the priority fields apply to Pods only, so a Deployment's
`spec.template` looks exactly as `kubectl get deploy -o yaml` shows it.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

from kubelite.api import defaults_admission_policy as vap
from kubelite.api.defaults_admissionregistration import (
    default_mutating_webhook_configuration,
    default_validating_webhook_configuration,
)
from kubelite.api.defaults_policy import default_limit_range, default_network_policy
from kubelite.api.defaults_replicationcontroller import default_replication_controller
from kubelite.api.status_fields import fill_status

Obj = dict[str, Any]

DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS = 30
DEFAULT_SCHEDULER_NAME = "default-scheduler"
TERMINATION_MESSAGE_PATH_DEFAULT = "/dev/termination-log"
VOLUME_SOURCE_DEFAULT_MODE = 0o644  # 420: secret, configMap, downwardAPI, projected
DEFAULT_CLIENT_IP_AFFINITY_SECONDS = 10800
DEFAULT_SERVICE_IP_FAMILY = "IPv4"


def _sub(obj: Obj, key: str) -> Obj:
    """obj[key] as a dict, created empty when absent or null."""
    value = obj.get(key)
    if not isinstance(value, dict):
        value = {}
        obj[key] = value
    return value


def _set(obj: Obj, key: str, value: Any) -> None:
    """Set only when the user left the field unset (absent, null or Go's zero "")."""
    if obj.get(key) in (None, ""):
        obj[key] = value


def _items(obj: Obj, key: str) -> list[Obj]:
    value = obj.get(key)
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


# --- image tag, as kubelet's parsers.ParseImageName sees it ---

_NAME_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE_RE = re.compile(
    rf"(?:(?P<domain>{_DOMAIN})/)?(?P<path>{_NAME_COMPONENT}(?:/{_NAME_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?"
)


def image_tag(image: str) -> str:
    """The tag ParseImageName reports: "latest" when neither tag nor digest, "" on error."""
    m = _REFERENCE_RE.fullmatch(image)
    if m is None:
        return ""
    tag, digest = m.group("tag"), m.group("digest")
    if not tag and not digest:
        return "latest"
    return tag or ""


# --- core/v1 pieces ---


def _default_probe(probe: Any) -> None:
    if not isinstance(probe, dict):
        return
    for key, value in (
        ("timeoutSeconds", 1),
        ("periodSeconds", 10),
        ("successThreshold", 1),
        ("failureThreshold", 3),
    ):
        if not probe.get(key):  # Go zero (0 or unset) means "use the default"
            probe[key] = value
    _default_http_get(probe.get("httpGet"))
    grpc = probe.get("grpc")
    if isinstance(grpc, dict) and grpc.get("service") is None:
        grpc["service"] = ""  # the type's `+default=""`: kubectl describe dereferences it


def _default_http_get(action: Any) -> None:
    if isinstance(action, dict):
        _set(action, "path", "/")
        _set(action, "scheme", "HTTP")


def _default_container(c: Obj) -> None:
    if c.get("imagePullPolicy") in (None, ""):
        tag = image_tag(c.get("image") or "")
        c["imagePullPolicy"] = "Always" if tag == "latest" else "IfNotPresent"
    _set(c, "terminationMessagePath", TERMINATION_MESSAGE_PATH_DEFAULT)
    _set(c, "terminationMessagePolicy", "File")
    for port in _items(c, "ports"):
        _set(port, "protocol", "TCP")
    for env in _items(c, "env"):
        value_from = env.get("valueFrom")
        if isinstance(value_from, dict) and isinstance(value_from.get("fieldRef"), dict):
            _set(value_from["fieldRef"], "apiVersion", "v1")
    # Container.Resources is a struct, not a pointer: Go always serialises it.
    if not isinstance(c.get("resources"), dict):
        c["resources"] = {}
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        _default_probe(c.get(probe))
    lifecycle = c.get("lifecycle")
    if isinstance(lifecycle, dict):
        for hook in ("postStart", "preStop"):
            if isinstance(lifecycle.get(hook), dict):
                _default_http_get(lifecycle[hook].get("httpGet"))


_VOLUME_SOURCES = (
    "hostPath",
    "emptyDir",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "secret",
    "nfs",
    "iscsi",
    "glusterfs",
    "persistentVolumeClaim",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "downwardAPI",
    "fc",
    "azureFile",
    "configMap",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "projected",
    "portworxVolume",
    "scaleIO",
    "storageos",
    "csi",
    "ephemeral",
    "image",
)


def _default_field_ref_items(items: Any) -> None:
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("fieldRef"), dict):
            _set(item["fieldRef"], "apiVersion", "v1")


def _default_volume(v: Obj) -> None:
    if not any(v.get(src) is not None for src in _VOLUME_SOURCES):
        v["emptyDir"] = {}
    if isinstance(v.get("hostPath"), dict) and v["hostPath"].get("type") is None:
        v["hostPath"]["type"] = ""
    for src in ("secret", "configMap", "downwardAPI", "projected"):
        if isinstance(v.get(src), dict) and v[src].get("defaultMode") is None:
            v[src]["defaultMode"] = VOLUME_SOURCE_DEFAULT_MODE
    if isinstance(v.get("downwardAPI"), dict):
        _default_field_ref_items(v["downwardAPI"].get("items"))
    if isinstance(v.get("projected"), dict):
        for source in _items(v["projected"], "sources"):
            if isinstance(source.get("downwardAPI"), dict):
                _default_field_ref_items(source["downwardAPI"].get("items"))
            token = source.get("serviceAccountToken")
            if isinstance(token, dict) and token.get("expirationSeconds") is None:
                token["expirationSeconds"] = 3600
    ephemeral = v.get("ephemeral")
    if isinstance(ephemeral, dict) and isinstance(ephemeral.get("volumeClaimTemplate"), dict):
        _default_pvc_spec(_sub(ephemeral["volumeClaimTemplate"], "spec"))
    image = v.get("image")
    if isinstance(image, dict) and image.get("pullPolicy") in (None, ""):
        tag = image_tag(image.get("reference") or "")
        image["pullPolicy"] = "Always" if tag == "latest" else "IfNotPresent"


def _default_pod_spec(spec: Obj) -> None:
    """SetDefaults_PodSpec and the nested defaulters, shared by Pods and templates."""
    _set(spec, "dnsPolicy", "ClusterFirst")
    _set(spec, "restartPolicy", "Always")
    if spec.get("securityContext") is None:
        spec["securityContext"] = {}
    if spec.get("terminationGracePeriodSeconds") is None:
        spec["terminationGracePeriodSeconds"] = DEFAULT_TERMINATION_GRACE_PERIOD_SECONDS
    _set(spec, "schedulerName", DEFAULT_SCHEDULER_NAME)
    for volume in _items(spec, "volumes"):
        _default_volume(volume)
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for container in _items(spec, key):
            _default_container(container)


def _requests_from_limits(containers: list[Obj]) -> None:
    for c in containers:
        resources = c.get("resources")
        if not isinstance(resources, dict) or not isinstance(resources.get("limits"), dict):
            continue
        requests = resources.get("requests")
        if not isinstance(requests, dict):
            requests = resources["requests"] = {}
        for name, quantity in resources["limits"].items():
            requests.setdefault(name, quantity)


def _default_pod(pod: Obj) -> None:
    spec = _sub(pod, "spec")
    # SetDefaults_Pod runs before SetDefaults_PodSpec in SetObjectDefaults_Pod.
    _requests_from_limits(_items(spec, "containers"))
    _requests_from_limits(_items(spec, "initContainers"))
    if spec.get("enableServiceLinks") is None:
        spec["enableServiceLinks"] = True
    if spec.get("hostNetwork"):
        for key in ("containers", "initContainers"):
            for c in _items(spec, key):
                for port in _items(c, "ports"):
                    if not port.get("hostPort"):
                        port["hostPort"] = port.get("containerPort")
    _default_pod_spec(spec)
    # Priority admission, for pods that name no PriorityClass and a cluster
    # without a globalDefault class: priority 0, PreemptLowerPriority.
    if not spec.get("priorityClassName"):
        if spec.get("priority") is None:
            spec["priority"] = 0
        _set(spec, "preemptionPolicy", "PreemptLowerPriority")


def apply_priority_class(pod: Obj, priority_class: Obj | None) -> Obj:
    """What the Priority admission plugin does once the pod's class is looked up.

    `priority_class` is the PriorityClass named by `spec.priorityClassName` (or
    the globalDefault class when the pod names none), or None when there is no
    such class. Conflicts (a pod `priority` that differs) are the admission
    plugin's Forbidden error, left to the caller.
    """
    spec = _sub(pod, "spec")
    if priority_class is None:
        if spec.get("priority") is None:
            spec["priority"] = 0
        _set(spec, "preemptionPolicy", "PreemptLowerPriority")
        return pod
    if not spec.get("priorityClassName"):
        spec["priorityClassName"] = (priority_class.get("metadata") or {}).get("name", "")
    if spec.get("priority") is None:
        spec["priority"] = priority_class.get("value", 0)
    if priority_class.get("preemptionPolicy"):
        _set(spec, "preemptionPolicy", priority_class["preemptionPolicy"])
    return pod


def _default_template(owner_spec: Obj) -> None:
    template = owner_spec.get("template")
    if isinstance(template, dict):
        _default_pod_spec(_sub(template, "spec"))


def _default_pvc_spec(spec: Obj) -> None:
    _set(spec, "volumeMode", "Filesystem")


def _default_pvc(pvc: Obj) -> None:
    _set(_sub(pvc, "status"), "phase", "Pending")
    _default_pvc_spec(_sub(pvc, "spec"))


def _default_pv(pv: Obj) -> None:
    _set(_sub(pv, "status"), "phase", "Pending")
    spec = _sub(pv, "spec")
    _set(spec, "persistentVolumeReclaimPolicy", "Retain")
    _set(spec, "volumeMode", "Filesystem")
    if isinstance(spec.get("hostPath"), dict) and spec["hostPath"].get("type") is None:
        spec["hostPath"]["type"] = ""


def _externally_accessible(spec: Obj) -> bool:
    kind = spec.get("type")
    return kind in ("LoadBalancer", "NodePort") or (
        kind == "ClusterIP" and bool(spec.get("externalIPs"))
    )


def _default_service(svc: Obj) -> None:
    spec = _sub(svc, "spec")
    _set(spec, "sessionAffinity", "None")
    if spec["sessionAffinity"] == "None":
        spec.pop("sessionAffinityConfig", None)
    elif spec["sessionAffinity"] == "ClientIP":
        config = spec.get("sessionAffinityConfig")
        client_ip = config.get("clientIP") if isinstance(config, dict) else None
        if not isinstance(client_ip, dict) or client_ip.get("timeoutSeconds") is None:
            spec["sessionAffinityConfig"] = {
                "clientIP": {"timeoutSeconds": DEFAULT_CLIENT_IP_AFFINITY_SECONDS}
            }
    _set(spec, "type", "ClusterIP")
    for port in _items(spec, "ports"):
        _set(port, "protocol", "TCP")
        if port.get("targetPort") in (None, 0, ""):
            port["targetPort"] = port.get("port")
    if _externally_accessible(spec):
        _set(spec, "externalTrafficPolicy", "Cluster")
    if spec.get("internalTrafficPolicy") is None and spec["type"] in (
        "NodePort",
        "LoadBalancer",
        "ClusterIP",
    ):
        spec["internalTrafficPolicy"] = "Cluster"
    if spec["type"] == "LoadBalancer" and spec.get("allocateLoadBalancerNodePorts") is None:
        spec["allocateLoadBalancerNodePorts"] = True
    _default_service_ips(spec)


def _default_service_ips(spec: Obj) -> None:
    """The Service strategy's clusterIP/clusterIPs sync and initIPFamilyFields."""
    if spec.get("type") == "ExternalName":
        return
    # NormalizeClusterIPs on create: an old client's singular field fills the
    # plural one (not the other way round: new clients must send both).
    if spec.get("clusterIP") and not spec.get("clusterIPs"):
        spec["clusterIPs"] = [spec["clusterIP"]]
    headless_selectorless = spec.get("clusterIP") == "None" and not spec.get("selector")
    if spec.get("ipFamilyPolicy") is None:
        families = spec.get("ipFamilies") or []
        ips = spec.get("clusterIPs") or []
        if len(families) == 2 or len(ips) == 2 or headless_selectorless:
            spec["ipFamilyPolicy"] = "RequireDualStack"
        else:
            spec["ipFamilyPolicy"] = "SingleStack"
    if not spec.get("ipFamilies"):
        spec["ipFamilies"] = [DEFAULT_SERVICE_IP_FAMILY]
    # A headless, selectorless service that is not SingleStack gets both
    # families even on a single-stack cluster (it needs no cluster IP).
    if (
        headless_selectorless
        and spec["ipFamilyPolicy"] != "SingleStack"
        and len(spec["ipFamilies"]) == 1
    ):
        other = "IPv6" if spec["ipFamilies"][0] == "IPv4" else "IPv4"
        spec["ipFamilies"] = [*spec["ipFamilies"], other]


def _default_namespace(ns: Obj) -> None:
    name = (ns.get("metadata") or {}).get("name")
    if name:
        labels = _sub(_sub(ns, "metadata"), "labels")
        labels["kubernetes.io/metadata.name"] = name  # always: upstream overwrites it
    spec = _sub(ns, "spec")
    if not spec.get("finalizers"):
        spec["finalizers"] = ["kubernetes"]
    _set(_sub(ns, "status"), "phase", "Active")


def _default_node(node: Obj) -> None:
    status = node.get("status")
    if (
        isinstance(status, dict)
        and status.get("allocatable") is None
        and isinstance(status.get("capacity"), dict)
    ):
        status["allocatable"] = dict(status["capacity"])


def stamp_no_execute_taints(node: Obj, now: str) -> None:
    """NoExecute taints without timeAdded get `now`, as upstream's node strategy does:
    the taint eviction controller counts tolerationSeconds from it."""
    spec = node.get("spec")
    if not isinstance(spec, dict):
        return
    for taint in spec.get("taints") or []:
        if (
            isinstance(taint, dict)
            and taint.get("effect") == "NoExecute"
            and not taint.get("timeAdded")
        ):
            taint["timeAdded"] = now


def _default_secret(secret: Obj) -> None:
    # Conversion from v1, not defaulting upstream, but the same moment for
    # kubelite: write-only stringData overwrites data and is never stored.
    string_data = secret.pop("stringData", None)
    if isinstance(string_data, dict) and string_data:
        data = _sub(secret, "data")
        for k, v in string_data.items():
            data[k] = base64.b64encode(str(v).encode()).decode()
    _set(secret, "type", "Opaque")


def _default_endpoints(ep: Obj) -> None:
    for subset in _items(ep, "subsets"):
        for port in _items(subset, "ports"):
            _set(port, "protocol", "TCP")


def _default_endpoint_slice(slice_: Obj) -> None:
    for port in _items(slice_, "ports"):
        if port.get("name") is None:
            port["name"] = ""
        if port.get("protocol") is None:
            port["protocol"] = "TCP"


# --- apps/v1 ---


def _default_deployment(d: Obj) -> None:
    spec = _sub(d, "spec")
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    strategy = _sub(spec, "strategy")
    _set(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _sub(strategy, "rollingUpdate")
        if rolling.get("maxUnavailable") is None:
            rolling["maxUnavailable"] = "25%"
        if rolling.get("maxSurge") is None:
            rolling["maxSurge"] = "25%"
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    if spec.get("progressDeadlineSeconds") is None:
        spec["progressDeadlineSeconds"] = 600
    _default_template(spec)


def _default_replica_set(rs: Obj) -> None:
    spec = _sub(rs, "spec")
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    _default_template(spec)


def drop_disabled_stateful_set_fields(sts: Obj, old: Obj | None) -> None:
    """The StatefulSet strategy's dropStatefulSetDisabledFields, on create (no `old`) and
    update: `rollingUpdate.maxUnavailable` belongs to the MaxUnavailableStatefulSet gate,
    off in 1.32, so it goes unless the stored object already uses it."""
    if old is not None and _max_unavailable(old) is not None:
        return
    rolling = ((sts.get("spec") or {}).get("updateStrategy") or {}).get("rollingUpdate")
    if isinstance(rolling, dict):
        rolling.pop("maxUnavailable", None)


def _max_unavailable(sts: Obj) -> Any:
    rolling = ((sts.get("spec") or {}).get("updateStrategy") or {}).get("rollingUpdate")
    return rolling.get("maxUnavailable") if isinstance(rolling, dict) else None


def _default_stateful_set(sts: Obj) -> None:
    spec = _sub(sts, "spec")
    if not _sub(sts, "metadata").get("resourceVersion"):  # a create: PrepareForCreate
        drop_disabled_stateful_set_fields(sts, None)
    _set(spec, "podManagementPolicy", "OrderedReady")
    strategy = _sub(spec, "updateStrategy")
    if strategy.get("type") in (None, ""):
        strategy["type"] = "RollingUpdate"
        if strategy.get("rollingUpdate") is None:
            strategy["rollingUpdate"] = {}
    rolling = strategy.get("rollingUpdate")
    if (
        strategy["type"] == "RollingUpdate"
        and isinstance(rolling, dict)
        and rolling.get("partition") is None
    ):
        rolling["partition"] = 0
    policy = _sub(spec, "persistentVolumeClaimRetentionPolicy")
    _set(policy, "whenDeleted", "Retain")
    _set(policy, "whenScaled", "Retain")
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    _default_template(spec)
    for claim in _items(spec, "volumeClaimTemplates"):
        # Conversion to apps/v1 stamps the embedded PVC's TypeMeta.
        _set(claim, "apiVersion", "v1")
        _set(claim, "kind", "PersistentVolumeClaim")
        _default_pvc(claim)


def _default_daemon_set(ds: Obj) -> None:
    spec = _sub(ds, "spec")
    strategy = _sub(spec, "updateStrategy")
    _set(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate":
        rolling = _sub(strategy, "rollingUpdate")
        if rolling.get("maxUnavailable") is None:
            rolling["maxUnavailable"] = 1
        if rolling.get("maxSurge") is None:
            rolling["maxSurge"] = 0
    if spec.get("revisionHistoryLimit") is None:
        spec["revisionHistoryLimit"] = 10
    _default_template(spec)


# --- batch/v1 ---

JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
CONTROLLER_UID_LABEL = "batch.kubernetes.io/controller-uid"
LEGACY_JOB_NAME_LABEL = "job-name"
LEGACY_CONTROLLER_UID_LABEL = "controller-uid"
MAX_INT32 = 2**31 - 1


def _default_job(job: Obj) -> None:
    spec = _sub(job, "spec")
    if spec.get("completions") is None and spec.get("parallelism") is None:
        spec["completions"] = 1
    if spec.get("parallelism") is None:
        spec["parallelism"] = 1
    if spec.get("backoffLimit") is None:
        spec["backoffLimit"] = MAX_INT32 if spec.get("backoffLimitPerIndex") is not None else 6
    _set(spec, "completionMode", "NonIndexed")
    if spec.get("suspend") is None:
        spec["suspend"] = False
    policy = spec.get("podFailurePolicy")
    if isinstance(policy, dict):
        for rule in _items(policy, "rules"):
            for pattern in _items(rule, "onPodConditions"):
                _set(pattern, "status", "True")
    if spec.get("podReplacementPolicy") is None:
        spec["podReplacementPolicy"] = "Failed" if policy is not None else "TerminatingOrFailed"
    if spec.get("manualSelector") is None:
        spec["manualSelector"] = False
    _default_template(spec)
    meta = _sub(job, "metadata")
    if not meta.get("resourceVersion") and meta.get("uid") and not spec["manualSelector"]:
        generate_job_selector(job)
    # A Job without labels takes its template's. Upstream defaults every read
    # too, so the labels the selector generation added show on the Job as well.
    template = spec.get("template")
    template_labels = (template.get("metadata") or {}).get("labels") if template else None
    if isinstance(template_labels, dict) and not meta.get("labels"):
        meta["labels"] = dict(template_labels)


def generate_job_selector(job: Obj) -> None:
    """The Job strategy's generateSelector, run on create only.

    Labels the user already set are left alone: a conflict is for validation
    to report, as upstream.
    """
    meta, spec = _sub(job, "metadata"), _sub(job, "spec")
    labels = _sub(_sub(_sub(spec, "template"), "metadata"), "labels")
    name, uid = meta.get("name") or "", meta.get("uid") or ""
    for key, value in (
        (LEGACY_JOB_NAME_LABEL, name),
        (JOB_NAME_LABEL, name),
        (LEGACY_CONTROLLER_UID_LABEL, uid),
        (CONTROLLER_UID_LABEL, uid),
    ):
        labels.setdefault(key, value)
    match_labels = _sub(_sub(spec, "selector"), "matchLabels")
    match_labels.setdefault(CONTROLLER_UID_LABEL, uid)


def _default_cron_job(cj: Obj) -> None:
    spec = _sub(cj, "spec")
    _set(spec, "concurrencyPolicy", "Allow")
    if spec.get("suspend") is None:
        spec["suspend"] = False
    if spec.get("successfulJobsHistoryLimit") is None:
        spec["successfulJobsHistoryLimit"] = 3
    if spec.get("failedJobsHistoryLimit") is None:
        spec["failedJobsHistoryLimit"] = 1
    job_template = spec.get("jobTemplate")
    if isinstance(job_template, dict) and isinstance(job_template.get("spec"), dict):
        job_spec = job_template["spec"]
        _default_template(job_spec)
        policy = job_spec.get("podFailurePolicy")
        if isinstance(policy, dict):
            for rule in _items(policy, "rules"):
                for pattern in _items(rule, "onPodConditions"):
                    _set(pattern, "status", "True")


# --- other groups ---


def _default_scaling_rules(rules: Obj, *, up: bool) -> None:
    """Fill what a given scaleUp/scaleDown leaves out (upstream GenerateHPAScale*Rules)."""
    if rules.get("policies") is None:  # `[]` stays, for validation to refuse (as upstream)
        if up:
            rules["policies"] = [
                {"type": "Pods", "value": 4, "periodSeconds": 15},
                {"type": "Percent", "value": 100, "periodSeconds": 15},
            ]
        else:
            rules["policies"] = [{"type": "Percent", "value": 100, "periodSeconds": 15}]
    if rules.get("stabilizationWindowSeconds") is None:
        rules["stabilizationWindowSeconds"] = 0 if up else 300
    _set(rules, "selectPolicy", "Max")


def _default_hpa(hpa: Obj) -> None:
    spec = _sub(hpa, "spec")
    _set(spec, "minReplicas", 1)
    if not spec.get("metrics"):
        spec["metrics"] = [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": 80},
                },
            }
        ]
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):  # defaulted only when given, as upstream
        _default_scaling_rules(_sub(behavior, "scaleUp"), up=True)
        _default_scaling_rules(_sub(behavior, "scaleDown"), up=False)
    # desiredReplicas is a non-omitempty int32 upstream: 0 until the first sync says
    # otherwise. The official client refuses a status without it.
    _set(_sub(hpa, "status"), "desiredReplicas", 0)


def _default_priority_class(pc: Obj) -> None:
    _set(pc, "preemptionPolicy", "PreemptLowerPriority")


def _default_storage_class(sc: Obj) -> None:
    _set(sc, "reclaimPolicy", "Delete")
    _set(sc, "volumeBindingMode", "Immediate")


# SetDefaults_CSIDriver (storage/v1, 1.32); seLinuxMount too, its feature gate
# (SELinuxMountReadWriteOncePod) being on by default since 1.28.
_CSI_DRIVER_DEFAULTS: tuple[tuple[str, Any], ...] = (
    ("attachRequired", True),
    ("podInfoOnMount", False),
    ("storageCapacity", False),
    ("fsGroupPolicy", "ReadWriteOnceWithFSType"),
    ("requiresRepublish", False),
    ("seLinuxMount", False),
)


def _default_csi_driver(driver: Obj) -> None:
    spec = _sub(driver, "spec")
    for key, value in _CSI_DRIVER_DEFAULTS:
        if spec.get(key) is None:  # pointers upstream: only nil is defaulted ("" is kept)
            spec[key] = value
    if not spec.get("volumeLifecycleModes"):
        spec["volumeLifecycleModes"] = ["Persistent"]


def _default_ingress_class(ic: Obj) -> None:
    params = (ic.get("spec") or {}).get("parameters")
    if isinstance(params, dict) and params.get("scope") is None:  # "" stays, and fails validation
        params["scope"] = "Cluster"


def _no_defaults(_obj: Obj) -> None:
    """Kinds upstream registers no defaulter for (ServiceAccount, Event, Lease, ...)."""


def _default_crd(crd: Obj) -> None:
    from kubelite.api.crd.validation import default_crd  # with the first CRD written

    default_crd(crd)


RBAC_GROUP = "rbac.authorization.k8s.io"


def _default_role_binding(obj: Obj) -> None:
    """rbac/v1 SetDefaults_RoleBinding / _ClusterRoleBinding / _Subject: the roleRef's
    group, and a User or Group subject's, is RBAC's when left out."""
    ref = obj.get("roleRef")
    if isinstance(ref, dict) and not ref.get("apiGroup"):
        ref["apiGroup"] = RBAC_GROUP
    for subject in obj.get("subjects") or []:
        user_or_group = isinstance(subject, dict) and subject.get("kind") in ("User", "Group")
        if user_or_group and not subject.get("apiGroup"):
            subject["apiGroup"] = RBAC_GROUP


_DEFAULTERS: dict[tuple[str, str], Callable[[Obj], None]] = {
    ("v1", "Pod"): _default_pod,
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): _default_crd,
    ("v1", "Service"): _default_service,
    ("v1", "Namespace"): _default_namespace,
    ("v1", "Node"): _default_node,
    ("v1", "PersistentVolume"): _default_pv,
    ("v1", "PersistentVolumeClaim"): _default_pvc,
    ("v1", "Secret"): _default_secret,
    ("v1", "Endpoints"): _default_endpoints,
    ("v1", "ConfigMap"): _no_defaults,  # data = {} upstream, omitted on the wire
    ("v1", "ServiceAccount"): _no_defaults,
    ("v1", "Event"): _no_defaults,
    ("apps/v1", "Deployment"): _default_deployment,
    ("apps/v1", "ReplicaSet"): _default_replica_set,
    ("apps/v1", "StatefulSet"): _default_stateful_set,
    ("apps/v1", "DaemonSet"): _default_daemon_set,
    ("discovery.k8s.io/v1", "EndpointSlice"): _default_endpoint_slice,
    ("scheduling.k8s.io/v1", "PriorityClass"): _default_priority_class,
    ("storage.k8s.io/v1", "StorageClass"): _default_storage_class,
    ("storage.k8s.io/v1", "CSIDriver"): _default_csi_driver,
    ("storage.k8s.io/v1", "CSINode"): _no_defaults,
    ("storage.k8s.io/v1", "VolumeAttachment"): _no_defaults,
    ("storage.k8s.io/v1", "CSIStorageCapacity"): _no_defaults,
    ("certificates.k8s.io/v1", "CertificateSigningRequest"): _no_defaults,  # none in v1
    ("networking.k8s.io/v1", "Ingress"): _no_defaults,  # pathType is required, not defaulted
    ("networking.k8s.io/v1", "IngressClass"): _default_ingress_class,
    ("coordination.k8s.io/v1", "Lease"): _no_defaults,
    ("events.k8s.io/v1", "Event"): _no_defaults,
    ("policy/v1", "PodDisruptionBudget"): _no_defaults,
    ("batch/v1", "Job"): _default_job,
    ("batch/v1", "CronJob"): _default_cron_job,
    ("autoscaling/v2", "HorizontalPodAutoscaler"): _default_hpa,
    ("v1", "PodTemplate"): _default_template,  # a PodTemplate holds `template` at the top
    ("v1", "ReplicationController"): default_replication_controller,
    ("v1", "LimitRange"): default_limit_range,
    ("v1", "ResourceQuota"): _no_defaults,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): _default_role_binding,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): _default_role_binding,
    ("networking.k8s.io/v1", "NetworkPolicy"): default_network_policy,
    (
        "admissionregistration.k8s.io/v1",
        "MutatingWebhookConfiguration",
    ): default_mutating_webhook_configuration,
    (
        "admissionregistration.k8s.io/v1",
        "ValidatingWebhookConfiguration",
    ): default_validating_webhook_configuration,
    (
        "admissionregistration.k8s.io/v1",
        "ValidatingAdmissionPolicy",
    ): vap.default_validating_admission_policy,
    (
        "admissionregistration.k8s.io/v1",
        "ValidatingAdmissionPolicyBinding",
    ): vap.default_validating_admission_policy_binding,
}


def prepare_update(obj: Obj, old: Obj) -> Obj:
    """What kube-apiserver does to an update before validating it; mutates `obj`.

    The generic part of rest.BeforeUpdate (keep uid, creationTimestamp,
    deletionTimestamp, deletionGracePeriodSeconds and generation from the
    stored object) plus the kind-specific part kubelite users can observe:
    a Service keeps its allocated clusterIP(s), nodePorts and IP families
    when the client leaves them out, a Namespace keeps its finalizers
    (they change only through the finalize subresource), and a StatefulSet
    loses the fields of disabled feature gates it did not use already.
    """
    meta, old_meta = _sub(obj, "metadata"), old.get("metadata") or {}
    if not meta.get("uid") and old_meta.get("uid"):
        meta["uid"] = old_meta["uid"]
    for key in ("creationTimestamp", "deletionTimestamp"):
        if old_meta.get(key):
            meta[key] = old_meta[key]
    if (
        old_meta.get("deletionGracePeriodSeconds") is not None
        and meta.get("deletionGracePeriodSeconds") is None
    ):
        meta["deletionGracePeriodSeconds"] = old_meta["deletionGracePeriodSeconds"]
    if old_meta.get("generation") is not None:
        meta["generation"] = old_meta["generation"]
    kind = (obj.get("apiVersion"), obj.get("kind"))
    if kind == ("v1", "Service"):
        from kubelite.api.validation_service import prepare_service_update  # avoid a cycle

        prepare_service_update(obj, old)
    elif kind == ("apps/v1", "StatefulSet"):
        drop_disabled_stateful_set_fields(obj, old)
    elif kind == ("v1", "Namespace"):
        finalizers = (old.get("spec") or {}).get("finalizers")
        if finalizers is not None:
            _sub(obj, "spec")["finalizers"] = list(finalizers)
    return obj


def apply_defaults(obj: Obj) -> Obj:
    """Fill upstream defaults into `obj` in place and return it.

    Dispatches on (apiVersion, kind); unknown kinds are returned untouched.
    """
    defaulter = _DEFAULTERS.get((obj.get("apiVersion", ""), obj.get("kind", "")))
    if defaulter is not None:
        defaulter(obj)
    fill_status(obj)  # not defaulting upstream, but what decoding into the Go type gives
    return obj
