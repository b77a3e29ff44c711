"""The resource types kubelite serves.

One table drives routing, discovery, OpenAPI and the store's key layout, so a
kind is added in one place. Names, short names and categories are the upstream
ones: kubectl resolves `deploy`, `po`, `all` from what discovery says here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ResourceType:
    group: str  # "" for the core group
    version: str
    kind: str
    plural: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = (
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    )
    # False for views computed on request (metrics.k8s.io): nothing in the store,
    # no watch, no OpenAPI; controllers that walk every kind leave them out.
    stored: bool = True
    # Set (with stored=False) on a version served by converting to and from the
    # stored version of the same kind, named here: one object, two views
    # (autoscaling/v1 HPAs are v2 HPAs). Served with every verb, watched and
    # documented like a stored type; controllers still walk only the stored
    # version, so each object is seen once.
    storage_version: str = ""
    # The stored version's group when it is another one (events.k8s.io Events are
    # core Events: ""); None: the same group.
    storage_group: str | None = None
    # What a type served for a CustomResourceDefinition carries (`api.crd.types.CustomResource`):
    # its schema, subresources and printer columns. None for built-in kinds.
    custom: Any = field(default=None, compare=False, repr=False)

    @property
    def has_objects(self) -> bool:
        """True when objects of this type live in the store, as themselves or converted."""
        return self.stored or bool(self.storage_version)

    @property
    def storage_api_version(self) -> str:
        """The apiVersion objects of this type are stored as (its own, if stored)."""
        if not self.storage_version:
            return self.api_version
        group = self.group if self.storage_group is None else self.storage_group
        return f"{group}/{self.storage_version}" if group else self.storage_version

    @property
    def singular(self) -> str:
        return self.custom.singular if self.custom is not None else self.kind.lower()

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> str:
        return self.api_version

    @property
    def list_kind(self) -> str:
        return self.custom.list_kind if self.custom is not None else self.kind + "List"

    @property
    def store_prefix(self) -> str:
        """Key prefix in the store: `/registry/<group>/<plural>/`."""
        return f"/{self.group or 'core'}/{self.plural}/"

    def key(self, namespace: str | None, name: str) -> str:
        if self.namespaced:
            return f"{self.store_prefix}{namespace}/{name}"
        return f"{self.store_prefix}{name}"

    def prefix(self, namespace: str | None = None) -> str:
        if self.namespaced and namespace:
            return f"{self.store_prefix}{namespace}/"
        return self.store_prefix


_ALL = ("all",)

RESOURCES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "Namespace", "namespaces", False, ("ns",), ("status",)),
    ResourceType("", "v1", "Node", "nodes", False, ("no",), ("status", "proxy")),
    ResourceType(
        "",
        "v1",
        "Pod",
        "pods",
        True,
        ("po",),
        (
            "binding",
            "status",
            "log",
            "eviction",
            "exec",
            "attach",
            "portforward",
            "proxy",
            "ephemeralcontainers",
        ),
        _ALL,
    ),
    ResourceType("", "v1", "Service", "services", True, ("svc",), ("status", "proxy"), _ALL),
    ResourceType("", "v1", "Endpoints", "endpoints", True, ("ep",)),
    ResourceType("", "v1", "ConfigMap", "configmaps", True, ("cm",)),
    ResourceType("", "v1", "Secret", "secrets", True),
    ResourceType("", "v1", "LimitRange", "limitranges", True, ("limits",)),
    ResourceType("", "v1", "ResourceQuota", "resourcequotas", True, ("quota",), ("status",)),
    ResourceType("", "v1", "PodTemplate", "podtemplates", True),
    ResourceType(
        "",
        "v1",
        "ReplicationController",
        "replicationcontrollers",
        True,
        ("rc",),
        ("status", "scale"),
        _ALL,
    ),
    ResourceType("", "v1", "PersistentVolume", "persistentvolumes", False, ("pv",), ("status",)),
    ResourceType(
        "", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True, ("pvc",), ("status",)
    ),
    ResourceType("", "v1", "Event", "events", True, ("ev",)),
    ResourceType("", "v1", "ServiceAccount", "serviceaccounts", True, ("sa",), ("token",)),
    ResourceType(
        "apps", "v1", "Deployment", "deployments", True, ("deploy",), ("status", "scale"), _ALL
    ),
    ResourceType(
        "apps", "v1", "ReplicaSet", "replicasets", True, ("rs",), ("status", "scale"), _ALL
    ),
    ResourceType(
        "apps", "v1", "StatefulSet", "statefulsets", True, ("sts",), ("status", "scale"), _ALL
    ),
    ResourceType("apps", "v1", "DaemonSet", "daemonsets", True, ("ds",), ("status",), _ALL),
    ResourceType("apps", "v1", "ControllerRevision", "controllerrevisions", True),
    ResourceType("batch", "v1", "Job", "jobs", True, (), ("status",), _ALL),
    ResourceType("batch", "v1", "CronJob", "cronjobs", True, ("cj",), ("status",), _ALL),
    ResourceType(
        "autoscaling",
        "v2",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        True,
        ("hpa",),
        ("status",),
        _ALL,
    ),
    # What `kubectl autoscale` POSTs and many manifests still say: the stored v2
    # objects, converted (see apiserver/conversion.py). v2 stays the preferred version.
    ResourceType(
        "autoscaling",
        "v1",
        "HorizontalPodAutoscaler",
        "horizontalpodautoscalers",
        True,
        ("hpa",),
        ("status",),
        _ALL,
        stored=False,
        storage_version="v2",
    ),
    ResourceType("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True),
    ResourceType("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", False, ("pc",)),
    ResourceType("storage.k8s.io", "v1", "StorageClass", "storageclasses", False, ("sc",)),
    ResourceType("storage.k8s.io", "v1", "CSIDriver", "csidrivers", False),
    ResourceType("storage.k8s.io", "v1", "CSINode", "csinodes", False),
    ResourceType(
        "storage.k8s.io", "v1", "VolumeAttachment", "volumeattachments", False, (), ("status",)
    ),
    ResourceType("storage.k8s.io", "v1", "CSIStorageCapacity", "csistoragecapacities", True),
    ResourceType(
        "certificates.k8s.io",
        "v1",
        "CertificateSigningRequest",
        "certificatesigningrequests",
        False,
        ("csr",),
        ("approval", "status"),
    ),
    ResourceType("networking.k8s.io", "v1", "Ingress", "ingresses", True, ("ing",), ("status",)),
    ResourceType("networking.k8s.io", "v1", "IngressClass", "ingressclasses", False),
    ResourceType("node.k8s.io", "v1", "RuntimeClass", "runtimeclasses", False),
    ResourceType(
        "admissionregistration.k8s.io",
        "v1",
        "MutatingWebhookConfiguration",
        "mutatingwebhookconfigurations",
        False,
        categories=("api-extensions",),
    ),
    ResourceType(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingWebhookConfiguration",
        "validatingwebhookconfigurations",
        False,
        categories=("api-extensions",),
    ),
    ResourceType(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicy",
        "validatingadmissionpolicies",
        False,
        (),
        ("status",),
        ("api-extensions",),
    ),
    ResourceType(
        "admissionregistration.k8s.io",
        "v1",
        "ValidatingAdmissionPolicyBinding",
        "validatingadmissionpolicybindings",
        False,
        categories=("api-extensions",),
    ),
    # Stored and served, never enforced (as a network plugin without policy support).
    ResourceType("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", True, ("netpol",)),
    ResourceType("coordination.k8s.io", "v1", "Lease", "leases", True),
    ResourceType(
        "policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True, ("pdb",), ("status",)
    ),
    # One storage with core Events, converted (see apiserver/events_v1.py), as upstream.
    ResourceType(
        "events.k8s.io",
        "v1",
        "Event",
        "events",
        True,
        ("ev",),
        stored=False,
        storage_version="v1",
        storage_group="",
    ),
    # Stored and served, never enforced: every authenticated user may do all (AlwaysAllow).
    ResourceType("rbac.authorization.k8s.io", "v1", "Role", "roles", True),
    ResourceType("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True),
    ResourceType("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    ResourceType(
        "rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", False
    ),
    ResourceType(
        "apiextensions.k8s.io",
        "v1",
        "CustomResourceDefinition",
        "customresourcedefinitions",
        False,
        ("crd", "crds"),
        ("status",),
        ("api-extensions",),
    ),
    # Reviews: asked, answered, never stored (`kubectl auth can-i`, `kubectl auth whoami`).
    *(
        ResourceType(group, "v1", kind, plural, namespaced, verbs=("create",), stored=False)
        for group, kind, plural, namespaced in (
            ("authentication.k8s.io", "TokenReview", "tokenreviews", False),
            ("authentication.k8s.io", "SelfSubjectReview", "selfsubjectreviews", False),
            ("authorization.k8s.io", "SelfSubjectAccessReview", "selfsubjectaccessreviews", False),
            ("authorization.k8s.io", "SelfSubjectRulesReview", "selfsubjectrulesreviews", False),
            ("authorization.k8s.io", "SubjectAccessReview", "subjectaccessreviews", False),
            ("authorization.k8s.io", "LocalSubjectAccessReview", "localsubjectaccessreviews", True),
        )
    ),
    # The legacy form of `pods/NAME/binding` (what the official client's
    # `create_namespaced_binding` posts): create only, nothing stored.
    ResourceType("", "v1", "Binding", "bindings", True, verbs=("create",), stored=False),
    # Deprecated upstream, still what `kubectl get cs` asks: health computed on request.
    ResourceType(
        "",
        "v1",
        "ComponentStatus",
        "componentstatuses",
        False,
        ("cs",),
        verbs=("get", "list"),
        stored=False,
    ),
    # metrics-server's API, for `kubectl top`: usage the node agents measure on request.
    ResourceType(
        "metrics.k8s.io",
        "v1beta1",
        "NodeMetrics",
        "nodes",
        False,
        verbs=("get", "list"),
        stored=False,
    ),
    ResourceType(
        "metrics.k8s.io", "v1beta1", "PodMetrics", "pods", True, verbs=("get", "list"), stored=False
    ),
)


@dataclass
class Registry:
    """Lookup by (group, version, plural) and by (apiVersion, kind).

    Built-in types are fixed; types served for CustomResourceDefinitions come
    and go through `set_dynamic`, each set owned by one CRD name. Built-in
    types win any clash, as kube-apiserver's handlers come before the CRD
    handler. Listeners hear which groups changed, so cached discovery and
    OpenAPI documents are rebuilt only then: nothing polls.
    """

    resources: tuple[ResourceType, ...] = RESOURCES
    _by_path: dict[tuple[str, str, str], ResourceType] = field(default_factory=dict)
    _by_kind: dict[tuple[str, str], ResourceType] = field(default_factory=dict)
    _builtin: tuple[ResourceType, ...] = ()
    _dynamic: dict[str, tuple[ResourceType, ...]] = field(default_factory=dict)
    _listeners: list[Callable[[frozenset[str]], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._builtin = self.resources
        self._index()

    def _index(self) -> None:
        by_path: dict[tuple[str, str, str], ResourceType] = {}
        by_kind: dict[tuple[str, str], ResourceType] = {}
        for rt in (*self.dynamic_resources(), *self._builtin):
            by_path[(rt.group, rt.version, rt.plural)] = rt
            by_kind[(rt.api_version, rt.kind)] = rt
        self._by_path, self._by_kind = by_path, by_kind

    def dynamic_resources(self) -> tuple[ResourceType, ...]:
        return tuple(rt for owner in sorted(self._dynamic) for rt in self._dynamic[owner])

    def set_dynamic(self, owner: str, rts: Iterable[ResourceType]) -> None:
        """Serve `rts` for `owner` (a CRD name) instead of what it served before; () stops."""
        new = tuple(rts)
        old = self._dynamic.get(owner, ())
        if new == old and all(a.custom is b.custom for a, b in zip(new, old, strict=True)):
            return
        if new:
            self._dynamic[owner] = new
        else:
            self._dynamic.pop(owner, None)
        self.resources = (*self._builtin, *self.dynamic_resources())
        self._index()
        groups = frozenset(rt.group for rt in (*old, *new))
        for listener in list(self._listeners):
            listener(groups)

    def subscribe(self, listener: Callable[[frozenset[str]], None]) -> None:
        """Call `listener(groups)` whenever the dynamic types of those groups change."""
        self._listeners.append(listener)

    def is_builtin(self, rt: ResourceType) -> bool:
        return rt.custom is None

    def by_path(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._by_path.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> ResourceType | None:
        return self._by_kind.get((api_version, kind))

    def groups(self) -> dict[str, list[str]]:
        """Group name -> its versions, core group under ""; in registry order."""
        out: dict[str, list[str]] = {}
        for rt in self.resources:
            versions = out.setdefault(rt.group, [])
            if rt.version not in versions:
                versions.append(rt.version)
        return out

    def in_group_version(self, group: str, version: str) -> list[ResourceType]:
        return [rt for rt in self.resources if rt.group == group and rt.version == version]


REGISTRY = Registry()
