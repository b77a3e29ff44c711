"""What the API does differently for custom resources (upstream's customresource strategy).

Objects of a CRD's types are plain JSON checked against the version's
schema: on write they are pruned (in `http`, with field validation),
defaulted from the schema, validated with the schema's messages and stored
in the storage version; on read they are defaulted again and shown in the
version asked for (conversion strategy None: only `apiVersion` changes).
With a status subresource the main resource ignores status and `/status`
ignores everything else; `metadata.generation` moves only on spec changes.
A request to a deprecated version gets its warning from `warn_if_deprecated`.
"""

from __future__ import annotations

from typing import Any

import orjson

from kubelite.api import names
from kubelite.api.crd.defaulting import apply_defaults
from kubelite.api.crd.pruning import prune_resource
from kubelite.api.fielderrors import FieldError
from kubelite.api.registry import ResourceType
from kubelite.api.validation_meta import validate_object_meta, validate_object_meta_update
from kubelite.apiserver import errors
from kubelite.apiserver import meta as m
from kubelite.apiserver.request_context import add_warning

Obj = dict[str, Any]


def warn_if_deprecated(rt: ResourceType) -> None:
    """A request to a deprecated version carries its warning (upstream adds it to every
    request the custom resource handler serves for that version, watches included)."""
    if rt.custom is not None and rt.custom.deprecation_warning:
        add_warning(rt.custom.deprecation_warning)


def storage_api_version(rt: ResourceType) -> str:
    version = rt.custom.storage_version or rt.version
    return f"{rt.group}/{version}"


def prepare_create(rt: ResourceType, obj: Obj) -> None:
    if rt.custom.terminating:
        raise errors.MethodNotAllowed(
            "create not allowed while custom resource definition is terminating"
        )
    if rt.custom.status:
        obj.pop("status", None)
    m.meta(obj)["generation"] = 1


def default(rt: ResourceType, obj: Obj) -> None:
    apply_defaults(obj, rt.custom.schema)


def bump_generation(rt: ResourceType, new: Obj, old: Obj) -> None:
    """Generation counts changes to anything but metadata (and status, when it is a subresource)."""
    skip = {"metadata", "apiVersion", "kind"} | ({"status"} if rt.custom.status else set())
    changed = {k: v for k, v in new.items() if k not in skip} != {
        k: v for k, v in old.items() if k not in skip
    }
    md = m.meta(new)
    generation = int(m.meta(old).get("generation") or 1)
    md["generation"] = generation + 1 if changed else generation


def validate(rt: ResourceType, obj: Obj, old: Obj | None) -> list[FieldError]:
    if old is None:
        errs = validate_object_meta(
            obj,
            namespaced=rt.namespaced,
            name_fn=names.name_is_dns_subdomain,
            kube_finalizers=False,
        )
    else:
        errs = validate_object_meta_update(obj, old, kube_finalizers=False)
    body = {k: v for k, v in obj.items() if k not in ("metadata", "apiVersion", "kind")}
    # Loaded with the first custom resource checked: a cluster without CRDs never needs it.
    from kubelite.api.crd.schema_validation import validate_value

    errs += validate_value(body, {**rt.custom.schema, "required": _required(rt)}, "")
    errs += _list_errors(rt, obj, old)
    if rt.custom.has_rules:
        errs += _rules(rt, obj, old, errs)
    return errs


def _list_errors(rt: ResourceType, obj: Obj, old: Obj | None) -> list[FieldError]:
    """Duplicates in set and map lists; on update only if the old object had none (ratcheting)."""
    from kubelite.api.crd.listtype import list_errors

    if old is not None and list_errors(old, rt.custom.schema):
        return []
    return list_errors(obj, rt.custom.schema)


def _rules(rt: ResourceType, obj: Obj, old: Obj | None, errs: list[FieldError]) -> list[FieldError]:
    """x-kubernetes-validations, unless the object's shape is already wrong (as upstream)."""
    from kubelite.api.crd import cel_rules

    if any(e.reason in ("FieldValueTypeInvalid", "FieldValueNotSupported") for e in errs):
        return [cel_rules.blocked_error()]
    validator = cel_rules.validator_for(rt.custom, rt.custom.schema)
    if validator is None:
        return []
    outcome = cel_rules.validate_rules(validator, obj, old)
    for warning in outcome.warnings:
        add_warning(warning)
    return outcome.errors


def _required(rt: ResourceType) -> list[str]:
    return [
        r
        for r in rt.custom.schema.get("required") or []
        if r not in ("metadata", "apiVersion", "kind")
    ]


def to_storage(rt: ResourceType, obj: Obj) -> None:
    """Objects are kept in the storage version; with strategy None only apiVersion differs."""
    obj["apiVersion"] = storage_api_version(rt)


def served(rt: ResourceType, raw: bytes) -> bytes:
    """A stored object as `rt` serves it: its version, and the schema's defaults filled in."""
    custom = rt.custom
    if custom.storage_version == rt.version and not custom.has_defaults:
        return raw
    obj = orjson.loads(raw)
    obj["apiVersion"] = rt.api_version
    if custom.has_defaults:
        apply_defaults(obj, custom.schema)
    return orjson.dumps(obj)


def served_obj(rt: ResourceType, obj: Obj) -> Obj:
    if rt.custom.storage_version == rt.version and not rt.custom.has_defaults:
        return obj
    out = orjson.loads(orjson.dumps(obj))
    out["apiVersion"] = rt.api_version
    if rt.custom.has_defaults:
        apply_defaults(out, rt.custom.schema)
    return out


def unsupported_patch() -> errors.ApiError:
    """Strategic merge patch has no meaning without Go types: upstream refuses it for CRs."""
    return errors.UnsupportedMediaType(
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    )


def prune_unknown(rt: ResourceType, obj: Obj, *, remove: bool) -> list[str]:
    """Fields the version's schema does not declare, and those of `metadata` that
    ObjectMeta does not (`metadata.junk`); see `api.crd.pruning`."""
    return prune_resource(obj, rt.custom.schema, remove=remove)


# ---- scale ------------------------------------------------------------------------------


def _path(json_path: str) -> list[str]:
    return [p for p in json_path.split(".") if p]


def _read(obj: Obj, json_path: str) -> Any:
    value: Any = obj
    for part in _path(json_path):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def scale_of(rt: ResourceType, obj: Obj) -> Obj:
    """The `autoscaling/v1` Scale of a custom resource, from the CRD's scale paths."""
    scale = rt.custom.scale
    md = obj["metadata"]
    spec = _read(obj, scale.spec_replicas_path)
    status = _read(obj, scale.status_replicas_path)
    selector = _read(obj, scale.label_selector_path) if scale.label_selector_path else None
    out_status: Obj = {"replicas": int(status) if isinstance(status, int) else 0}
    if isinstance(selector, str) and selector:
        out_status["selector"] = selector
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: md[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in md
        },
        "spec": {"replicas": int(spec) if isinstance(spec, int) else 0},
        "status": out_status,
    }


def set_replicas(rt: ResourceType, obj: Obj, replicas: int) -> None:
    parts = _path(rt.custom.scale.spec_replicas_path)
    node = obj
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = node[part] = {}
        node = child
    node[parts[-1]] = replicas
