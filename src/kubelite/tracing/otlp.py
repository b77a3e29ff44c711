"""Mapping OTLP/HTTP trace exports onto Zipkin v2 spans.

The mapping is the OpenTelemetry Zipkin exporter's (the Python SDK's encoder,
plus the spec's remote-endpoint ranking): ``service.name`` becomes the local
service, INTERNAL spans lose their kind, attributes and resource attributes become
string tags (booleans lower-case, arrays as JSON lists), the instrumentation scope
becomes ``otel.scope.name``/``otel.scope.version`` (and the deprecated
``otel.library.*`` twins), a non-UNSET status becomes
``otel.status_code`` and an ERROR status also the ``error`` tag, dropped counts
become ``otel.dropped_*_count`` tags, events become annotations whose value is
``json.dumps({name: attributes}, sort_keys=True)``, nanoseconds round to
microseconds. Both encodings go through the protobuf classes: OTLP JSON is parsed
with ``json_format`` after its hex ids are turned into the base64 that protobuf's
JSON mapping expects, so camelCase or snake_case names and enum names or numbers
are all accepted.
"""

from __future__ import annotations

import base64
import json
from typing import Any, Final

import orjson
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as OtlpSpan

from kubelite.tracing.model import (
    Span,
    SpanFormatError,
    finish_span,
    normalize_span_id,
    normalize_trace_id,
    parse_ip,
)

_KINDS: Final = {2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
_STATUS_NAMES: Final = {1: "OK", 2: "ERROR"}
_DEFAULT_SERVICE: Final = "unknown_service"
# The spec's ranking of attributes that name the remote side of CLIENT/PRODUCER spans.
_REMOTE_NAME_KEYS: Final = (
    "peer.service",
    "server.address",
    "net.peer.name",
    "network.peer.address",
    "server.socket.domain",
    "server.socket.address",
    "net.sock.peer.name",
    "net.sock.peer.addr",
    "peer.hostname",
    "peer.address",
    "db.name",
)
_REMOTE_PORT_KEYS: Final = {
    "network.peer.address": "network.peer.port",
    "server.socket.address": "server.socket.port",
    "net.sock.peer.addr": "net.sock.peer.port",
}
_ID_KEYS: Final = frozenset(
    {"traceId", "trace_id", "spanId", "span_id", "parentSpanId", "parent_span_id"}
)


class OtlpError(ValueError):
    """An export request that cannot be decoded; ``str()`` is the 400 message."""


def decode_protobuf(body: bytes) -> list[Span]:
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as error:
        raise OtlpError(f"Malformed ExportTraceServiceRequest: {error}") from None
    return to_zipkin(request)


def decode_json(body: bytes) -> list[Span]:
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise OtlpError("Malformed ExportTraceServiceRequest: invalid JSON") from None
    if not isinstance(document, dict):
        raise OtlpError("Malformed ExportTraceServiceRequest: expected a JSON object")
    _hex_ids_to_base64(document)
    request = ExportTraceServiceRequest()
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except json_format.ParseError as error:
        raise OtlpError(f"Malformed ExportTraceServiceRequest: {error}") from None
    return to_zipkin(request)


def _hex_ids_to_base64(node: Any) -> None:
    """OTLP JSON spells ids in hex where protobuf JSON expects base64 bytes."""
    if isinstance(node, list):
        for item in node:
            _hex_ids_to_base64(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                try:
                    node[key] = base64.b64encode(bytes.fromhex(value)).decode()
                except ValueError:
                    raise OtlpError(f"{key} {value!r} should be hex encoded") from None
            elif isinstance(value, (dict, list)):
                _hex_ids_to_base64(value)


def to_zipkin(request: ExportTraceServiceRequest) -> list[Span]:
    spans: list[Span] = []
    for resource_spans in request.resource_spans:
        resource = attributes_to_dict(resource_spans.resource.attributes)
        service = str(resource.get("service.name") or _DEFAULT_SERVICE)
        resource_tags = {key: tag_value(value) for key, value in resource.items()}
        for scope_spans in resource_spans.scope_spans:
            scope_tags = _scope_tags(scope_spans.scope.name, scope_spans.scope.version)
            for index, otlp_span in enumerate(scope_spans.spans):
                try:
                    spans.append(map_span(otlp_span, service, {**resource_tags, **scope_tags}))
                except SpanFormatError as error:
                    raise OtlpError(f"{error.cause} (at span {index} {error.field})") from None
    return spans


def _scope_tags(name: str, version: str) -> dict[str, str]:
    """The scope under the spec's ``otel.scope.*`` keys, and the deprecated
    ``otel.library.*`` ones the exporters still send beside them."""
    tags = {}
    if name:
        tags["otel.library.name"] = tags["otel.scope.name"] = name
    if version:
        tags["otel.library.version"] = tags["otel.scope.version"] = version
    return tags


def map_span(otlp: OtlpSpan, service: str, extra_tags: dict[str, str]) -> Span:
    attributes = attributes_to_dict(otlp.attributes)
    span: dict[str, Any] = {
        "traceId": normalize_trace_id(_id_hex(otlp.trace_id, "traceId"), "traceId"),
        "id": normalize_span_id(_id_hex(otlp.span_id, "spanId"), "spanId"),
    }
    if otlp.parent_span_id and any(otlp.parent_span_id):
        span["parentId"] = normalize_span_id(otlp.parent_span_id.hex(), "parentSpanId")
    kind = _KINDS.get(otlp.kind)
    if kind is not None:
        span["kind"] = kind
    if otlp.name:
        span["name"] = otlp.name.lower()
    _put_times(span, otlp.start_time_unix_nano, otlp.end_time_unix_nano)
    span["localEndpoint"] = {"serviceName": service.lower()}
    if kind in ("CLIENT", "PRODUCER"):
        remote = remote_endpoint(attributes)
        if remote:
            span["remoteEndpoint"] = remote
    annotations = [_annotation(event) for event in otlp.events]
    if annotations:
        span["annotations"] = annotations
    span["tags"] = _tags(otlp, attributes, extra_tags)
    return finish_span(span)


def _id_hex(raw: bytes, field: str) -> str:
    if not raw:
        raise SpanFormatError(field, f"{field} is empty")
    return raw.hex()


def _usec(nanos: int) -> int:
    return (nanos + 500) // 1000


def _put_times(span: dict[str, Any], start: int, end: int) -> None:
    if start > 0:
        span["timestamp"] = _usec(start)
    if end > start > 0 and _usec(end - start) > 0:
        span["duration"] = _usec(end - start)


def _tags(otlp: OtlpSpan, attributes: dict[str, Any], extra: dict[str, str]) -> dict[str, str]:
    tags = {key: tag_value(value) for key, value in attributes.items()}
    tags.update(extra)
    status = _STATUS_NAMES.get(otlp.status.code)
    if status is not None:
        tags["otel.status_code"] = status
        if status == "ERROR":
            tags["error"] = otlp.status.message
    if otlp.dropped_attributes_count:
        tags["otel.dropped_attributes_count"] = str(otlp.dropped_attributes_count)
    if otlp.dropped_events_count:
        tags["otel.dropped_events_count"] = str(otlp.dropped_events_count)
    if otlp.dropped_links_count:
        tags["otel.dropped_links_count"] = str(otlp.dropped_links_count)
    return tags


def _annotation(event: OtlpSpan.Event) -> dict[str, Any]:
    value = json.dumps({event.name: attributes_to_dict(event.attributes)}, sort_keys=True)
    return {"timestamp": _usec(event.time_unix_nano), "value": value}


def remote_endpoint(attributes: dict[str, Any]) -> dict[str, Any] | None:
    """The first ranked attribute names the remote side: a service name or an address."""
    for key in _REMOTE_NAME_KEYS:
        value = attributes.get(key)
        if value is None or value == "":
            continue
        endpoint: dict[str, Any] = {}
        parsed = parse_ip(str(value))
        if parsed is None:
            endpoint["serviceName"] = str(value).lower()
        else:
            endpoint[parsed[0]] = parsed[1]
        port = attributes.get(_REMOTE_PORT_KEYS.get(key, "server.port"))
        if isinstance(port, int) and not isinstance(port, bool) and 0 < port <= 0xFFFF:
            endpoint["port"] = port
        return endpoint
    return None


def attributes_to_dict(attributes: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in attributes}


def any_value(value: AnyValue) -> Any:
    which = value.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        return [any_value(item) for item in value.array_value.values]
    if which == "kvlist_value":
        return attributes_to_dict(value.kvlist_value.values)
    if which == "bytes_value":
        return base64.b64encode(value.bytes_value).decode()
    return getattr(value, which)


def tag_value(value: Any) -> str:
    """Stringify like the exporter: lower-case booleans, JSON lists for arrays."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        items = [tag_value(v) if not isinstance(v, (str, type(None))) else v for v in value]
        return json.dumps(items, separators=(",", ":"))
    if isinstance(value, dict):
        return json.dumps(value, separators=(",", ":"), sort_keys=True)
    if value is None:
        return ""
    return str(value)


__all__ = ["OtlpError", "decode_json", "decode_protobuf", "to_zipkin"]
