"""Per-kind Table printers, ported from kube-apiserver's
`pkg/printers/internalversion/printers.go` (v1.32).

Each printer is its column definitions plus a function from one object to its
cells. The server always computes the wide cells (upstream calls its printers
with `Wide: true`); kubectl hides columns with priority 1 unless `-o wide`.
Cell values keep upstream's JSON types: counts are integers, flags booleans.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubelite.apiserver.tables_format import (
    NONE,
    UNKNOWN,
    UNSET,
    InvalidSelector,
    access_modes,
    container_cells,
    format_label_selector,
    format_labels,
    human_duration,
    join_host_port,
    list_with_more,
    parse_time,
    quantity,
    selector_string,
    since,
)

Obj = Mapping[str, Any]
Row = tuple[list[Any], list[dict[str, str]] | None]


@dataclass(frozen=True)
class Printer:
    columns: tuple[dict[str, Any], ...]
    row: Callable[[Obj, datetime], Row]


def col(
    name: str, description: str, type_: str = "string", *, priority: int = 0, fmt: str = ""
) -> dict[str, Any]:
    return {
        "name": name,
        "type": type_,
        "format": fmt,
        "description": description,
        "priority": priority,
    }


# metav1.ObjectMeta{}.SwaggerDoc() for name and creationTimestamp, as upstream uses.
NAME_DOC = (
    "Name must be unique within a namespace. Is required when creating resources, although "
    "some resources may allow a client to request the generation of an appropriate name "
    "automatically. Name is primarily intended for creation idempotence and configuration "
    "definition. Cannot be updated. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
AGE_DOC = (
    "CreationTimestamp is a timestamp representing the server time when this object was "
    "created. It is not guaranteed to be set in happens-before order across separate "
    "operations. Clients may not set this value. It is represented in RFC3339 form and is in "
    "UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: "
    "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)
NAME = col("Name", NAME_DOC, fmt="name")
AGE = col("Age", AGE_DOC)
CONTAINERS = col("Containers", "Names of each container in the template.", priority=1)
IMAGES = col("Images", "Images referenced by each container in the template.", priority=1)


def _meta(obj: Obj) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def _name(obj: Obj) -> str:
    return _meta(obj).get("name", "")


def _age(obj: Obj, now: datetime) -> str:
    return since(_meta(obj).get("creationTimestamp"), now)


def _spec(obj: Obj) -> Mapping[str, Any]:
    return obj.get("spec") or {}


def _status(obj: Obj) -> Mapping[str, Any]:
    return obj.get("status") or {}


def _template_containers(obj: Obj) -> list[Mapping[str, Any]]:
    template = _spec(obj).get("template") or {}
    return (template.get("spec") or {}).get("containers") or []


# ---- workloads ---------------------------------------------------------------


def _deployment(obj: Obj, now: datetime) -> Row:
    spec, status = _spec(obj), _status(obj)
    try:
        selector = selector_string(spec.get("selector"))
    except InvalidSelector:
        selector = "<invalid>"
    names, images = container_cells(_template_containers(obj))
    ready = f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}"
    cells = [
        _name(obj),
        ready,
        status.get("updatedReplicas", 0),
        status.get("availableReplicas", 0),
    ]
    return [*cells, _age(obj, now), names, images, selector], None


DEPLOYMENT = Printer(
    (
        NAME,
        col("Ready", "Number of the pod with ready state"),
        col(
            "Up-to-date",
            "Total number of non-terminated pods targeted by this deployment that have the "
            "desired template spec.",
        ),
        col(
            "Available",
            "Total number of available pods (ready for at least minReadySeconds) targeted by "
            "this deployment.",
        ),
        AGE,
        CONTAINERS,
        IMAGES,
        col("Selector", "Label selector for pods.", priority=1),
    ),
    _deployment,
)


def _replica_set(obj: Obj, now: datetime) -> Row:
    spec, status = _spec(obj), _status(obj)
    names, images = container_cells(_template_containers(obj))
    counts = [spec.get("replicas", 1), status.get("replicas", 0), status.get("readyReplicas", 0)]
    selector = format_label_selector(spec.get("selector"))
    return [_name(obj), *counts, _age(obj, now), names, images, selector], None


REPLICA_SET = Printer(
    (
        NAME,
        col("Desired", "Replicas is the number of desired replicas.", "integer"),
        col("Current", "Replicas is the most recently observed number of replicas.", "integer"),
        col("Ready", "The number of ready replicas for this replica set.", "integer"),
        AGE,
        CONTAINERS,
        IMAGES,
        col(
            "Selector",
            "Selector is a label query over pods that should match the replica count.",
            priority=1,
        ),
    ),
    _replica_set,
)


def _stateful_set(obj: Obj, now: datetime) -> Row:
    spec, status = _spec(obj), _status(obj)
    names, images = container_cells(_template_containers(obj))
    ready = f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}"
    return [_name(obj), ready, _age(obj, now), names, images], None


STATEFUL_SET = Printer(
    (NAME, col("Ready", "Number of the pod with ready state"), AGE, CONTAINERS, IMAGES),
    _stateful_set,
)


def _daemon_set(obj: Obj, now: datetime) -> Row:
    status = _status(obj)
    counts = [
        status.get(k, 0)
        for k in (
            "desiredNumberScheduled",
            "currentNumberScheduled",
            "numberReady",
            "updatedNumberScheduled",
            "numberAvailable",
        )
    ]
    template_spec = (_spec(obj).get("template") or {}).get("spec") or {}
    node_selector = format_labels(template_spec.get("nodeSelector"))
    names, images = container_cells(_template_containers(obj))
    selector = format_label_selector(_spec(obj).get("selector"))
    return [_name(obj), *counts, node_selector, _age(obj, now), names, images, selector], None


# Descriptions are the DaemonSetStatus, PodSpec and DaemonSetSpec field docs, as upstream.
DAEMON_SET = Printer(
    (
        NAME,
        col(
            "Desired",
            "The total number of nodes that should be running the daemon pod (including nodes "
            "correctly running the daemon pod). More info: "
            "https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/",
            "integer",
        ),
        col(
            "Current",
            "The number of nodes that are running at least 1 daemon pod and are supposed to run "
            "the daemon pod. More info: "
            "https://kubernetes.io/docs/concepts/workloads/controllers/daemonset/",
            "integer",
        ),
        col(
            "Ready",
            "numberReady is the number of nodes that should be running the daemon pod and have "
            "one or more of the daemon pod running with a Ready Condition.",
            "integer",
        ),
        col(
            "Up-to-date",
            "The total number of nodes that are running updated daemon pod",
            "integer",
        ),
        col(
            "Available",
            "The number of nodes that should be running the daemon pod and have one or more of "
            "the daemon pod running and available (ready for at least spec.minReadySeconds)",
            "integer",
        ),
        col(
            "Node Selector",
            "NodeSelector is a selector which must be true for the pod to fit on a node. "
            "Selector which must match a node's labels for the pod to be scheduled on that node. "
            "More info: https://kubernetes.io/docs/concepts/configuration/assign-pod-node/",
        ),
        AGE,
        CONTAINERS,
        IMAGES,
        col(
            "Selector",
            "A label query over pods that are managed by the daemon set. Must match in order to "
            "be controlled. It must match the pod template's labels. More info: "
            "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors",
            priority=1,
        ),
    ),
    _daemon_set,
)


def _controller_revision(obj: Obj, now: datetime) -> Row:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    ref = next((r for r in refs if r.get("controller")), None)
    controller = NONE
    if ref is not None:
        group = str(ref.get("apiVersion", "")).rpartition("/")[0]
        kind = f"{ref.get('kind', '')}.{group}" if group else str(ref.get("kind", ""))
        controller = f"{kind.lower()}/{ref.get('name', '')}"
    return [_name(obj), controller, obj.get("revision", 0), _age(obj, now)], None


CONTROLLER_REVISION = Printer(
    (
        NAME,
        col("Controller", "Controller of the object"),
        col("Revision", "Revision indicates the revision of the state represented by Data."),
        AGE,
    ),
    _controller_revision,
)


# ---- services and endpoints -----------------------------------------------------

_LOAD_BALANCER_WIDTH = 16


def _load_balancer_ips(status: Obj, wide: bool) -> str:
    ingress = (status.get("loadBalancer") or {}).get("ingress") or []
    found = {i.get("ip") or i.get("hostname") for i in ingress} - {None, ""}
    text = ",".join(sorted(found))  # type: ignore[arg-type]
    if not wide and len(text) > _LOAD_BALANCER_WIDTH:
        text = text[: _LOAD_BALANCER_WIDTH - 3] + "..."
    return text


def _service_external_ip(obj: Obj, wide: bool) -> str:
    spec = _spec(obj)
    kind = spec.get("type") or "ClusterIP"
    external = spec.get("externalIPs") or []
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) if external else NONE
    if kind == "LoadBalancer":
        lb = _load_balancer_ips(_status(obj), wide)
        if external:
            return ",".join([*(lb.split(",") if lb else []), *external])
        return lb or "<pending>"
    if kind == "ExternalName":
        return spec.get("externalName", "")
    return UNKNOWN


def _service_ports(ports: list[Mapping[str, Any]]) -> str:
    pieces = []
    for port in ports:
        protocol = port.get("protocol", "TCP")
        if port.get("nodePort"):
            pieces.append(f"{port.get('port', 0)}:{port['nodePort']}/{protocol}")
        else:
            pieces.append(f"{port.get('port', 0)}/{protocol}")
    return ",".join(pieces)


def _service(obj: Obj, now: datetime) -> Row:
    spec = _spec(obj)
    # The internal type always has clusterIPs (conversion fills it from clusterIP).
    cluster_ips = spec.get("clusterIPs") or ([spec["clusterIP"]] if spec.get("clusterIP") else [])
    internal_ip = cluster_ips[0] if cluster_ips else NONE
    # Upstream prints the unclipped external IPs here: the server renders wide cells.
    external_ip = _service_external_ip(obj, True)
    ports = _service_ports(spec.get("ports") or []) or NONE
    kind = spec.get("type") or "ClusterIP"
    cells = [_name(obj), kind, internal_ip, external_ip, ports, _age(obj, now)]
    return [*cells, format_labels(spec.get("selector"))], None


SERVICE = Printer(
    (
        NAME,
        col("Type", "type determines how the Service is exposed."),
        col(
            "Cluster-IP",
            "clusterIP is the IP address of the service and is usually assigned randomly.",
        ),
        col(
            "External-IP",
            "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.",
        ),
        col("Port(s)", "The list of ports that are exposed by this service."),
        AGE,
        col(
            "Selector",
            "Route service traffic to pods with label keys and values matching this selector.",
            priority=1,
        ),
    ),
    _service,
)


def format_endpoints(obj: Obj) -> str:
    """`formatEndpoints` with all ports: up to three `ip:port`, then "+ N more..."."""
    subsets = obj.get("subsets") or []
    if not subsets:
        return NONE
    shown: list[str] = []
    limit, more, count = 3, False, 0
    for subset in subsets:
        addresses = subset.get("addresses") or []
        ports = subset.get("ports") or []
        if not ports:  # headless services may have no ports
            count += len(addresses)
            for address in addresses:
                if len(shown) == limit:
                    more = True
                    break
                shown.append(address.get("ip", ""))
            continue
        for port in ports:
            count += len(addresses)
            for address in addresses:
                if len(shown) == limit:
                    more = True
                    break
                shown.append(join_host_port(address.get("ip", ""), port.get("port", 0)))
    text = ",".join(shown)
    return f"{text} + {count - limit} more..." if more else text


def _endpoints(obj: Obj, now: datetime) -> Row:
    return [_name(obj), format_endpoints(obj), _age(obj, now)], None


ENDPOINTS = Printer(
    (NAME, col("Endpoints", "The set of all endpoints is the union of all subsets."), AGE),
    _endpoints,
)


def _slice_ports(ports: list[Mapping[str, Any]]) -> str:
    shown: list[str] = []
    limit, more, count = 3, False, 0
    for port in ports:
        if len(shown) < limit:
            number = port.get("port")
            shown.append(str(number) if number is not None else port.get("name") or "*")
        elif len(shown) == limit:
            more = True
        count += 1
    return list_with_more(shown, more, count, limit)


def _slice_endpoints(endpoints: list[Mapping[str, Any]]) -> str:
    shown: list[str] = []
    limit, more, count = 3, False, 0
    for endpoint in endpoints:
        for address in endpoint.get("addresses") or []:
            if len(shown) < limit:
                shown.append(address)
            elif len(shown) == limit:
                more = True
            count += 1
    return list_with_more(shown, more, count, limit)


def _endpoint_slice(obj: Obj, now: datetime) -> Row:
    ports = _slice_ports(obj.get("ports") or [])
    endpoints = _slice_endpoints(obj.get("endpoints") or [])
    return [_name(obj), obj.get("addressType", ""), ports, endpoints, _age(obj, now)], None


ENDPOINT_SLICE = Printer(
    (
        NAME,
        col(
            "AddressType",
            "addressType specifies the type of address carried by this EndpointSlice.",
        ),
        col(
            "Ports",
            "ports specifies the list of network ports exposed by each endpoint in this slice.",
        ),
        col("Endpoints", "endpoints is a list of unique endpoints in this slice."),
        AGE,
    ),
    _endpoint_slice,
)


# ---- configuration ---------------------------------------------------------------


def _config_map(obj: Obj, now: datetime) -> Row:
    data = len(obj.get("data") or {}) + len(obj.get("binaryData") or {})
    return [_name(obj), data, _age(obj, now)], None


CONFIG_MAP = Printer((NAME, col("Data", "Data contains the configuration data."), AGE), _config_map)


def _secret(obj: Obj, now: datetime) -> Row:
    kind = obj.get("type") or "Opaque"
    return [_name(obj), kind, len(obj.get("data") or {}), _age(obj, now)], None


SECRET = Printer(
    (
        NAME,
        col("Type", "Used to facilitate programmatic handling of secret data."),
        col("Data", "Data contains the secret data."),
        AGE,
    ),
    _secret,
)


def _service_account(obj: Obj, now: datetime) -> Row:
    return [_name(obj), len(obj.get("secrets") or []), _age(obj, now)], None


SERVICE_ACCOUNT = Printer(
    (
        NAME,
        col(
            "Secrets",
            "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
        ),
        AGE,
    ),
    _service_account,
)


# ---- cluster ---------------------------------------------------------------------


def _namespace(obj: Obj, now: datetime) -> Row:
    return [_name(obj), _status(obj).get("phase", ""), _age(obj, now)], None


NAMESPACE = Printer((NAME, col("Status", "The status of the namespace"), AGE), _namespace)

_ROLE_PREFIX = "node-role.kubernetes.io/"
_ROLE_LABEL = "kubernetes.io/role"


def node_roles(obj: Obj) -> list[str]:
    """`findNodeRoles`: `node-role.kubernetes.io/<role>` keys and `kubernetes.io/role` values."""
    roles = set()
    for key, value in (_meta(obj).get("labels") or {}).items():
        if key.startswith(_ROLE_PREFIX) and key[len(_ROLE_PREFIX) :]:
            roles.add(key[len(_ROLE_PREFIX) :])
        elif key == _ROLE_LABEL and value:
            roles.add(value)
    return sorted(roles)


def _node_address(obj: Obj, kind: str) -> str:
    for address in _status(obj).get("addresses") or []:
        if address.get("type") == kind:
            return address.get("address", "")
    return NONE


def _node(obj: Obj, now: datetime) -> Row:
    status = _status(obj)
    ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
    states = [("Ready" if c.get("status") == "True" else "NotReady") for c in ready[-1:]]
    states = states or ["Unknown"]
    if _spec(obj).get("unschedulable"):
        states.append("SchedulingDisabled")
    info = status.get("nodeInfo") or {}
    roles = ",".join(node_roles(obj)) or NONE
    cells = [_name(obj), ",".join(states), roles, _age(obj, now), info.get("kubeletVersion", "")]
    wide = [
        _node_address(obj, "InternalIP"),
        _node_address(obj, "ExternalIP"),
        info.get("osImage") or UNKNOWN,
        info.get("kernelVersion") or UNKNOWN,
        info.get("containerRuntimeVersion") or UNKNOWN,
    ]
    return cells + wide, None


NODE = Printer(
    (
        NAME,
        col("Status", "The status of the node"),
        col("Roles", "The roles of the node"),
        AGE,
        col("Version", "Kubelet Version reported by the node."),
        col("Internal-IP", "List of addresses reachable to the node.", priority=1),
        col("External-IP", "List of addresses reachable to the node.", priority=1),
        col(
            "OS-Image",
            "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
            priority=1,
        ),
        col(
            "Kernel-Version",
            "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
            priority=1,
        ),
        col(
            "Container-Runtime",
            "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
            priority=1,
        ),
    ),
    _node,
)


def _priority_class(obj: Obj, now: datetime) -> Row:
    cells = [_name(obj), obj.get("value", 0), bool(obj.get("globalDefault", False))]
    return [*cells, _age(obj, now)], None


PRIORITY_CLASS = Printer(
    (
        NAME,
        col("Value", "value represents the integer value of this priority class.", "integer"),
        col(
            "Global-Default",
            "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class.",
            "boolean",
        ),
        AGE,
    ),
    _priority_class,
)


def _lease(obj: Obj, now: datetime) -> Row:
    return [_name(obj), _spec(obj).get("holderIdentity") or "", _age(obj, now)], None


def _pod_disruption_budget(obj: Obj, now: datetime) -> Row:
    spec, status = _spec(obj), obj.get("status") or {}
    min_available = spec.get("minAvailable")
    max_unavailable = spec.get("maxUnavailable")
    cells = [
        _name(obj),
        "N/A" if min_available is None else str(min_available),
        "N/A" if max_unavailable is None else str(max_unavailable),
        int(status.get("disruptionsAllowed") or 0),
    ]
    return [*cells, _age(obj, now)], None


POD_DISRUPTION_BUDGET = Printer(
    (
        NAME,
        col("Min Available", "The minimum number of pods that must be available."),
        col("Max Unavailable", "The maximum number of pods that may be unavailable."),
        col(
            "Allowed Disruptions",
            "Calculated number of pods that may be disrupted at this time.",
            "integer",
        ),
        AGE,
    ),
    _pod_disruption_budget,
)


LEASE = Printer(
    (
        NAME,
        col("Holder", "holderIdentity contains the identity of the holder of a current lease."),
        AGE,
    ),
    _lease,
)


# ---- batch ----------------------------------------------------------------------------


def _condition_true(obj: Obj, kind: str) -> bool:
    return any(
        c.get("type") == kind and c.get("status") == "True"
        for c in _status(obj).get("conditions") or []
    )


def _job_status(obj: Obj) -> str:
    if _condition_true(obj, "Complete"):
        return "Complete"
    if _condition_true(obj, "Failed"):
        return "Failed"
    if _meta(obj).get("deletionTimestamp"):
        return "Terminating"
    if _condition_true(obj, "Suspended"):
        return "Suspended"
    if _condition_true(obj, "FailureTarget"):
        return "FailureTarget"
    return "Running"


def _job_completions(obj: Obj) -> str:
    spec, succeeded = _spec(obj), _status(obj).get("succeeded", 0)
    if spec.get("completions") is not None:
        return f"{succeeded}/{spec['completions']}"
    parallelism = spec.get("parallelism") or 0
    return f"{succeeded}/1 of {parallelism}" if parallelism > 1 else f"{succeeded}/1"


def _job_duration(obj: Obj, now: datetime) -> str:
    start = parse_time(_status(obj).get("startTime"))
    if start is None:
        return ""
    end = parse_time(_status(obj).get("completionTime")) or now
    return human_duration((end - start).total_seconds())


def _job(obj: Obj, now: datetime) -> Row:
    names, images = container_cells(_template_containers(obj))
    cells = [_name(obj), _job_status(obj), _job_completions(obj), _job_duration(obj, now)]
    selector = format_label_selector(_spec(obj).get("selector"))
    return [*cells, _age(obj, now), names, images, selector], None


_JOB_SELECTOR_DOC = (
    "A label query over pods that should match the pod count. Normally, the system sets this "
    "field for you. More info: "
    "https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors"
)
_JOB_SELECTOR = col("Selector", _JOB_SELECTOR_DOC, priority=1)

JOB = Printer(
    (
        NAME,
        col("Status", "Status of the job."),
        col(
            "Completions",
            "The number of pods which reached phase Succeeded. The value increases "
            "monotonically for a given spec. However, it may decrease in reaction to scale "
            "down of elastic indexed jobs.",
        ),
        col("Duration", "Time required to complete the job."),
        AGE,
        CONTAINERS,
        IMAGES,
        _JOB_SELECTOR,
    ),
    _job,
)


def _cron_job(obj: Obj, now: datetime) -> Row:
    spec, status = _spec(obj), _status(obj)
    last = status.get("lastScheduleTime")
    job_spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    names, images = container_cells(
        ((job_spec.get("template") or {}).get("spec") or {}).get("containers")
    )
    suspend = spec.get("suspend")
    cells = [
        _name(obj),
        spec.get("schedule", ""),
        spec.get("timeZone") if spec.get("timeZone") is not None else NONE,
        UNSET if suspend is None else ("True" if suspend else "False"),
        len(status.get("active") or []),
        since(last, now) if last else NONE,
        _age(obj, now),
    ]
    return [*cells, names, images, format_label_selector(job_spec.get("selector"))], None


CRON_JOB = Printer(
    (
        NAME,
        col("Schedule", "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron."),
        col(
            "Timezone",
            "The time zone name for the given schedule, see "
            "https://en.wikipedia.org/wiki/List_of_tz_database_time_zones. If not specified, "
            "this will default to the time zone of the kube-controller-manager process. The set "
            "of valid time zone names and the time zone offset is loaded from the system-wide "
            "time zone database by the API server during CronJob validation and the controller "
            "manager during execution. If no system-wide time zone database can be found a "
            "bundled version of the database is used instead. If the time zone name becomes "
            "invalid during the lifetime of a CronJob or due to a change in host configuration, "
            "the controller will stop creating new new Jobs and will create a system event with "
            "the reason UnknownTimeZone. More information can be found in "
            "https://kubernetes.io/docs/concepts/workloads/controllers/cron-jobs/#time-zones",
        ),
        col(
            "Suspend",
            "This flag tells the controller to suspend subsequent executions, it does not apply "
            "to already started executions.  Defaults to false.",
            "boolean",
        ),
        col("Active", "A list of pointers to currently running jobs.", "integer"),
        col(
            "Last Schedule",
            "Information when was the last time the job was successfully scheduled.",
        ),
        AGE,
        CONTAINERS,
        IMAGES,
        _JOB_SELECTOR,
    ),
    _cron_job,
)


# ---- rbac ----------------------------------------------------------------------------


def _role(obj: Obj, now: datetime) -> Row:
    return [_name(obj), _meta(obj).get("creationTimestamp") or ""], None


ROLE = Printer((NAME, col("Created At", AGE_DOC, "date")), _role)


def _binding(obj: Obj, now: datetime) -> Row:
    ref = obj.get("roleRef") or {}
    users, groups, accounts = [], [], []
    for subject in obj.get("subjects") or []:
        kind, name = subject.get("kind"), subject.get("name", "")
        if kind == "User":
            users.append(name)
        elif kind == "Group":
            groups.append(name)
        elif kind == "ServiceAccount":
            accounts.append(f"{subject.get('namespace', '')}/{name}")
    role = f"{ref.get('kind', '')}/{ref.get('name', '')}"
    cells = [_name(obj), role, _age(obj, now)]
    return [*cells, ", ".join(users), ", ".join(groups), ", ".join(accounts)], None


def _binding_printer(kind: str) -> Printer:
    role_doc = (
        "RoleRef can only reference a ClusterRole in the global namespace. If the RoleRef "
        "cannot be resolved, the Authorizer must return an error. This field is immutable."
        if kind == "clusterRoleBinding"
        else "RoleRef can reference a Role in the current namespace or a ClusterRole in the "
        "global namespace. If the RoleRef cannot be resolved, the Authorizer must return an "
        "error. This field is immutable."
    )
    return Printer(
        (
            NAME,
            col("Role", role_doc),
            AGE,
            col("Users", f"Users in the {kind}", priority=1),
            col("Groups", f"Groups in the {kind}", priority=1),
            col("ServiceAccounts", f"ServiceAccounts in the {kind}", priority=1),
        ),
        _binding,
    )


ROLE_BINDING = _binding_printer("roleBinding")
CLUSTER_ROLE_BINDING = _binding_printer("clusterRoleBinding")

# ---- ingress ---------------------------------------------------------------------


def _ingress_hosts(rules: list[Mapping[str, Any]]) -> str:
    """formatHosts: the first three hosts, then how many rules follow."""
    hosts: list[str] = []
    more = False
    for rule in rules:
        if len(hosts) == 3:
            more = True
        if not more and rule.get("host"):
            hosts.append(rule["host"])
    if not hosts:
        return "*"
    text = ",".join(hosts)
    return f"{text} + {len(rules) - 3} more..." if more else text


def _ingress(obj: Obj, now: datetime) -> Row:
    spec = _spec(obj)
    class_name = spec.get("ingressClassName")
    cells = [
        _name(obj),
        NONE if class_name is None else class_name,
        _ingress_hosts(spec.get("rules") or []),
        _load_balancer_ips(_status(obj), True),  # the server renders wide cells
        "80, 443" if spec.get("tls") else "80",
    ]
    return [*cells, _age(obj, now)], None


INGRESS = Printer(
    (
        NAME,
        col(
            "Class",
            "The name of the IngressClass resource that should be used for additional configuration",
        ),
        col("Hosts", "Hosts that incoming requests are matched against before the ingress rule"),
        col("Address", "Address is a list containing ingress points for the load-balancer"),
        col("Ports", "Ports of TLS configurations that open"),
        AGE,
    ),
    _ingress,
)


def _ingress_class(obj: Obj, now: datetime) -> Row:
    spec = _spec(obj)
    params = spec.get("parameters")
    parameters = NONE
    if isinstance(params, Mapping):
        parameters = params.get("kind") or ""
        if params.get("apiGroup") is not None:
            parameters += "." + params["apiGroup"]
        parameters += "/" + (params.get("name") or "")
    return [_name(obj), spec.get("controller", ""), parameters, _age(obj, now)], None


INGRESS_CLASS = Printer(
    (
        NAME,
        col("Controller", "Controller that is responsible for handling this class"),
        col("Parameters", "A reference to a resource with additional parameters"),
        AGE,
    ),
    _ingress_class,
)


# ---- node.k8s.io ------------------------------------------------------------------


def _runtime_class(obj: Obj, now: datetime) -> Row:
    return [_name(obj), obj.get("handler", ""), _age(obj, now)], None


RUNTIME_CLASS = Printer(
    (
        NAME,
        # upstream looks the description up in ObjectMeta's docs, which have no "handler"
        col("Handler", ""),
        AGE,
    ),
    _runtime_class,
)


# ---- storage ---------------------------------------------------------------------

_BETA_CLASS_ANNOTATION = "volume.beta.kubernetes.io/storage-class"
_DEFAULT_CLASS_ANNOTATIONS = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)


def _storage_class(obj: Obj, now: datetime) -> Row:
    annotations = _meta(obj).get("annotations") or {}
    name = _name(obj)
    if any(annotations.get(a) == "true" for a in _DEFAULT_CLASS_ANNOTATIONS):
        name += " (default)"
    cells = [
        name,
        obj.get("provisioner", ""),
        obj.get("reclaimPolicy") or "Delete",
        obj.get("volumeBindingMode") or "Immediate",
        bool(obj.get("allowVolumeExpansion", False)),
    ]
    return [*cells, _age(obj, now)], None


STORAGE_CLASS = Printer(
    (
        NAME,
        col("Provisioner", "provisioner indicates the type of the provisioner."),
        col(
            "ReclaimPolicy",
            "reclaimPolicy controls the reclaimPolicy for dynamically provisioned PersistentVolumes of this storage class.",
        ),
        col(
            "VolumeBindingMode",
            "volumeBindingMode indicates how PersistentVolumeClaims should be provisioned and bound.",
        ),
        col(
            "AllowVolumeExpansion",
            "allowVolumeExpansion shows whether the storage class allow volume expand.",
        ),
        AGE,
    ),
    _storage_class,
)


def _volume_class(obj: Obj) -> str:
    annotations = _meta(obj).get("annotations") or {}
    if _BETA_CLASS_ANNOTATION in annotations:
        return annotations[_BETA_CLASS_ANNOTATION]
    return _spec(obj).get("storageClassName") or ""


def _persistent_volume(obj: Obj, now: datetime) -> Row:
    spec, status = _spec(obj), _status(obj)
    claim = spec.get("claimRef")
    claim_text = f"{claim.get('namespace', '')}/{claim.get('name', '')}" if claim else ""
    phase = "Terminating" if _meta(obj).get("deletionTimestamp") else status.get("phase", "")
    cells = [
        _name(obj),
        quantity((spec.get("capacity") or {}).get("storage")),
        access_modes(spec.get("accessModes")),
        spec.get("persistentVolumeReclaimPolicy", ""),
        phase,
        claim_text,
        _volume_class(obj),
        spec.get("volumeAttributesClassName") or UNSET,
        status.get("reason", ""),
        _age(obj, now),
        spec.get("volumeMode") or UNSET,
    ]
    return cells, None


PERSISTENT_VOLUME = Printer(
    (
        NAME,
        col(
            "Capacity",
            "capacity is the description of the persistent volume's resources and capacity.",
        ),
        col("Access Modes", "accessModes contains all ways the volume can be mounted."),
        col(
            "Reclaim Policy",
            "persistentVolumeReclaimPolicy defines what happens to a persistent volume when released from its claim.",
        ),
        col(
            "Status",
            "phase indicates if a volume is available, bound to a claim, or released by a claim.",
        ),
        col(
            "Claim",
            "claimRef is part of a bi-directional binding between PersistentVolume and PersistentVolumeClaim.",
        ),
        col("StorageClass", "StorageClass of the pv"),
        col("VolumeAttributesClass", "VolumeAttributesClass of the pv"),
        col(
            "Reason",
            "reason is a brief CamelCase string that describes any failure and is meant for machine parsing and tidy display in the CLI.",
        ),
        AGE,
        col(
            "VolumeMode",
            "volumeMode defines if a volume is intended to be used with a formatted filesystem or to remain in raw block state.",
            priority=1,
        ),
    ),
    _persistent_volume,
)


def _persistent_volume_claim(obj: Obj, now: datetime) -> Row:
    spec, status = _spec(obj), _status(obj)
    phase = "Terminating" if _meta(obj).get("deletionTimestamp") else status.get("phase", "")
    capacity = modes = ""
    if spec.get("volumeName"):
        modes = access_modes(status.get("accessModes"))
        capacity = quantity((status.get("capacity") or {}).get("storage"))
    annotations = _meta(obj).get("annotations") or {}
    klass = annotations.get(_BETA_CLASS_ANNOTATION, spec.get("storageClassName") or "")
    cells = [_name(obj), phase, spec.get("volumeName", ""), capacity, modes, klass]
    vac = spec.get("volumeAttributesClassName") or UNSET
    return [*cells, vac, _age(obj, now), spec.get("volumeMode") or UNSET], None


PERSISTENT_VOLUME_CLAIM = Printer(
    (
        NAME,
        col("Status", "phase represents the current phase of PersistentVolumeClaim."),
        col(
            "Volume",
            "volumeName is the binding reference to the PersistentVolume backing this claim.",
        ),
        col("Capacity", "capacity represents the actual resources of the underlying volume."),
        col(
            "Access Modes",
            "accessModes contains the actual access modes the volume backing the PVC has.",
        ),
        col("StorageClass", "StorageClass of the pvc"),
        col("VolumeAttributesClass", "VolumeAttributesClass of the pvc"),
        AGE,
        col(
            "VolumeMode",
            "volumeMode defines what type of volume is required by the claim.",
            priority=1,
        ),
    ),
    _persistent_volume_claim,
)


# ---- events ----------------------------------------------------------------------


def _core_event_view(obj: Obj) -> Obj:
    """An events.k8s.io/v1 Event in core/v1 field names (upstream converts both to one type)."""
    if obj.get("apiVersion") != "events.k8s.io/v1" and "regarding" not in obj:
        return obj
    return {
        "metadata": obj.get("metadata") or {},
        "involvedObject": obj.get("regarding") or {},
        "message": obj.get("note", ""),
        "reason": obj.get("reason", ""),
        "type": obj.get("type", ""),
        "firstTimestamp": obj.get("deprecatedFirstTimestamp"),
        "lastTimestamp": obj.get("deprecatedLastTimestamp"),
        "count": obj.get("deprecatedCount", 0),
        "source": obj.get("deprecatedSource") or {},
        "eventTime": obj.get("eventTime"),
        "series": obj.get("series"),
        "reportingComponent": obj.get("reportingController", ""),
        "reportingInstance": obj.get("reportingInstance", ""),
    }


def _event_source(event: Obj) -> str:
    """`formatEventSource`: component (or reporting controller), then ", host" if any."""
    source = event.get("source") or {}
    component = source.get("component") or event.get("reportingComponent") or ""
    host = source.get("host") or event.get("reportingInstance") or ""
    return f"{component}, {host}" if host else component


def _event(obj: Obj, now: datetime) -> Row:
    event = _core_event_view(obj)
    first = parse_time(event.get("firstTimestamp"))
    first_seen = since(first, now) if first else since(event.get("eventTime"), now)
    last = parse_time(event.get("lastTimestamp"))
    last_seen = since(last, now) if last else first_seen
    count = event.get("count") or 0
    series = event.get("series")
    if series:
        last_seen = since(series.get("lastObservedTime"), now)
        count = series.get("count", 0)
    elif count == 0:
        count = 1  # singleton events from the new API carry no count
    involved = event.get("involvedObject") or {}
    kind = (involved.get("kind") or "").lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    message = (event.get("message") or "").strip()
    cells = [last_seen, event.get("type", ""), event.get("reason", ""), target]
    tail = [first_seen, count, _name(obj)]
    return [*cells, involved.get("fieldPath", ""), _event_source(event), message, *tail], None


EVENT = Printer(
    (
        col(
            "Last Seen", "The time at which the most recent occurrence of this event was recorded."
        ),
        col("Type", "Type of this event (Normal, Warning), new types could be added in the future"),
        col(
            "Reason",
            "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
        ),
        col("Object", "The object that this event is about."),
        col(
            "Subobject",
            "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement.",
            priority=1,
        ),
        col(
            "Source",
            "The component reporting this event. Should be a short machine understandable string.",
            priority=1,
        ),
        col("Message", "A human-readable description of the status of this operation."),
        col(
            "First Seen",
            "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
            priority=1,
        ),
        col("Count", "The number of times this event has occurred.", priority=1),
        col("Name", NAME_DOC, priority=1, fmt="name"),
    ),
    _event,
)
