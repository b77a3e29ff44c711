"""A swagger 2.0 document as the gnostic `openapi.v2.Document` protobuf message.

kubectl and client-go ask for `/openapi/v2` only as
`application/com.github.proto-openapi.spec.v2@v1.0+protobuf` and read it with
`proto.Unmarshal` into gnostic's `openapi_v2.Document` (`kubectl explain
--output=plaintext-openapiv2`, client-side validation of `kind: List` items,
tools built on `discovery.OpenAPISchema()`). Upstream produces it by parsing
its JSON document with gnostic's compiler; this module writes the same
message straight from the JSON-shaped dict, by hand on the wire format, with
the field numbers of gnostic's `openapiv2/OpenAPIv2.proto`:

- every JSON object maps to the message of its place in the document (a
  Schema, an Operation, a parameter by its `in`, ...), each JSON key to its
  field; maps (`definitions`, `properties`, `paths`, response codes) are
  repeated `Named*` entries in the document's order;
- `default`, `example`, `enum` values and every `x-` extension are `Any`
  messages carrying the value as YAML text (JSON is YAML), which is what
  the compiler stores and what kube-openapi's readers parse back;
- as proto3 does, scalars at their zero value are left off the wire.

Keys the message has no field for are dropped, as the compiler drops them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from kubelite.api.protobuf import bytes_field, double_field, varint_field

Obj = Mapping[str, Any]
Encoder = Callable[[Any], bytes]

# Scalar kinds of a field.
STR, BOOL, INT, DBL, STRS, ANY, ANYS = "str", "bool", "int", "double", "strs", "any", "anys"


def _any(value: Any) -> bytes:
    """gnostic's `Any`: the value as YAML text in field 2."""
    return bytes_field(2, orjson.dumps(value) + b"\n")


def _scalar(number: int, kind: str, value: Any) -> bytes:
    if kind == STR:
        return bytes_field(number, str(value).encode()) if value else b""
    if kind == BOOL:
        return varint_field(number, 1) if value else b""
    if kind == INT:
        return varint_field(number, int(value)) if value else b""
    if kind == DBL:
        return double_field(number, float(value)) if value else b""
    if kind == STRS:
        items = value if isinstance(value, list) else [value]
        return b"".join(bytes_field(number, str(v).encode()) for v in items)
    if kind == ANY:
        return bytes_field(number, _any(value))
    if kind == ANYS:
        return b"".join(bytes_field(number, _any(v)) for v in value)
    raise ValueError(kind)


Field = tuple[int, "str | Encoder"]


def _message(obj: Obj, table: Mapping[str, Field], vendor: int = 0) -> bytes:
    """`obj`'s keys in order as the fields `table` numbers; `x-` keys as extensions."""
    out = bytearray()
    for key, value in obj.items():
        if key.startswith("x-"):
            if vendor:
                out += bytes_field(vendor, _named(key, _any(value)))
            continue
        spec = table.get(key)
        if spec is None or value is None:
            continue
        number, kind = spec
        if isinstance(kind, str):
            out += _scalar(number, kind, value)
        else:
            out += bytes_field(number, kind(value))
    return bytes(out)


def _named(name: str, value: bytes) -> bytes:
    """A `Named*` entry: name (1) and value (2)."""
    return bytes_field(1, name.encode()) + bytes_field(2, value)


def _named_map(number: int, encode: Encoder) -> Encoder:
    """A JSON map as a message of repeated `Named*` entries in field `number`."""

    def enc(obj: Obj) -> bytes:
        return b"".join(bytes_field(number, _named(k, encode(v))) for k, v in obj.items())

    return enc


# ---- schemas ------------------------------------------------------------------------------

_EXTERNAL_DOCS: dict[str, Field] = {"description": (1, STR), "url": (2, STR)}
_XML: dict[str, Field] = {
    "name": (1, STR),
    "namespace": (2, STR),
    "prefix": (3, STR),
    "attribute": (4, BOOL),
    "wrapped": (5, BOOL),
}


def _external_docs(obj: Obj) -> bytes:
    return _message(obj, _EXTERNAL_DOCS, vendor=3)


def schema(obj: Obj) -> bytes:
    """A `Schema`."""
    out = bytearray(_message(obj, _SCHEMA, vendor=31))
    for item in obj.get("allOf") or []:
        out += bytes_field(24, schema(item))
    return bytes(out)


def _additional_properties(value: Any) -> bytes:
    if isinstance(value, bool):  # the oneof's boolean, written even when false
        return varint_field(2, int(value))
    return bytes_field(1, schema(value))


def _type_item(value: Any) -> bytes:
    return _scalar(1, STRS, value)


def _items_item(value: Any) -> bytes:
    items = value if isinstance(value, list) else [value]
    return b"".join(bytes_field(1, schema(item)) for item in items)


_SCHEMA: dict[str, Field] = {
    "$ref": (1, STR),
    "format": (2, STR),
    "title": (3, STR),
    "description": (4, STR),
    "default": (5, ANY),
    "multipleOf": (6, DBL),
    "maximum": (7, DBL),
    "exclusiveMaximum": (8, BOOL),
    "minimum": (9, DBL),
    "exclusiveMinimum": (10, BOOL),
    "maxLength": (11, INT),
    "minLength": (12, INT),
    "pattern": (13, STR),
    "maxItems": (14, INT),
    "minItems": (15, INT),
    "uniqueItems": (16, BOOL),
    "maxProperties": (17, INT),
    "minProperties": (18, INT),
    "required": (19, STRS),
    "enum": (20, ANYS),
    "additionalProperties": (21, _additional_properties),
    "type": (22, _type_item),
    "items": (23, _items_item),
    # allOf (24) is repeated: written by `schema` itself
    "properties": (25, _named_map(1, schema)),
    "discriminator": (26, STR),
    "readOnly": (27, BOOL),
    "xml": (28, lambda v: _message(v, _XML, vendor=6)),
    "externalDocs": (29, _external_docs),
    "example": (30, ANY),
}


# ---- parameters -----------------------------------------------------------------------------


def _primitives_items(obj: Obj) -> bytes:
    return _message(obj, _PRIMITIVES_ITEMS, vendor=18)


_PRIMITIVES_ITEMS: dict[str, Field] = {
    "type": (1, STR),
    "format": (2, STR),
    "items": (3, _primitives_items),
    "collectionFormat": (4, STR),
    "default": (5, ANY),
    "maximum": (6, DBL),
    "exclusiveMaximum": (7, BOOL),
    "minimum": (8, DBL),
    "exclusiveMinimum": (9, BOOL),
    "maxLength": (10, INT),
    "minLength": (11, INT),
    "pattern": (12, STR),
    "maxItems": (13, INT),
    "minItems": (14, INT),
    "uniqueItems": (15, BOOL),
    "enum": (16, ANYS),
    "multipleOf": (17, DBL),
}


def _validations(first: int) -> dict[str, Field]:
    """The run of validation fields every non-body parameter has, numbered from `first`."""
    names: tuple[tuple[str, str | Encoder], ...] = (
        ("type", STR),
        ("format", STR),
        ("items", _primitives_items),
        ("collectionFormat", STR),
        ("default", ANY),
        ("maximum", DBL),
        ("exclusiveMaximum", BOOL),
        ("minimum", DBL),
        ("exclusiveMinimum", BOOL),
        ("maxLength", INT),
        ("minLength", INT),
        ("pattern", STR),
        ("maxItems", INT),
        ("minItems", INT),
        ("uniqueItems", BOOL),
        ("enum", ANYS),
        ("multipleOf", DBL),
    )
    return {name: (first + i, kind) for i, (name, kind) in enumerate(names)}


_PARAMETER_HEAD: dict[str, Field] = {
    "required": (1, BOOL),
    "in": (2, STR),
    "description": (3, STR),
    "name": (4, STR),
}
# `in` -> (NonBodyParameter's field, the sub-schema's fields, its extensions' field)
_NON_BODY: dict[str, tuple[int, dict[str, Field], int]] = {
    "header": (1, {**_PARAMETER_HEAD, **_validations(5)}, 22),
    "formData": (2, {**_PARAMETER_HEAD, "allowEmptyValue": (5, BOOL), **_validations(6)}, 23),
    "query": (3, {**_PARAMETER_HEAD, "allowEmptyValue": (5, BOOL), **_validations(6)}, 23),
    "path": (4, {**_PARAMETER_HEAD, **_validations(5)}, 22),
}
_BODY_PARAMETER: dict[str, Field] = {
    "description": (1, STR),
    "name": (2, STR),
    "in": (3, STR),
    "required": (4, BOOL),
    "schema": (5, schema),
}
_JSON_REFERENCE: dict[str, Field] = {"$ref": (1, STR), "description": (2, STR)}


def parameter(obj: Obj) -> bytes:
    """A `Parameter`: a body parameter or one of the non-body kinds by `in`."""
    where = obj.get("in")
    if where == "body":
        return bytes_field(1, _message(obj, _BODY_PARAMETER, vendor=6))
    number, table, vendor = _NON_BODY.get(str(where), _NON_BODY["query"])
    return bytes_field(2, bytes_field(number, _message(obj, table, vendor=vendor)))


def _parameters_item(obj: Obj) -> bytes:
    if "$ref" in obj:
        return bytes_field(2, _message(obj, _JSON_REFERENCE))
    return bytes_field(1, parameter(obj))


# ---- operations and paths -----------------------------------------------------------------


def _schema_item(obj: Obj) -> bytes:
    if obj.get("type") == "file":
        return bytes_field(2, _message(obj, _FILE_SCHEMA, vendor=10))
    return bytes_field(1, schema(obj))


_FILE_SCHEMA: dict[str, Field] = {
    "format": (1, STR),
    "title": (2, STR),
    "description": (3, STR),
    "default": (4, ANY),
    "required": (5, STRS),
    "type": (6, STR),
    "readOnly": (7, BOOL),
    "externalDocs": (8, _external_docs),
    "example": (9, ANY),
}
_HEADER: dict[str, Field] = {**_validations(1), "description": (18, STR)}
_RESPONSE: dict[str, Field] = {
    "description": (1, STR),
    "schema": (2, _schema_item),
    "headers": (3, _named_map(1, lambda h: _message(h, _HEADER, vendor=19))),
    "examples": (4, lambda ex: b"".join(bytes_field(1, _named(k, _any(v))) for k, v in ex.items())),
}


def _response_value(obj: Obj) -> bytes:
    if "$ref" in obj:
        return bytes_field(2, _message(obj, _JSON_REFERENCE))
    return bytes_field(1, _message(obj, _RESPONSE, vendor=5))


def _responses(obj: Obj) -> bytes:
    out = bytearray()
    for code, value in obj.items():
        if code.startswith("x-"):
            out += bytes_field(2, _named(code, _any(value)))
        else:
            out += bytes_field(1, _named(code, _response_value(value)))
    return bytes(out)


def _security_requirement(obj: Obj) -> bytes:
    return b"".join(
        bytes_field(1, _named(name, _scalar(1, STRS, scopes or []))) for name, scopes in obj.items()
    )


_OPERATION: dict[str, Field] = {
    "tags": (1, STRS),
    "summary": (2, STR),
    "description": (3, STR),
    "externalDocs": (4, _external_docs),
    "operationId": (5, STR),
    "produces": (6, STRS),
    "consumes": (7, STRS),
    # parameters (8) and security (12) are repeated messages: see `_operation`
    "responses": (9, _responses),
    "schemes": (10, STRS),
    "deprecated": (11, BOOL),
}


def _operation(obj: Obj) -> bytes:
    out = bytearray(_message(obj, _OPERATION, vendor=13))
    out += b"".join(bytes_field(8, _parameters_item(p)) for p in obj.get("parameters") or [])
    out += b"".join(bytes_field(12, _security_requirement(s)) for s in obj.get("security") or [])
    return bytes(out)


_PATH_ITEM: dict[str, Field] = {
    "$ref": (1, STR),
    "get": (2, _operation),
    "put": (3, _operation),
    "post": (4, _operation),
    "delete": (5, _operation),
    "options": (6, _operation),
    "head": (7, _operation),
    "patch": (8, _operation),
}


def _path_item(obj: Obj) -> bytes:
    out = bytearray(_message(obj, _PATH_ITEM, vendor=10))
    out += b"".join(bytes_field(9, _parameters_item(p)) for p in obj.get("parameters") or [])
    return bytes(out)


def _paths(obj: Obj) -> bytes:
    out = bytearray()
    for path, item in obj.items():
        if path.startswith("x-"):
            out += bytes_field(1, _named(path, _any(item)))
        else:
            out += bytes_field(2, _named(path, _path_item(item)))
    return bytes(out)


# ---- the document ---------------------------------------------------------------------------

_SECURITY_SCHEMES: dict[str, tuple[int, dict[str, Field], int]] = {
    "basic": (1, {"type": (1, STR), "description": (2, STR)}, 3),
    "apiKey": (
        2,
        {"type": (1, STR), "name": (2, STR), "in": (3, STR), "description": (4, STR)},
        5,
    ),
}


def _security_definitions_item(obj: Obj) -> bytes:
    scheme = _SECURITY_SCHEMES.get(str(obj.get("type")))
    if scheme is None:  # the OAuth2 flows: nothing kubelite serves
        return b""
    number, table, vendor = scheme
    return bytes_field(number, _message(obj, table, vendor=vendor))


_INFO: dict[str, Field] = {
    "title": (1, STR),
    "version": (2, STR),
    "description": (3, STR),
    "termsOfService": (4, STR),
    "contact": (
        5,
        lambda c: _message(c, {"name": (1, STR), "url": (2, STR), "email": (3, STR)}, 4),
    ),
    "license": (6, lambda li: _message(li, {"name": (1, STR), "url": (2, STR)}, 3)),
}
_TAG: dict[str, Field] = {
    "name": (1, STR),
    "description": (2, STR),
    "externalDocs": (3, _external_docs),
}
_DOCUMENT: dict[str, Field] = {
    "swagger": (1, STR),
    "info": (2, lambda info: _message(info, _INFO, vendor=7)),
    "host": (3, STR),
    "basePath": (4, STR),
    "schemes": (5, STRS),
    "consumes": (6, STRS),
    "produces": (7, STRS),
    "paths": (8, _paths),
    "definitions": (9, _named_map(1, schema)),
    "parameters": (10, _named_map(1, parameter)),
    "responses": (11, _named_map(1, lambda r: _message(r, _RESPONSE, vendor=5))),
    # security (12) and tags (14) are repeated messages: see `document`
    "securityDefinitions": (13, _named_map(1, _security_definitions_item)),
    "externalDocs": (15, _external_docs),
}


def document(swagger: Obj) -> bytes:
    """The whole swagger 2.0 document as a serialized `openapi.v2.Document`."""
    out = bytearray(_message(swagger, _DOCUMENT, vendor=16))
    out += b"".join(
        bytes_field(12, _security_requirement(s)) for s in swagger.get("security") or []
    )
    out += b"".join(bytes_field(14, _message(t, _TAG, vendor=4)) for t in swagger.get("tags") or [])
    return bytes(out)
