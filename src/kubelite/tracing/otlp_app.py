"""The OTLP/HTTP trace receiver: ``POST /v1/traces`` in protobuf or JSON.

Per the OTLP/HTTP spec a success is 200 with an (empty) ExportTraceServiceResponse
in the request's encoding, a bad request is 400 with a ``google.rpc.Status`` body,
and an unknown content type is 415. Spans are mapped to Zipkin spans (see
:mod:`kubelite.tracing.otlp`) and land in the same store as Zipkin intake, so
the Zipkin query API serves both. Exports are counted under the ``otel/http``
transport, as zipkin's OpenTelemetry collector counts them (see
:mod:`kubelite.tracing.collector_metrics`).
"""

from __future__ import annotations

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from kubelite.tracing import bodies, responses
from kubelite.tracing.collector_metrics import OTEL_HTTP, CollectorMetrics
from kubelite.tracing.store import SpanStore

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_BAD_REQUEST_CODE = 3  # google.rpc.Code.INVALID_ARGUMENT


def create_otlp_app(store: SpanStore, *, metrics: CollectorMetrics | None = None) -> Starlette:
    """An ASGI app receiving OTLP/HTTP traces into ``store``; mount it on port 4318.

    ``metrics`` collects the ``otel/http`` counters; share it with the Zipkin app,
    whose ``/metrics`` and ``/prometheus`` report them.
    """
    intake = (metrics or CollectorMetrics()).for_transport(OTEL_HTTP)

    async def export(request: Request) -> Response:
        intake.messages += 1
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media not in (PROTOBUF, JSON):
            intake.messages_dropped += 1
            return responses.text(415, f"Unsupported content type: {media or 'none'}")
        # The protobuf runtime and OTLP's messages load with the first export:
        # a cluster nobody sends OTLP to does not carry them (9 MB).
        from kubelite.tracing import otlp

        try:
            body = await bodies.read_body(request)
            intake.increment_bytes(len(body))
            spans = otlp.decode_protobuf(body) if media == PROTOBUF else otlp.decode_json(body)
        except bodies.BodyTooLarge:
            intake.messages_dropped += 1
            return responses.too_large()
        except (bodies.BadEncoding, otlp.OtlpError) as error:
            intake.messages_dropped += 1
            return _status(media, 400, str(error))
        count = len(spans)
        if count:  # as zipkin's Collector.accept: an empty export is not a span count
            intake.increment_spans(count)
        if count > bodies.MAX_SPANS_PER_BATCH:
            intake.spans_dropped += count
            return _status(media, 413, f"Too many spans: {count}")
        try:
            await store.ingest_async(spans)
        except Exception:
            intake.spans_dropped += count
            raise
        return _success(media)

    return Starlette(routes=[Route("/v1/traces", export, methods=["POST"])])


def _success(media: str) -> Response:
    if media == PROTOBUF:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
            ExportTraceServiceResponse,
        )

        return Response(ExportTraceServiceResponse().SerializeToString(), media_type=PROTOBUF)
    return responses.json_bytes(b"{}")


def _status(media: str, status: int, message: str) -> Response:
    if media == PROTOBUF:
        body = encode_rpc_status(_BAD_REQUEST_CODE, message)
        return Response(body, status_code=status, media_type=PROTOBUF)
    body = orjson.dumps({"code": _BAD_REQUEST_CODE, "message": message})
    return Response(body, status_code=status, media_type=JSON)


def encode_rpc_status(code: int, message: str) -> bytes:
    """A ``google.rpc.Status`` (code = field 1, message = field 2), encoded by hand."""
    text = message.encode()
    return b"\x08" + _varint(code) + b"\x12" + _varint(len(text)) + text


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)
