"""ServiceAccount admission: every new pod runs as a service account that exists.

As upstream's plugin, on pod create: `spec.serviceAccountName` (and the
deprecated `spec.serviceAccount`) default to `default`; a pod naming a
service account that does not exist is refused; unless
`automountServiceAccountToken` is false (the pod's setting wins over the
service account's), the pod gets the `kube-api-access-XXXXX` projected
volume (a bound token, the cluster CA from `kube-root-ca.crt`, the
namespace) mounted read-only at `/var/run/secrets/kubernetes.io/serviceaccount`
in every container and init container that has nothing mounted there; and a
pod without `imagePullSecrets` takes the service account's.

The `default` service account is made by the service-account controller
just after its namespace: upstream's plugin retries that lookup for a moment
so a pod created right after its namespace is not refused. Admission here is
synchronous, so the waiting is `await_service_account`, which the API's
create path awaits before admission runs.
"""

from __future__ import annotations

import asyncio
import copy
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kubelite.api.registry import REGISTRY
from kubelite.apiserver import errors
from kubelite.apiserver.meta import generate_name

if TYPE_CHECKING:
    from kubelite.apiserver.admission import Attributes
    from kubelite.apiserver.rest import RestStorage

Obj = dict[str, Any]
NAME = "ServiceAccount"
DEFAULT_SERVICE_ACCOUNT = "default"
VOLUME_PREFIX = "kube-api-access-"
MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
ROOT_CA_CONFIGMAP = "kube-root-ca.crt"
TOKEN_EXPIRATION_S = 3607  # upstream's value: one hour and a few seconds
MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror"
DEFAULT_LOOKUP_ATTEMPTS = 10  # tries for `default`, 100-200 ms apart, as upstream
SERVICE_ACCOUNT = REGISTRY.by_kind("v1", "ServiceAccount")
NAMESPACE = REGISTRY.by_kind("v1", "Namespace")


def api_access_volume(name: str) -> Obj:
    """The projected volume upstream's admission adds (its TokenVolumeSource)."""
    return {
        "name": name,
        "projected": {
            "defaultMode": 0o644,
            "sources": [
                {"serviceAccountToken": {"expirationSeconds": TOKEN_EXPIRATION_S, "path": "token"}},
                {
                    "configMap": {
                        "name": ROOT_CA_CONFIGMAP,
                        "items": [{"key": "ca.crt", "path": "ca.crt"}],
                    }
                },
                {
                    "downwardAPI": {
                        "items": [
                            {
                                "path": "namespace",
                                "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                            }
                        ]
                    }
                },
            ],
        },
    }


def should_automount(sa: Obj, spec: Obj) -> bool:
    """The pod's `automountServiceAccountToken` wins, then the service account's; else true."""
    if spec.get("automountServiceAccountToken") is not None:
        return bool(spec["automountServiceAccountToken"])
    if sa.get("automountServiceAccountToken") is not None:
        return bool(sa["automountServiceAccountToken"])
    return True


def mount_api_access(spec: Obj, new_name: Callable[[], str] | None = None) -> None:
    """Add the API-access volume and its mount to `spec`, as upstream's mountServiceAccountToken."""
    volumes = spec.get("volumes") or []
    existing = [v["name"] for v in volumes if str(v.get("name", "")).startswith(VOLUME_PREFIX)]
    name = existing[0] if existing else (new_name or (lambda: generate_name(VOLUME_PREFIX)))()
    mount = {"name": name, "readOnly": True, "mountPath": MOUNT_PATH}
    needed = False
    for key in ("initContainers", "containers"):
        for container in spec.get(key) or []:
            mounts = container.get("volumeMounts") or []
            if any(vm.get("mountPath") == MOUNT_PATH for vm in mounts):
                continue
            container["volumeMounts"] = [*mounts, dict(mount)]
            needed = True
    if needed and not existing:
        spec["volumes"] = [*volumes, api_access_volume(name)]


def lookup_service_account(storage: RestStorage, namespace: str, name: str) -> Obj | None:
    assert SERVICE_ACCOUNT is not None
    kv = storage.store.get(SERVICE_ACCOUNT.key(namespace, name))
    return None if kv is None else kv.obj()


def service_account_name(spec: Obj) -> str:
    return str(
        spec.get("serviceAccountName") or spec.get("serviceAccount") or DEFAULT_SERVICE_ACCOUNT
    )


class ServiceAccountAdmission:
    """Upstream's `ServiceAccount` admission plugin (see the module docstring)."""

    def __init__(self, *, new_volume_name: Callable[[], str] | None = None) -> None:
        self.new_volume_name = new_volume_name

    def admit(
        self, attrs: Attributes, obj: Obj | None, old: Obj | None, storage: RestStorage
    ) -> None:
        if attrs.operation != "CREATE" or attrs.resource.kind != "Pod" or attrs.subresource:
            return
        if obj is None:
            return
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        if MIRROR_POD_ANNOTATION in annotations:
            return  # the node's own pods: their spec is the node's, not ours to change
        spec = obj.setdefault("spec", {})
        name = service_account_name(spec)
        spec["serviceAccountName"] = spec["serviceAccount"] = name
        ns = attrs.namespace or ""
        sa = lookup_service_account(storage, ns, name)
        if sa is None:
            raise errors.Forbidden(
                f'pods "{attrs.name}" is forbidden: error looking up service account '
                f'{ns}/{name}: serviceaccount "{name}" not found',
                details={"name": attrs.name, "kind": "pods"},
            )
        if should_automount(sa, spec):
            mount_api_access(spec, self.new_volume_name)
        if not spec.get("imagePullSecrets") and sa.get("imagePullSecrets"):
            spec["imagePullSecrets"] = copy.deepcopy(sa["imagePullSecrets"])


async def await_service_account(storage: RestStorage, namespace: str | None, pod: Obj) -> None:
    """Give the controller a moment to make a new namespace's `default` service account.

    Returns at once unless this API admits with `ServiceAccountAdmission`, the
    pod runs as `default`, its namespace exists and `default` is missing;
    then it looks again up to 10 times, 100-200 ms apart, as upstream's
    plugin does. Admission itself decides afterwards.
    """
    if not any(isinstance(p, ServiceAccountAdmission) for p in storage.admission):
        return
    if service_account_name(pod.get("spec") or {}) != DEFAULT_SERVICE_ACCOUNT:
        return
    ns = namespace or (pod.get("metadata") or {}).get("namespace") or ""
    assert NAMESPACE is not None
    if not ns or storage.store.get(NAMESPACE.key(None, ns)) is None:
        return
    interval = random.uniform(0.1, 0.2)
    for _ in range(DEFAULT_LOOKUP_ATTEMPTS - 1):
        if lookup_service_account(storage, ns, DEFAULT_SERVICE_ACCOUNT) is not None:
            return
        await asyncio.sleep(interval)


__all__ = [
    "MOUNT_PATH",
    "NAME",
    "ServiceAccountAdmission",
    "api_access_volume",
    "await_service_account",
    "mount_api_access",
    "should_automount",
]
