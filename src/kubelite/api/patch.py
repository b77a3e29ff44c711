"""The three patch formats of PATCH requests: JSON merge, JSON patch, strategic merge.

Each function returns a new object and never mutates its inputs (we work on
deep copies, which also lets the strategic merge code consume the patch the
way apimachinery does). Failures raise `PatchError` with the message
kube-apiserver would put in the `Status`:

- `json_merge_patch` is RFC 7386 as evanphx/json-patch v4 implements it (the
  library kube-apiserver uses): `null` deletes, nulls inside added values are
  pruned, even inside objects in arrays.
- `json_patch` is RFC 6902 as the same library does it, quirks included:
  negative array indices count from the end, `replace` of a missing object key
  adds it, and the error texts are the library's.
- `strategic_merge_patch` translates `k8s.io/apimachinery/pkg/util/strategicpatch`
  (`StrategicMergeMapPatch`, server side), driven by a table of the
  `patchStrategy`/`patchMergeKey` struct tags of k8s.io/api v0.32 for the kinds
  we serve. A field missing from the table has no strategy: maps merge, lists
  are replaced. That is also all an unknown kind gets, besides `metadata`.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any

from kubelite.api.gofmt import go_type, go_v


class PatchError(ValueError):
    """A patch that cannot be applied; the message is the upstream library's."""


# --- formatting values the way Go's %v does, for error messages ------------------------


def _go_equal(a: Any, b: Any) -> bool:
    """Go interface equality on decoded JSON scalars (1 == 1.0, but true != 1)."""
    return go_type(a) == go_type(b) and a == b


def _bad_arg_type(expected: str, actual: Any) -> PatchError:
    return PatchError(f"expected a {expected}, but received a {go_type(actual)}")


# --- JSON merge patch (RFC 7386) ------------------------------------------------------


def json_merge_patch(target: Any, patch: Any) -> Any:
    """Apply an `application/merge-patch+json` body to `target`."""
    if not isinstance(patch, dict):
        return _pruned(patch)
    doc = copy.deepcopy(target) if isinstance(target, dict) else {}
    return _merge_docs(doc, patch)


def _merge_docs(doc: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    for key, value in patch.items():
        if value is None:
            doc.pop(key, None)
        elif doc.get(key) is None:
            doc[key] = _pruned(value)
        elif isinstance(doc[key], dict) and isinstance(value, dict):
            _merge_docs(doc[key], value)
        else:
            doc[key] = _pruned(value)
    return doc


def _pruned(value: Any) -> Any:
    """A copy without null members; null array elements stay, as in evanphx v4."""
    if isinstance(value, dict):
        return {k: _pruned(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


# --- JSON patch (RFC 6902) -------------------------------------------------------------

# kube-apiserver's JSONPatchMaxCopyBytes: how much `copy` operations may add in total.
COPY_SIZE_LIMIT = 3 * 1024 * 1024
_MISSING = "missing value"
_INVALID_INDEX = "invalid index referenced"


class _OpError(Exception):
    """An error inside an operation, before the operation adds its context."""


def json_patch(target: Any, ops: Any) -> Any:
    """Apply an `application/json-patch+json` body (a list of operations) to `target`."""
    if not isinstance(ops, list):
        raise PatchError(
            f"json: cannot unmarshal {_json_kind(ops)} into Go value of type jsonpatch.Patch"
        )
    for op in ops:
        if not isinstance(op, dict):
            raise PatchError(
                f"json: cannot unmarshal {_json_kind(op)} into Go value of type jsonpatch.Operation"
            )
    doc = copy.deepcopy(target)
    copied = [0]  # bytes added by `copy` so far, bounded as kube-apiserver bounds them
    for op in ops:
        kind = op.get("op")
        kind = kind if isinstance(kind, str) else "unknown"
        if kind == "copy":
            doc = _op_copy(doc, op, copied)
            continue
        apply = _OPERATIONS.get(kind)
        if apply is None:
            raise PatchError(f"Unexpected kind: {kind}")
        doc = apply(doc, op)
    return doc


def _json_kind(v: Any) -> str:
    if isinstance(v, dict):
        return "object"
    if isinstance(v, list):
        return "array"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int | float):
        return "number"
    return "string" if isinstance(v, str) else "null"


def _op_string(op: dict[str, Any], name: str) -> str:
    value = op.get(name)
    if value is None:
        missing = (
            "operation missing path field" if name == "path" else "operation, missing from field"
        )
        raise _OpError(f"{missing}: {_MISSING}")
    if not isinstance(value, str):
        raise _OpError(f"json: cannot unmarshal {_json_kind(value)} into Go value of type string")
    return value


def _pointer(op: dict[str, Any], name: str, context: str, *, bare: bool = False) -> str:
    """The op's path/from; `bare` errors drop the inner reason, as add/remove/copy do."""
    try:
        return _op_string(op, name)
    except _OpError as exc:
        raise PatchError(f"{context}: {_MISSING}" if bare else f"{context}: {exc}") from None


def _decode_token(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _find(doc: Any, path: str) -> tuple[Any, str] | None:
    """findObject: the container holding the path's last token, and that token."""
    parts = path.split("/")
    if len(parts) < 2:
        return None
    node = doc
    for part in parts[1:-1]:
        try:
            node = _get(node, _decode_token(part))
        except _OpError:
            return None
        if not isinstance(node, dict | list):
            return None
    return node, _decode_token(parts[-1])


def _locate(doc: Any, path: str, missing: str) -> tuple[Any, str]:
    """_find, or the operation's "does not apply" error."""
    found = _find(doc, path)
    if found is None:
        raise PatchError(f"{missing}: {_MISSING}")
    return found


def _atoi(key: str) -> int:
    digits = key[1:] if key[:1] in ("+", "-") else key
    if not digits or not digits.isascii() or not digits.isdigit():
        raise _OpError(f'strconv.Atoi: parsing "{key}": invalid syntax')
    n = int(key)
    if not -(2**63) <= n < 2**63:
        raise _OpError(f'strconv.Atoi: parsing "{key}": value out of range')
    return n


def _index(container: list[Any], key: str, size: int) -> int:
    """An index into a list of `size` slots; negative counts from the end."""
    idx = _atoi(key)
    if idx >= size or idx < -size:
        raise _OpError(f"Unable to access invalid index: {idx}: {_INVALID_INDEX}")
    return idx + size if idx < 0 else idx


def _get(container: Any, key: str) -> Any:
    if isinstance(container, dict):
        return container.get(key)
    return container[_index(container, key, len(container))]


def _add(container: Any, key: str, value: Any) -> None:
    if isinstance(container, dict):
        container[key] = value
    elif key == "-":
        container.append(value)
    else:
        try:
            _atoi(key)
        except _OpError as exc:
            raise _OpError(f"value was not a proper array index: '{key}': {exc}") from None
        container.insert(_index(container, key, len(container) + 1), value)


def _remove(container: Any, key: str) -> None:
    if isinstance(container, dict):
        if key not in container:
            raise _OpError(f"Unable to remove nonexistent key: {key}: {_MISSING}")
        del container[key]
    else:
        del container[_index(container, key, len(container))]


def _op_add(doc: Any, op: dict[str, Any]) -> Any:
    path = _pointer(op, "path", "add operation failed to decode path", bare=True)
    found = _locate(doc, path, f'add operation does not apply: doc is missing path: "{path}"')
    try:
        _add(*found, copy.deepcopy(op.get("value")))
    except _OpError as exc:
        raise PatchError(f"error in add for path: '{path}': {exc}") from None
    return doc


def _op_remove(doc: Any, op: dict[str, Any]) -> Any:
    path = _pointer(op, "path", "remove operation failed to decode path", bare=True)
    found = _locate(doc, path, f'remove operation does not apply: doc is missing path: "{path}"')
    try:
        _remove(*found)
    except _OpError as exc:
        raise PatchError(f"error in remove for path: '{path}': {exc}") from None
    return doc


def _op_replace(doc: Any, op: dict[str, Any]) -> Any:
    path = _pointer(op, "path", "replace operation failed to decode path")
    value = copy.deepcopy(op.get("value"))
    if path == "":
        # The library silently ignores a whole-document replace by a scalar.
        return value if isinstance(value, dict | list) else doc
    found = _locate(doc, path, f"replace operation does not apply: doc is missing path: {path}")
    container, key = found
    if isinstance(container, dict):
        container[key] = value  # a missing key is added, as the library does
        return doc
    try:
        idx = _index(container, key, len(container))
    except _OpError:
        raise PatchError(
            f"replace operation does not apply: doc is missing key: {path}: {_MISSING}"
        ) from None
    container[idx] = value
    return doc


def _op_move(doc: Any, op: dict[str, Any]) -> Any:
    source = _pointer(op, "from", "move operation failed to decode from")
    found = _locate(
        doc, source, f"move operation does not apply: doc is missing from path: {source}"
    )
    container, key = found
    try:
        value = _get(container, key)
        _remove(container, key)
    except _OpError as exc:
        raise PatchError(f"error in move for path: '{key}': {exc}") from None
    path = _pointer(op, "path", "move operation failed to decode path")
    found = _locate(
        doc, path, f"move operation does not apply: doc is missing destination path: {path}"
    )
    try:
        _add(*found, value)
    except _OpError as exc:
        raise PatchError(f"error in move for path: '{path}': {exc}") from None
    return doc


def _op_copy(doc: Any, op: dict[str, Any], copied: list[int]) -> Any:
    source = _pointer(op, "from", "copy operation failed to decode from")
    found = _locate(
        doc, source, f"copy operation does not apply: doc is missing from path: {source}"
    )
    try:
        value = _get(*found)
    except _OpError as exc:
        raise PatchError(f"error in copy for from: '{source}': {exc}") from None
    path = _pointer(op, "path", "copy operation failed to decode path", bare=True)
    found = _locate(
        doc, path, f"copy operation does not apply: doc is missing destination path: {path}"
    )
    copied[0] += len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    if copied[0] > COPY_SIZE_LIMIT:
        raise PatchError(
            "Unable to complete the copy, the accumulated size increase of copy is "
            f"{copied[0]}, exceeding the limit {COPY_SIZE_LIMIT}"
        )
    try:
        _add(*found, copy.deepcopy(value))
    except _OpError as exc:
        raise PatchError(f"error while adding value during copy: {exc}") from None
    return doc


def _op_test(doc: Any, op: dict[str, Any]) -> Any:
    path = _pointer(op, "path", "test operation failed to decode path")
    failed = PatchError(f"testing value {path} failed: test failed")
    if path == "":
        if not _json_equal(doc, op.get("value")):
            raise failed
        return doc
    found = _locate(doc, path, f"test operation does not apply: is missing path: {path}")
    try:
        value = _get(*found)
    except _OpError as exc:
        raise PatchError(f"error in test for path: '{path}': {exc}") from None
    if value is None:
        if op.get("value") is not None:  # absent and null both match a missing value
            raise failed
    elif "value" not in op or not _json_equal(value, op["value"]):
        raise failed
    return doc


def _json_equal(a: Any, b: Any) -> bool:
    """Structural equality; scalars must match in JSON type too (1 is not 1.0 or true)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


_OPERATIONS = {
    "add": _op_add,
    "remove": _op_remove,
    "replace": _op_replace,
    "move": _op_move,
    "test": _op_test,
}


# --- strategic merge patch: the patch metadata of k8s.io/api ---------------------------


@dataclass(frozen=True)
class _Field:
    """A field's `patchStrategy` and `patchMergeKey` tags, and its own fields."""

    strategy: str = ""  # "", "merge", "replace", "retainKeys", "merge,retainKeys"
    merge_key: str = ""
    fields: dict[str, _Field] = field(default_factory=dict)

    def child(self, name: str) -> _Field:
        return self.fields.get(name, _NO_META)


_NO_META = _Field()


def _merge(
    key: str = "", fields: dict[str, _Field] | None = None, *, retain: bool = False
) -> _Field:
    return _Field("merge,retainKeys" if retain else "merge", key, {} if fields is None else fields)


def _struct(**fields: _Field) -> _Field:
    return _Field(fields=fields)


_CONDITIONS = _merge("type")
_OBJECT_META = _struct(ownerReferences=_merge("uid"), finalizers=_merge())
_CONTAINER = {
    "ports": _merge("containerPort"),
    "env": _merge("name"),
    "volumeMounts": _merge("mountPath"),
    "volumeDevices": _merge("devicePath"),
}
_POD_SPEC = _struct(
    volumes=_merge("name", retain=True),
    initContainers=_merge("name", _CONTAINER),
    containers=_merge("name", _CONTAINER),
    ephemeralContainers=_merge("name", _CONTAINER),
    imagePullSecrets=_merge("name"),
    hostAliases=_merge("ip"),
    topologySpreadConstraints=_merge("topologyKey"),
    schedulingGates=_merge("name"),
    resourceClaims=_merge("name", retain=True),
)
_POD_STATUS = _struct(
    conditions=_CONDITIONS,
    hostIPs=_merge("ip"),
    podIPs=_merge("ip"),
    resourceClaimStatuses=_merge("name", retain=True),
)
_POD_TEMPLATE = _struct(metadata=_OBJECT_META, spec=_POD_SPEC)
_STATUS_CONDITIONS = _struct(conditions=_CONDITIONS)


def _kind(**fields: _Field) -> _Field:
    return _struct(metadata=_OBJECT_META, **fields)


def _workload(**spec: _Field) -> _Field:
    return _kind(spec=_struct(template=_POD_TEMPLATE, **spec), status=_STATUS_CONDITIONS)


_KINDS: dict[str, _Field] = {
    "Pod": _kind(spec=_POD_SPEC, status=_POD_STATUS),
    "PodTemplate": _kind(template=_POD_TEMPLATE),
    "Deployment": _workload(strategy=_Field("retainKeys")),
    "ReplicaSet": _workload(),
    "StatefulSet": _workload(),
    "DaemonSet": _workload(),
    "ReplicationController": _workload(),
    "Job": _workload(),
    "CronJob": _kind(
        spec=_struct(
            jobTemplate=_struct(metadata=_OBJECT_META, spec=_struct(template=_POD_TEMPLATE))
        )
    ),
    "Service": _kind(spec=_struct(ports=_merge("port")), status=_STATUS_CONDITIONS),
    "ServiceAccount": _kind(secrets=_merge("name")),
    "Node": _kind(
        spec=_struct(podCIDRs=_merge()),
        status=_struct(conditions=_CONDITIONS, addresses=_merge("type")),
    ),
    "Namespace": _kind(status=_STATUS_CONDITIONS),
    "PersistentVolumeClaim": _kind(status=_STATUS_CONDITIONS),
    "PodDisruptionBudget": _kind(
        spec=_struct(selector=_Field("replace")), status=_STATUS_CONDITIONS
    ),
    "HorizontalPodAutoscaler": _kind(status=_STATUS_CONDITIONS),
    "ComponentStatus": _kind(conditions=_CONDITIONS),
    "CSINode": _kind(spec=_struct(drivers=_merge("name"))),
}
# Every other kind (ConfigMap, Secret, Endpoints, EndpointSlice, PersistentVolume,
# Event, Lease, RBAC, ... and unknown kinds) has no tagged fields beyond metadata.
_ANY_KIND = _kind()


# --- strategic merge patch: the algorithm ----------------------------------------------

_DIRECTIVE = "$patch"
_RETAIN_KEYS = "$retainKeys"
_DELETE_PRIMITIVES = "$deleteFromPrimitiveList"
_SET_ORDER = "$setElementOrder"

_ERR_PRIMITIVE_LIST = "invalid patch format of primitive list"
_ERR_RETAIN_KEYS = "invalid patch format of retainKeys"
_ERR_SET_ORDER = "invalid patch format of setElementOrder list"


def strategic_merge_patch(
    target: dict[str, Any], patch: dict[str, Any], *, kind: str
) -> dict[str, Any]:
    """Apply an `application/strategic-merge-patch+json` body to an object of `kind`."""
    if not isinstance(patch, dict):
        raise PatchError("invalid JSON document")
    original = copy.deepcopy(target) if isinstance(target, dict) else {}
    # Upstream patches the typed object, which cannot hold nulls: drop any we stored.
    _discard_nulls(original)
    return _merge_map(original, copy.deepcopy(patch), _KINDS.get(kind, _ANY_KIND))


def _strategy(meta: _Field) -> str:
    """extractRetainKeysPatchStrategy: the strategy other than retainKeys."""
    parts = [p for p in meta.strategy.split(",") if p] if meta.strategy else []
    if len(parts) > 2 or (len(parts) == 2 and "retainKeys" not in parts):
        raise PatchError(f"unexpected patch strategy: [{' '.join(parts)}]")
    others = [p for p in parts if p != "retainKeys"]
    return others[0] if others else ""


def _no_merge_key(item: dict[str, Any], key: str) -> PatchError:
    return PatchError(f"map: {go_v(item)} does not contain declared merge key: {key}")


def _merge_map(original: dict[str, Any], patch: dict[str, Any], meta: _Field) -> dict[str, Any]:
    """mergeMap with MergeParallelList and IgnoreUnmatchedNulls (the server side)."""
    if _DIRECTIVE in patch:
        directive = patch.pop(_DIRECTIVE)
        if directive == "replace":
            return patch
        if directive == "delete":
            return {}
        patch[_DIRECTIVE] = directive
        raise PatchError(f"unknown patch type: {go_v(directive)} in map: {go_v(patch)}")
    _apply_retain_keys(original, patch)
    _merge_ordered_lists(original, patch, meta)
    for key, value in patch.items():
        is_delete_list = key.startswith(_DELETE_PRIMITIVES)
        if is_delete_list:
            key = _extract_key(key, _DELETE_PRIMITIVES, _ERR_PRIMITIVE_LIST)
        if value is None:
            original.pop(key, None)
            continue
        current: Any = original.get(key)
        if key not in original or go_type(current) != go_type(value):
            if not is_delete_list:
                _discard_nulls(value)
                _set_or_drop(original, key, value)
            continue
        child = meta.child(key)
        if isinstance(value, dict):
            if _strategy(child) == "replace":
                original[key] = value
            else:
                original[key] = _merge_map(current, value, child)
        elif isinstance(value, list):
            original[key] = _merge_list_field(current, value, child, is_delete_list=is_delete_list)
        else:
            _set_or_drop(original, key, value)
    return original


def _set_or_drop(original: dict[str, Any], key: str, value: Any) -> None:
    keep, cleaned = _remove_directives(value)
    if keep:
        original[key] = cleaned
    else:
        original.pop(key, None)


def _extract_key(key: str, prefix: str, error: str) -> str:
    head, sep, rest = key.partition("/")
    if not sep or head != prefix:
        raise PatchError(error)
    return rest


def _remove_directives(obj: Any) -> tuple[bool, Any]:
    """removeDirectives: drop every map carrying `$patch` (the field itself if it is one)."""
    if isinstance(obj, dict):
        if _DIRECTIVE in obj:
            return False, None
        for k in list(obj):
            keep, obj[k] = _remove_directives(obj[k])
            if not keep:
                del obj[k]
        return True, obj
    if isinstance(obj, list):
        kept = (_remove_directives(v) for v in obj)
        return True, [v for keep, v in kept if keep]
    return True, obj


def _discard_nulls(value: Any) -> None:
    if isinstance(value, dict):
        for k in [k for k, v in value.items() if v is None]:
            del value[k]
        for v in value.values():
            _discard_nulls(v)
    elif isinstance(value, list):
        for v in value:
            _discard_nulls(v)


def _apply_retain_keys(original: dict[str, Any], patch: dict[str, Any]) -> None:
    """`$retainKeys`: clear the fields of original not listed; the patch may set only those."""
    if _RETAIN_KEYS not in patch:
        return
    retain = patch.pop(_RETAIN_KEYS)
    if not isinstance(retain, list):
        raise PatchError(_ERR_RETAIN_KEYS)
    keep = {k for k in retain if isinstance(k, str)}
    for k, v in patch.items():
        if v is None or k.startswith((_DELETE_PRIMITIVES, _SET_ORDER)):
            continue
        if k not in keep:
            raise PatchError(_ERR_RETAIN_KEYS)
    for k in [k for k in original if k not in keep]:
        del original[k]


def _merge_list_field(
    original: list[Any],
    patch: list[Any],
    meta: _Field,
    *,
    is_delete_list: bool,
    aliased: _GoSlice | None = None,
) -> list[Any]:
    """mergeSliceHandler: merge by the field's key, or replace when it has no strategy."""
    if _strategy(meta) == "merge" or is_delete_list:
        return _merge_list(original, patch, meta, is_delete_list=is_delete_list, aliased=aliased)
    return patch


class _GoSlice:
    """The backing array of a live list as Go's in-place deletes and appends leave it.

    Upstream deletes list items with `append(s[:i], s[i+1:]...)` and appends new
    ones to the shortened slice, which overwrites the array the caller still holds;
    mergePatchIntoOriginal then orders the merged list by that overwritten array.
    We replay those writes to order lists as it does. The array's capacity is what
    encoding/json's appends give a decoded list (the model upstream's tests use).
    """

    def __init__(self, items: list[Any]) -> None:
        self.size = len(items)
        capacity = 0
        while capacity < self.size:  # Go's growslice: double, then grow by ~1.25x
            capacity = max(1, capacity * 2) if capacity < 256 else capacity + (capacity + 768) // 4
        self.array: list[Any] = [*items, *([None] * (capacity - self.size))]
        self.length = self.size
        self.shared = True

    def delete(self, i: int) -> None:
        self.array[i : self.length - 1] = self.array[i + 1 : self.length]
        self.length -= 1

    def append(self, item: Any) -> None:
        if self.shared and self.length < len(self.array):
            self.array[self.length] = item
            self.length += 1
        else:
            self.shared = False  # Go reallocated: later writes go elsewhere

    def view(self) -> list[Any]:
        return self.array[: self.size]


def _element_kind(*lists: list[Any]) -> str:
    """sliceElementType: "map" or "scalar"; every element must have the same Go type."""
    first: str | None = None
    for items in lists:
        for v in items:
            t = go_type(v)
            if first is None:
                if isinstance(v, list):
                    raise PatchError("lists of lists are not supported")
                first = t
            elif t != first:
                shown = "[" + " ".join(go_v(x) for x in lists) + "]"
                raise PatchError(f"list element types are not identical: {shown}")
    if first is None:
        raise PatchError("no elements in any of the given slices")
    return "map" if first == "map[string]interface {}" else "scalar"


def _merge_list(
    original: list[Any],
    patch: list[Any],
    meta: _Field,
    *,
    is_delete_list: bool,
    aliased: _GoSlice | None = None,
) -> list[Any]:
    """mergeSlice: union of scalars, or maps merged by key; then upstream's ordering."""
    if not original and not patch:
        return original
    kind = _element_kind(original, patch)
    key = meta.merge_key
    if kind != "map":
        if is_delete_list:
            return [v for v in original if not any(_go_equal(v, d) for d in patch)]
        merged = _dedupe(original + patch)
    else:
        if not key:
            # upstream names the Go element kind: only []string fields merge without a key
            raise PatchError("cannot merge lists without merge key for string")
        original, patch = _apply_list_directives(original, patch, key, aliased)
        merged = _merge_by_key(original, patch, key, meta, aliased)
    patch_items, server_only = _partition(merged, patch, key)
    return _normalize_order(patch_items, server_only, patch, original, key, kind)


def _dedupe(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for v in items:
        if not any(_go_equal(v, seen) for seen in out):
            out.append(v)
    return out


def _apply_list_directives(
    original: list[Any], patch: list[Any], key: str, aliased: _GoSlice | None
) -> tuple[list[Any], list[Any]]:
    """mergeSliceWithSpecialElements: `$patch: delete` / `replace` elements of a list."""
    plain, replace = [], False
    for item in patch:
        if _DIRECTIVE not in item:
            plain.append(item)
            continue
        directive = item[_DIRECTIVE]
        if directive == "delete":
            if key not in item:
                raise _no_merge_key(item, key)
            while (i := _find_by_key(original, key, item[key])) >= 0:
                original = original[:i] + original[i + 1 :]
                if aliased is not None:
                    aliased.delete(i)
        elif directive == "replace":
            replace = True
            if aliased is not None:
                aliased.shared = False
        elif directive == "merge":
            raise PatchError("merging lists cannot yet be specified in the patch")
        else:
            raise PatchError(f"unknown patch type: {go_v(directive)} in map: {go_v(item)}")
    return (plain, []) if replace else (original, plain)


def _check_maps(items: list[Any]) -> None:
    for i, v in enumerate(items):
        if not isinstance(v, dict):
            raise PatchError(f"value for key {i} is not a map")


def _find_by_key(items: list[Any], key: str, value: Any) -> int:
    _check_maps(items)
    for i, item in enumerate(items):
        if key in item and _go_equal(item[key], value):
            return i
    return -1


def _merge_by_key(
    original: list[Any], patch: list[Any], key: str, meta: _Field, aliased: _GoSlice | None
) -> list[Any]:
    """mergeSliceWithoutSpecialElements: merge maps sharing a key value, append the rest."""
    merged = list(original)
    for item in patch:
        if key not in item:
            raise _no_merge_key(item, key)
        i = _find_by_key(merged, key, item[key])
        if i >= 0:
            merged[i] = _merge_map(merged[i], item, meta)
        else:
            merged.append(item)
            if aliased is not None:
                aliased.append(item)
    return merged


def _partition(merged: list[Any], by: list[Any], key: str) -> tuple[list[Any], list[Any]]:
    """Items present in `by` (by merge key for maps), and the rest."""
    present: list[Any] = []
    rest: list[Any] = []
    for v in merged:
        if not key:
            found = any(_go_equal(v, b) for b in by)
        else:
            if not isinstance(v, dict):
                raise _bad_arg_type("map[string]interface {}", v)
            if key not in v:
                raise _no_merge_key(v, key)
            found = _find_by_key(by, key, v[key]) >= 0
        (present if found else rest).append(v)
    return present, rest


def _position(items: list[Any], value: Any, key: str, kind: str) -> int:
    """index(): where `value` sits in `items`, by merge key for maps; -1 when absent."""
    if kind == "map":
        want = value.get(key) if isinstance(value, dict) else None
        for i, v in enumerate(items):
            have = v.get(key) if isinstance(v, dict) else None
            if _go_equal(have, want):
                return i
        return -1
    for i, v in enumerate(items):
        if _go_equal(v, value):
            return i
    return -1


def _sort_by(items: list[Any], order: list[Any], key: str, kind: str) -> list[Any]:
    """normalizeSliceOrder: `$patch: delete` items go last; the rest follow `order`.

    Go's sort.SliceStable with upstream's comparator (which calls an item missing
    from `order` "less") is an insertion sort for up to 20 items; we do the same.
    """
    deleted: list[Any] = []
    if kind == "map":
        for v in [*items, *order]:
            if not isinstance(v, dict):
                raise _bad_arg_type("map[string]interface {}", v)
            if key not in v:
                raise _no_merge_key(v, key)
        deleted = [v for v in items if v.get(_DIRECTIVE) == "delete"]
        items = [v for v in items if v.get(_DIRECTIVE) != "delete"]

    def less(a: Any, b: Any) -> bool:
        ia, ib = _position(order, a, key, kind), _position(order, b, key, kind)
        return ia < ib if ia >= 0 and ib >= 0 else True

    out = list(items)
    for i in range(1, len(out)):
        j = i
        while j > 0 and less(out[j], out[j - 1]):
            out[j], out[j - 1] = out[j - 1], out[j]
            j -= 1
    return out + deleted


def _normalize_order(
    patch_items: list[Any],
    server_only: list[Any],
    patch_order: list[Any],
    server_order: list[Any],
    key: str,
    kind: str,
) -> list[Any]:
    """normalizeElementOrder + mergeSortedSlice: interleave server-only items into the
    patch's order, keeping each side's relative order, guided by the live order."""
    right = _sort_by(patch_items, patch_order, key, kind)
    left = _sort_by(server_only, server_order, key, kind)
    out: list[Any] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if i >= len(left):
            out.append(right[j])
            j += 1
        elif j >= len(right):
            out.append(left[i])
            i += 1
        else:
            li = _position(server_order, left[i], key, kind)
            ri = _position(server_order, right[j], key, kind)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out


def _merge_ordered_lists(original: dict[str, Any], patch: dict[str, Any], meta: _Field) -> None:
    """mergePatchIntoOriginal: merge each list that has a `$setElementOrder/<field>`
    and order the result: the directive's order, then the patch's, then the live one."""
    for directive in [k for k in patch if k.startswith(_SET_ORDER)]:
        order = patch.pop(directive)
        if not isinstance(order, list):
            raise _bad_arg_type("[]interface {}", order)
        name = _extract_key(directive, _SET_ORDER, _ERR_SET_ORDER)
        live: Any = original.get(name)
        wanted: Any = patch.get(name)
        found_live, found_patch = name in original, name in patch
        if found_live and not isinstance(live, list):
            raise _bad_arg_type("[]interface {}", live)
        if found_patch and not isinstance(wanted, list):
            raise _bad_arg_type("[]interface {}", wanted)
        child = meta.child(name)
        _check_set_order(wanted or [], order, child.merge_key)
        aliased = _GoSlice(live or [])
        merged: list[Any]
        if found_live and found_patch:
            merged = _merge_list_field(live, wanted, child, is_delete_list=False, aliased=aliased)
        elif found_live:
            merged = live
        elif found_patch:
            merged = _remove_directives(wanted)[1]
        else:
            continue
        patch.pop(name, None)
        if not (live or wanted):
            original[name] = merged  # nothing to order (a list upstream would not have kept)
            continue
        kind = _element_kind(live or [], wanted or [])
        patch_items, server_only = _partition(merged, order, child.merge_key)
        original[name] = _normalize_order(
            patch_items, server_only, order, aliased.view(), child.merge_key, kind
        )


def _check_set_order(patch_list: list[Any], order: list[Any], key: str) -> None:
    """validatePatchWithSetOrderList: the patch's items appear in the directive, in order."""
    if not patch_list or not order:
        return
    items = patch_list
    if key:
        for v in patch_list:
            if not isinstance(v, dict):
                raise _bad_arg_type("map[string]interface {}", v)
        items = [v for v in patch_list if v.get(_DIRECTIVE) != "delete"]
    p = s = 0
    while p < len(items) and s < len(order):
        if isinstance(items[p], dict) and _DIRECTIVE in items[p]:
            p += 1
            continue
        if _merge_key_equal(items[p], order[s], key):
            p += 1
        s += 1
    if p < len(items) and s >= len(order):
        raise PatchError(
            f"The order in patch list:\n{go_v(patch_list)}\n doesn't match "
            f"{_SET_ORDER} list:\n{go_v(order)}\n"
        )


def _merge_key_equal(left: Any, right: Any, key: str) -> bool:
    if not key:
        return _go_equal(left, right)
    for side in (left, right):
        if not isinstance(side, dict):
            raise _bad_arg_type("map[string]interface {}", side)
        if key not in side:
            raise _no_merge_key(side, key)
    return _go_equal(left[key], right[key])
