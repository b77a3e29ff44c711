"""The PersistentVolumeClaimResize admission plugin: who may grow a claim.

A claim's storage request may only grow when the claim is Bound and its
storage class (the same before and after, and not "") exists and sets
`allowVolumeExpansion: true`; otherwise the update is refused with
upstream's 403, `persistentvolumeclaims "data" is forbidden: only dynamically
provisioned pvc can be resized and the storageclass that provisions the pvc
must support resize`. Shrinking, status writes and other kinds are not its
business. The PV controller then carries the expansion out.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubelite.api.quantity import QuantityError, parse_quantity
from kubelite.api.registry import REGISTRY
from kubelite.apiserver import errors

if TYPE_CHECKING:
    from kubelite.apiserver.admission import Attributes
    from kubelite.apiserver.rest import RestStorage

NAME = "PersistentVolumeClaimResize"
STORAGE_CLASS = REGISTRY.by_kind("storage.k8s.io/v1", "StorageClass")
NOT_BOUND = "Only bound persistent volume claims can be expanded"
NOT_RESIZABLE = (
    "only dynamically provisioned pvc can be resized and "
    "the storageclass that provisions the pvc must support resize"
)

Obj = dict[str, Any]


def _request(pvc: Obj) -> Any:
    spec = pvc.get("spec") or {}
    value = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
    try:
        return parse_quantity(value) if value is not None else None
    except QuantityError:
        return None


class PersistentVolumeClaimResize:
    def admit(self, attrs, obj, old, storage) -> None:  # type: ignore[no-untyped-def]
        """Validating only: see `validate`."""

    def validate(self, attrs: Attributes, obj: Obj, old: Obj | None, storage: RestStorage) -> None:
        if (
            attrs.operation != "UPDATE"
            or attrs.resource.kind != "PersistentVolumeClaim"
            or attrs.resource.group != ""
            or attrs.subresource
            or old is None
        ):
            return
        new_size, old_size = _request(obj), _request(old)
        if new_size is None or old_size is None or new_size <= old_size:
            return
        if (old.get("status") or {}).get("phase") != "Bound":
            raise self._forbidden(attrs, NOT_BOUND)
        if not self._allows_resize(obj, old, storage):
            raise self._forbidden(attrs, NOT_RESIZABLE)

    @staticmethod
    def _allows_resize(obj: Obj, old: Obj, storage: RestStorage) -> bool:
        name = (obj.get("spec") or {}).get("storageClassName") or ""
        if not name or name != ((old.get("spec") or {}).get("storageClassName") or ""):
            return False
        assert STORAGE_CLASS is not None
        kv = storage.store.get(STORAGE_CLASS.key(None, name))
        return kv is not None and kv.obj().get("allowVolumeExpansion") is True

    @staticmethod
    def _forbidden(attrs: Attributes, message: str) -> errors.Forbidden:
        return errors.Forbidden(
            f'{attrs.resource.plural} "{attrs.name}" is forbidden: {message}',
            details={"name": attrs.name, "kind": attrs.resource.plural},
        )


__all__ = ["NAME", "PersistentVolumeClaimResize"]
