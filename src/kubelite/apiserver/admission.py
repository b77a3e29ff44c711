"""Admission: checks and mutations that need other objects.

Validation (kubelite.api.validation) looks at one object alone; admission may
read the store, as kube-apiserver's admission plugins do. Each plugin sees
every write before it is stored and may change the object or refuse it with
an `ApiError`; plugins run in list order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from kubelite.api.registry import REGISTRY, ResourceType
from kubelite.apiserver import errors

if TYPE_CHECKING:
    from collections.abc import Callable

    from kubelite.apiserver.rest import RestStorage
    from kubelite.apiserver.service_ips import Taken

NAMESPACE = REGISTRY.by_kind("v1", "Namespace")
PRIORITY_CLASS = REGISTRY.by_kind("scheduling.k8s.io/v1", "PriorityClass")
STORAGE_CLASS = REGISTRY.by_kind("storage.k8s.io/v1", "StorageClass")
DEFAULT_CLASS_ANNOTATION = "storageclass.kubernetes.io/is-default-class"
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
SYSTEM_PRIORITY_CLASSES = {
    "system-cluster-critical": 2000000000,
    "system-node-critical": 2000001000,
}


@dataclass(frozen=True)
class Attributes:
    operation: str  # CREATE | UPDATE | DELETE
    resource: ResourceType
    namespace: str | None
    name: str
    subresource: str = ""


class AdmissionPlugin(Protocol):
    def admit(
        self,
        attrs: Attributes,
        obj: dict[str, Any] | None,
        old: dict[str, Any] | None,
        storage: RestStorage,
    ) -> None: ...


@runtime_checkable
class ValidatingPlugin(Protocol):
    """A plugin that also checks the defaulted, validated object just before it is
    stored (upstream's ValidationInterface): LimitRanger's bounds, ResourceQuota."""

    def validate(
        self,
        attrs: Attributes,
        obj: dict[str, Any],
        old: dict[str, Any] | None,
        storage: RestStorage,
    ) -> None: ...


class NamespaceLifecycle:
    """New content only in namespaces that exist and are not terminating."""

    def admit(self, attrs, obj, old, storage) -> None:  # type: ignore[no-untyped-def]
        if attrs.operation == "DELETE":
            if attrs.resource is NAMESPACE and attrs.name in SYSTEM_NAMESPACES[:1]:
                raise errors.Forbidden(
                    f'namespaces "{attrs.name}" is forbidden: this namespace may not be deleted'
                )
            return
        if not attrs.resource.namespaced or attrs.operation != "CREATE":
            return
        assert NAMESPACE is not None
        kv = storage.store.get(NAMESPACE.key(None, attrs.namespace or ""))
        if kv is None:
            raise errors.NotFound.object("namespaces", "", attrs.namespace or "")
        ns = kv.obj()
        if ns.get("status", {}).get("phase") == "Terminating" or ns["metadata"].get(
            "deletionTimestamp"
        ):
            raise errors.Forbidden(
                f'{attrs.resource.plural} "{attrs.name}" is forbidden: unable to create new '
                f"content in namespace {attrs.namespace} because it is being terminated",
                details={"name": attrs.name, "kind": attrs.resource.plural},
            )


DEFAULT_TOLERATION_SECONDS = 300  # kube-apiserver's --default-not-ready-toleration-seconds


class DefaultTolerationSeconds:
    """Every pod tolerates a node that is not ready, or unreachable, for 300 s before
    the taint manager evicts it, as upstream's DefaultTolerationSeconds plugin adds
    (a node's brief trouble must not delete every pod on it)."""

    TAINTS = ("node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable")

    def admit(self, attrs, obj, old, storage) -> None:  # type: ignore[no-untyped-def]
        if attrs.resource.kind != "Pod" or attrs.subresource or obj is None:
            return
        if attrs.operation not in ("CREATE", "UPDATE"):
            return
        spec = obj.setdefault("spec", {})
        tolerations = spec.get("tolerations") or []
        if not isinstance(tolerations, list):
            return  # validation says what is wrong with it
        for taint in self.TAINTS:
            if not any(_tolerates_no_execute(t, taint) for t in tolerations if isinstance(t, dict)):
                tolerations.append({
                    "key": taint, "operator": "Exists", "effect": "NoExecute",
                    "tolerationSeconds": DEFAULT_TOLERATION_SECONDS,
                })  # fmt: skip
        spec["tolerations"] = tolerations


def _tolerates_no_execute(toleration: dict[str, Any], taint: str) -> bool:
    return toleration.get("key") in (taint, "", None) and toleration.get("effect") in (
        "NoExecute", "", None,
    )  # fmt: skip


class Priority:
    """Resolve `priorityClassName` into `priority`, as the Priority plugin does, and
    keep PriorityClasses to one global default.

    The global default class is remembered until a PriorityClass is written,
    so a pod create does not list and parse every class (upstream reads them
    from an informer cache).
    """

    def __init__(self) -> None:
        self._default: tuple[Any, int, dict[str, Any] | None] | None = None

    def admit(self, attrs, obj, old, storage) -> None:  # type: ignore[no-untyped-def]
        if obj is None or attrs.subresource:
            return
        if attrs.resource.kind == "PriorityClass" and attrs.operation in ("CREATE", "UPDATE"):
            self._one_default(attrs, obj, storage)
        elif attrs.resource.kind == "Pod" and attrs.operation == "CREATE":
            self._admit_pod(attrs, obj, storage)
        elif attrs.resource.kind == "Pod" and attrs.operation == "UPDATE" and old is not None:
            # Set on create; validation refuses any other change to them.
            spec, old_spec = obj.setdefault("spec", {}), old.get("spec") or {}
            for key in ("priority", "preemptionPolicy"):
                if spec.get(key) is None and old_spec.get(key) is not None:
                    spec[key] = old_spec[key]

    def _admit_pod(self, attrs, obj: dict[str, Any], storage) -> None:  # type: ignore[no-untyped-def]
        spec = obj.setdefault("spec", {})
        name = spec.get("priorityClassName")
        if name:
            pc = self._class(name, storage)
            if pc is None:
                raise errors.Forbidden(
                    f'pods "{attrs.name}" is forbidden: no PriorityClass with name {name} was found'
                )
            value, policy = int(pc.get("value", 0)), pc.get("preemptionPolicy")
        else:
            default = self._default_class(storage)
            if default is None:
                value, policy = 0, "PreemptLowerPriority"
            else:
                spec["priorityClassName"] = default["metadata"]["name"]
                value, policy = int(default.get("value", 0)), default.get("preemptionPolicy")
        if spec.get("priority") is not None and spec["priority"] != value:
            raise errors.Forbidden(
                f'pods "{attrs.name}" is forbidden: the integer value of priority '
                f"({spec['priority']}) must not be provided in pod spec; priority admission "
                f"controller computed {value} from the given PriorityClass name"
            )
        spec["priority"] = value
        if policy:
            given = spec.get("preemptionPolicy")
            if given is not None and given != policy:
                raise errors.Forbidden(
                    f'pods "{attrs.name}" is forbidden: the string value of PreemptionPolicy '
                    f"({given}) must not be provided in pod spec; priority admission controller "
                    f"computed {policy} from the given PriorityClass name"
                )
            spec["preemptionPolicy"] = policy

    def _one_default(self, attrs, obj: dict[str, Any], storage) -> None:  # type: ignore[no-untyped-def]
        if not obj.get("globalDefault"):
            return
        default = self._default_class(storage)
        if default is None:
            return
        holder = default["metadata"]["name"]
        if attrs.operation == "CREATE" or holder != attrs.name:
            raise errors.Forbidden(
                f'priorityclasses.scheduling.k8s.io "{attrs.name}" is forbidden: '
                f"PriorityClass {holder} is already marked as default. Only one default can exist",
                details={
                    "name": attrs.name,
                    "group": "scheduling.k8s.io",
                    "kind": "priorityclasses",
                },
            )

    def _class(self, name: str, storage: RestStorage) -> dict[str, Any] | None:
        assert PRIORITY_CLASS is not None
        if name in SYSTEM_PRIORITY_CLASSES:
            return {
                "metadata": {"name": name},
                "value": SYSTEM_PRIORITY_CLASSES[name],
                "preemptionPolicy": "PreemptLowerPriority",
            }
        kv = storage.store.get(PRIORITY_CLASS.key(None, name))
        return None if kv is None else kv.obj()

    def _default_class(self, storage: RestStorage) -> dict[str, Any] | None:
        """The global default; with several (two writes racing), the lowest value's."""
        assert PRIORITY_CLASS is not None
        revision = storage.store.kind_revision(PRIORITY_CLASS.prefix())
        cached = self._default
        if cached is not None and cached[0] is storage.store and cached[1] == revision:
            return cached[2]
        found: dict[str, Any] | None = None
        items, _, _ = storage.store.list(PRIORITY_CLASS.prefix())
        for kv in items:
            pc = kv.obj()
            if pc.get("globalDefault") and (
                found is None or int(found.get("value", 0)) > int(pc.get("value", 0))
            ):
                found = pc
        self._default = (storage.store, revision, found)
        return found


class DefaultStorageClass:
    """A claim that names no class gets the default one, as upstream's plugin does."""

    def admit(self, attrs, obj, old, storage) -> None:  # type: ignore[no-untyped-def]
        if attrs.operation != "CREATE" or attrs.resource.kind != "PersistentVolumeClaim":
            return
        spec = (obj or {}).setdefault("spec", {})
        if "storageClassName" in spec and spec["storageClassName"] is not None:
            return
        assert STORAGE_CLASS is not None
        items, _, _ = storage.store.list(STORAGE_CLASS.prefix())
        classes = [kv.obj() for kv in items]
        defaults = [
            sc
            for sc in classes
            if (sc["metadata"].get("annotations") or {}).get(DEFAULT_CLASS_ANNOTATION) == "true"
        ]
        if defaults:
            newest = max(defaults, key=lambda sc: sc["metadata"].get("creationTimestamp", ""))
            spec["storageClassName"] = newest["metadata"]["name"]


INGRESS_CLASS = REGISTRY.by_kind("networking.k8s.io/v1", "IngressClass")
DEFAULT_INGRESS_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"


class StorageObjectInUseProtection:
    """New claims and volumes carry the in-use protection finalizer, as upstream's
    plugin adds it; the pvc- and pv-protection controllers remove it once the object
    is no longer in use, so deleting a claim a pod mounts waits for that pod."""

    FINALIZERS = {
        "PersistentVolumeClaim": "kubernetes.io/pvc-protection",
        "PersistentVolume": "kubernetes.io/pv-protection",
    }

    def admit(self, attrs, obj, old, storage) -> None:  # type: ignore[no-untyped-def]
        finalizer = self.FINALIZERS.get(attrs.resource.kind)
        if attrs.operation != "CREATE" or finalizer is None or attrs.resource.group != "":
            return
        md = obj.setdefault("metadata", {})
        finalizers = md.get("finalizers") or []
        if finalizer not in finalizers:
            md["finalizers"] = [*finalizers, finalizer]


class DefaultIngressClass:
    """An Ingress created with no class gets the default one (upstream's DefaultIngressClass).

    Neither `ingressClassName` nor the deprecated annotation set: the newest
    class annotated as default (ties by name) is filled in; none, nothing.
    """

    def admit(self, attrs, obj, old, storage) -> None:  # type: ignore[no-untyped-def]
        if attrs.operation != "CREATE" or attrs.resource.kind != "Ingress" or attrs.subresource:
            return
        spec = (obj or {}).setdefault("spec", {})
        annotations = (obj or {}).get("metadata", {}).get("annotations") or {}
        if spec.get("ingressClassName") is not None or "kubernetes.io/ingress.class" in annotations:
            return
        assert INGRESS_CLASS is not None
        items, _, _ = storage.store.list(INGRESS_CLASS.prefix())
        defaults = [
            ic["metadata"]
            for ic in (kv.obj() for kv in items)
            if (ic["metadata"].get("annotations") or {}).get(DEFAULT_INGRESS_CLASS_ANNOTATION)
            == "true"
        ]
        if defaults:
            defaults.sort(key=lambda m: m.get("name", ""))
            newest = max(defaults, key=lambda m: m.get("creationTimestamp", ""))
            spec["ingressClassName"] = newest["name"]


def default_plugins() -> list[AdmissionPlugin]:
    from kubelite.apiserver.csr_strategy import CertificateAdmission
    from kubelite.apiserver.limitranger import LimitRanger
    from kubelite.apiserver.podsecurity.plugin import PodSecurity
    from kubelite.apiserver.pvc_resize import PersistentVolumeClaimResize
    from kubelite.apiserver.resourcequota_admission import ResourceQuotaAdmission
    from kubelite.apiserver.runtimeclass_admission import RuntimeClassAdmission
    from kubelite.apiserver.service_ips import ServiceIPAllocator

    return [
        NamespaceLifecycle(),
        LimitRanger(),
        PodSecurity(),
        Priority(),
        DefaultTolerationSeconds(),
        DefaultStorageClass(),
        # Upstream's place: after the storage plugins, before DefaultIngressClass; its
        # tolerations merge with those DefaultTolerationSeconds added.
        RuntimeClassAdmission(),
        DefaultIngressClass(),
        ServiceIPAllocator(),
        PersistentVolumeClaimResize(),
        CertificateAdmission(),  # approval, signing, subject restriction: the request's authorizer
        ResourceQuotaAdmission(),  # last, as upstream: it charges what the others admitted
    ]


def server_plugins(
    service_addresses_elsewhere: Callable[[], Taken] | None = None,
) -> list[AdmissionPlugin]:
    """The chain `kubelite up` serves with: the defaults plus ServiceAccount (after
    NamespaceLifecycle, as upstream orders it) and StorageObjectInUseProtection (after
    DefaultStorageClass). Both need their controllers, so in-process test APIs
    without controllers keep `default_plugins`, as upstream's integration tests
    disable them. `service_addresses_elsewhere`: what other clusters on this
    machine hold, for the Service allocator to leave alone."""
    from kubelite.apiserver.service_ips import ServiceIPAllocator
    from kubelite.apiserver.serviceaccount_admission import ServiceAccountAdmission

    plugins = default_plugins()
    for plugin in plugins:
        if isinstance(plugin, ServiceIPAllocator):
            plugin.elsewhere = service_addresses_elsewhere
    plugins.insert(1, ServiceAccountAdmission())
    # Needs the protection controllers to ever let a claim or volume go, as above.
    after = next(i for i, p in enumerate(plugins) if isinstance(p, DefaultStorageClass))
    plugins.insert(after + 1, StorageObjectInUseProtection())
    return plugins
