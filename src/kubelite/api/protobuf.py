"""Request bodies in `application/vnd.kubernetes.protobuf`, decoded to JSON-shaped dicts.

kubectl 1.32's typed clients send their creates as protobuf (`kubectl create
configmap|secret|namespace|...`): the magic bytes `k8s\\x00`, then a
`runtime.Unknown` whose `raw` field holds the object's message. We decode the
protobuf wire format by hand (varints and length-delimited fields are all
Kubernetes uses) against a small table of the upstream field numbers, taken
from the `generated.proto` files of k8s.io/api and k8s.io/apimachinery v0.32.
No generated code is involved.

The result is what the JSON form of the same object would be: gogo-protobuf
writes every non-pointer field even when empty, so empty strings, zero numbers
and false booleans are dropped here as `omitempty` would drop them, while
pointer fields (`immutable`, `deletionGracePeriodSeconds`, ...) are kept when
present. Bytes become base64 strings; `Time` becomes RFC 3339.

A field missing from the table is skipped when it holds its zero value (Go
always writes those) and is an error otherwise, so we never silently drop data.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAGIC = b"k8s\x00"


class ProtobufError(ValueError):
    """A body that is not a protobuf-encoded object we can decode."""


def is_k8s_protobuf(body: bytes) -> bool:
    return body[:4] == MAGIC


# --- the wire format -------------------------------------------------------------------

_VARINT, _FIXED64, _BYTES, _FIXED32 = 0, 1, 2, 5


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ProtobufError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift >= 64:
            raise ProtobufError("varint too long")


def _fields(buf: bytes) -> list[tuple[int, int, int | bytes]]:
    """Split a message into (field number, wire type, value) in wire order."""
    out: list[tuple[int, int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise ProtobufError("invalid field number 0")
        value: int | bytes
        if wire == _VARINT:
            value, pos = _varint(buf, pos)
        elif wire == _BYTES:
            size, pos = _varint(buf, pos)
            if pos + size > len(buf):
                raise ProtobufError(
                    f"field {number}: length {size} runs past the end of the message"
                )
            value, pos = buf[pos : pos + size], pos + size
        elif wire in (_FIXED64, _FIXED32):
            width = 8 if wire == _FIXED64 else 4
            if pos + width > len(buf):
                raise ProtobufError(f"field {number}: truncated fixed-width value")
            value, pos = int.from_bytes(buf[pos : pos + width], "little"), pos + width
        else:
            raise ProtobufError(f"field {number}: unsupported wire type {wire}")
        out.append((number, wire, value))
    return out


# --- the schema ------------------------------------------------------------------------

# Field kinds: scalar decoders, "message", or "map" (entries with key 1, value 2).
_SCALARS = ("string", "bytes", "bool", "int", "time", "fieldsV1", "quantity", "intOrString")


@dataclass(frozen=True)
class _F:
    name: str  # the JSON name
    kind: str  # one of _SCALARS, "message" or "map"
    message: str = ""  # for "message": the message name; for "map": the value kind
    repeated: bool = False
    # Pointer fields (`*bool`, `*int64`, ...) and fields without omitempty keep zero values.
    keep_zero: bool = False


def _s(name: str, *, keep: bool = False) -> _F:
    return _F(name, "string", keep_zero=keep)


def _m(name: str, message: str, *, repeated: bool = False) -> _F:
    return _F(name, "message", message, repeated)


def _strings(name: str) -> _F:
    return _F(name, "string", repeated=True)


def _map(name: str, value: str = "string") -> _F:
    return _F(name, "map", value)


_MESSAGES: dict[str, dict[int, _F]] = {
    # k8s.io/apimachinery/pkg/runtime (the envelope's runtime.Unknown is decoded by hand)
    "runtime.TypeMeta": {1: _s("apiVersion"), 2: _s("kind")},
    # k8s.io/apimachinery/pkg/apis/meta/v1
    "ObjectMeta": {
        1: _s("name"),
        2: _s("generateName"),
        3: _s("namespace"),
        4: _s("selfLink"),
        5: _s("uid"),
        6: _s("resourceVersion"),
        7: _F("generation", "int"),
        8: _F("creationTimestamp", "time", keep_zero=True),  # JSON writes null
        9: _F("deletionTimestamp", "time", keep_zero=True),
        10: _F("deletionGracePeriodSeconds", "int", keep_zero=True),
        11: _map("labels"),
        12: _map("annotations"),
        13: _m("ownerReferences", "OwnerReference", repeated=True),
        14: _strings("finalizers"),
        17: _m("managedFields", "ManagedFieldsEntry", repeated=True),
    },
    "OwnerReference": {
        5: _s("apiVersion", keep=True),
        1: _s("kind", keep=True),
        3: _s("name", keep=True),
        4: _s("uid", keep=True),
        6: _F("controller", "bool", keep_zero=True),
        7: _F("blockOwnerDeletion", "bool", keep_zero=True),
    },
    "ManagedFieldsEntry": {
        1: _s("manager"),
        2: _s("operation"),
        3: _s("apiVersion"),
        4: _F("time", "time", keep_zero=True),
        6: _s("fieldsType"),
        7: _F("fieldsV1", "fieldsV1"),
        8: _s("subresource"),
    },
    "Condition": {
        1: _s("type", keep=True),
        2: _s("status", keep=True),
        3: _F("observedGeneration", "int"),
        4: _F("lastTransitionTime", "time", keep_zero=True),
        5: _s("reason", keep=True),
        6: _s("message", keep=True),
    },
    # k8s.io/api/core/v1
    "ConfigMap": {
        1: _m("metadata", "ObjectMeta"),
        4: _F("immutable", "bool", keep_zero=True),
        2: _map("data"),
        3: _map("binaryData", "bytes"),
    },
    "Secret": {
        1: _m("metadata", "ObjectMeta"),
        5: _F("immutable", "bool", keep_zero=True),
        2: _map("data", "bytes"),
        4: _map("stringData"),
        3: _s("type"),
    },
    "Namespace": {
        1: _m("metadata", "ObjectMeta"),
        2: _m("spec", "NamespaceSpec"),
        3: _m("status", "NamespaceStatus"),
    },
    "NamespaceSpec": {1: _strings("finalizers")},
    "NamespaceStatus": {1: _s("phase"), 2: _m("conditions", "NamespaceCondition", repeated=True)},
    "NamespaceCondition": {
        1: _s("type", keep=True),
        2: _s("status", keep=True),
        4: _F("lastTransitionTime", "time"),
        5: _s("reason"),
        6: _s("message"),
    },
    "ServiceAccount": {
        1: _m("metadata", "ObjectMeta"),
        2: _m("secrets", "ObjectReference", repeated=True),
        3: _m("imagePullSecrets", "LocalObjectReference", repeated=True),
        4: _F("automountServiceAccountToken", "bool", keep_zero=True),
    },
    "ObjectReference": {
        1: _s("kind"),
        2: _s("namespace"),
        3: _s("name"),
        4: _s("uid"),
        5: _s("apiVersion"),
        6: _s("resourceVersion"),
        7: _s("fieldPath"),
    },
    "LocalObjectReference": {1: _s("name")},
}

# (apiVersion, kind) -> top-level message
_KINDS: dict[tuple[str, str], str] = {
    ("v1", "ConfigMap"): "ConfigMap",
    ("v1", "Secret"): "Secret",
    ("v1", "Namespace"): "Namespace",
    ("v1", "ServiceAccount"): "ServiceAccount",
}


def supported_kinds() -> list[tuple[str, str]]:
    """The (apiVersion, kind) pairs `decode_k8s_protobuf` understands."""
    return sorted(_KINDS)


# --- decoding --------------------------------------------------------------------------


def decode_k8s_protobuf(body: bytes) -> dict[str, Any]:
    """Decode a protobuf request body into the object's JSON form (with apiVersion/kind)."""
    if not is_k8s_protobuf(body):
        raise ProtobufError(
            "the body does not start with the Kubernetes protobuf magic bytes k8s\\0"
        )
    type_meta, raw, encoding = _envelope(body[4:])
    api_version, kind = type_meta.get("apiVersion", ""), type_meta.get("kind", "")
    if encoding:
        raise ProtobufError(f"unsupported content encoding {encoding!r}")
    message = _KINDS.get((api_version, kind))
    if message is None:
        shown = f"{api_version}, Kind={kind}" if api_version or kind else "an object without a type"
        raise ProtobufError(f"decoding {shown} from protobuf is not supported")
    return {"apiVersion": api_version, "kind": kind, **_decode_message(raw, message)}


def _envelope(buf: bytes) -> tuple[dict[str, Any], bytes, str]:
    """runtime.Unknown: (typeMeta, raw, contentEncoding)."""
    type_meta: dict[str, Any] = {}
    raw, encoding = b"", ""
    for number, wire, value in _fields(buf):
        if wire != _BYTES:
            raise ProtobufError(f"Unknown: unexpected wire type {wire} for field {number}")
        assert isinstance(value, bytes)
        if number == 1:
            type_meta = _decode_message(value, "runtime.TypeMeta")
        elif number == 2:
            raw = value
        elif number == 3:
            encoding = _string(value, "Unknown.contentEncoding")
    return type_meta, raw, encoding


def _decode_message(buf: bytes, message: str) -> dict[str, Any]:
    schema = _MESSAGES[message]
    out: dict[str, Any] = {}
    for number, wire, value in _fields(buf):
        f = schema.get(number)
        if f is None:
            if value in (0, b""):
                continue  # a zero value gogo-protobuf writes for a field we do not know
            raise ProtobufError(f"{message}: unsupported field number {number}")
        decoded = _decode_field(f, wire, value, message)
        if f.repeated:
            out.setdefault(f.name, []).append(decoded)
        elif f.kind == "map":
            key, item = decoded
            out.setdefault(f.name, {})[key] = item
        else:
            out[f.name] = decoded
    for f in schema.values():  # omitempty, except for pointers and non-omitempty fields
        if f.name in out and not f.keep_zero and out[f.name] in ("", 0, False, None):
            del out[f.name]
    return out


def _decode_field(f: _F, wire: int, value: int | bytes, where: str) -> Any:
    expected = _VARINT if f.kind in ("bool", "int") else _BYTES
    if wire != expected:
        raise ProtobufError(f"{where}.{f.name}: unexpected wire type {wire}")
    if f.kind == "message":
        assert isinstance(value, bytes)
        return _decode_message(value, f.message)
    if f.kind == "map":
        assert isinstance(value, bytes)
        return _decode_map_entry(value, f.message, f"{where}.{f.name}")
    return _SCALAR_DECODERS[f.kind](value, f"{where}.{f.name}")


def _decode_map_entry(buf: bytes, value_kind: str, where: str) -> tuple[str, Any]:
    key: str = ""
    item: Any = _SCALAR_DECODERS[value_kind](b"", where)
    for number, wire, value in _fields(buf):
        if wire != _BYTES:
            raise ProtobufError(f"{where}: unexpected wire type {wire} in a map entry")
        if number == 1:
            key = _string(value, where)
        elif number == 2:
            item = _SCALAR_DECODERS[value_kind](value, where)
    return key, item


def _string(value: int | bytes, where: str) -> str:
    assert isinstance(value, bytes)
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtobufError(f"{where}: invalid UTF-8 in a string field") from None


def _bytes(value: int | bytes, where: str) -> str:
    assert isinstance(value, bytes)
    return base64.b64encode(value).decode("ascii")


def _int(value: int | bytes, where: str) -> int:
    assert isinstance(value, int)
    return value - (1 << 64) if value >= 1 << 63 else value  # two's complement int64


def _time(value: int | bytes, where: str) -> str | None:
    """metav1.Time {seconds, nanos} -> RFC 3339 in UTC (JSON has second precision)."""
    seconds = nanos = 0
    for number, _, v in _fields(value if isinstance(value, bytes) else b""):
        if number == 1 and isinstance(v, int):
            seconds = _int(v, where)
        elif number == 2 and isinstance(v, int):
            nanos = v
    if seconds == 0 and nanos == 0:
        return None  # the zero Time marshals as null
    try:
        when = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=seconds)
    except OverflowError:
        raise ProtobufError(f"{where}: time out of range") from None
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _fields_v1(value: int | bytes, where: str) -> Any:
    """FieldsV1 {Raw} holds JSON; decode it so the object reads as its JSON form does."""
    raw = b""
    for number, _, v in _fields(value if isinstance(value, bytes) else b""):
        if number == 1 and isinstance(v, bytes):
            raw = v
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        raise ProtobufError(f"{where}: fieldsV1 is not JSON") from None


def _quantity(value: int | bytes, where: str) -> str:
    """resource.Quantity {string} -> its string."""
    text = ""
    for number, _, v in _fields(value if isinstance(value, bytes) else b""):
        if number == 1:
            text = _string(v, where)
    return text


def _int_or_string(value: int | bytes, where: str) -> int | str:
    """intstr.IntOrString {type, intVal, strVal} -> a JSON number or string."""
    kind, number, text = 0, 0, ""
    for n, _, v in _fields(value if isinstance(value, bytes) else b""):
        if n == 1 and isinstance(v, int):
            kind = v
        elif n == 2 and isinstance(v, int):
            number = _int(v, where)
        elif n == 3:
            text = _string(v, where)
    return text if kind == 1 else number


def _bool(value: int | bytes, where: str) -> bool:
    return bool(value)


_SCALAR_DECODERS: dict[str, Callable[[int | bytes, str], Any]] = {
    "string": _string,
    "bytes": _bytes,
    "bool": _bool,
    "int": _int,
    "time": _time,
    "fieldsV1": _fields_v1,
    "quantity": _quantity,
    "intOrString": _int_or_string,
}
