"""The Zipkin-compatible HTTP server: span intake and the Zipkin v2 query API.

Routes, parameters, status codes and messages follow Zipkin's server, so the
Zipkin UI, Zipkin reporters and scripts written against Zipkin work unchanged:
``POST /api/v2/spans`` answers 202 (an empty body or ``[]`` too), a bad batch is a
400 whose plain-text body is Zipkin's message, a trace that is not stored is a
404 ``<traceId> not found``. Spans are stored before the 202, so they are
queryable as soon as the reporter hears back.

``POST /api/v1/spans`` takes the v1 formats old reporters send (v1 JSON, and v1
Thrift as py_zipkin before 1.0 sent by default), converted to v2 spans as Zipkin
converts them. As zipkin-server does for its UI, the query API is also served under
``/zipkin`` (``/zipkin/api/v2/...``); intake is not.

``GET /metrics`` and ``GET /prometheus`` report the collector's counters as
zipkin-server does (see :mod:`kubelite.tracing.collector_metrics`).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, TypeVar

from anyio import to_thread
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from kubelite.tracing import bodies, cors, responses
from kubelite.tracing.collector_metrics import (
    HTTP,
    PROMETHEUS_CONTENT_TYPE,
    CollectorMetrics,
    TransportMetrics,
)
from kubelite.tracing.model import Span, SpanFormatError, normalize_trace_id
from kubelite.tracing.query import QueryError, parse_long, query_from_params
from kubelite.tracing.store import SpanStore
from kubelite.tracing.zipkin_json import SpanListError, decode_span_list
from kubelite.tracing.zipkin_json_fast import decode_canonical
from kubelite.tracing.zipkin_proto import decode_list_of_spans

DEFAULT_LOOKBACK_MS: Final = 86_400_000
NAMES_MAX_AGE_S: Final = 300
_V1_MARKER: Final = b'yAnnotations"'
_SPANS: Final = "/api/v2/spans"
_V1_SPANS: Final = "/api/v1/spans"
_UI_PREFIX: Final = "/zipkin"
_S = TypeVar("_S")


def create_zipkin_app(
    store: SpanStore,
    *,
    default_lookback_ms: int = DEFAULT_LOOKBACK_MS,
    now_ms: Callable[[], int] | None = None,
    metrics: CollectorMetrics | None = None,
) -> Starlette:
    """An ASGI app serving Zipkin's v2 API over ``store``; mount it on port 9411.

    ``metrics`` collects the ``http`` transport's counters and is what ``/metrics``
    and ``/prometheus`` report; pass the OTLP app's too to report both.
    """
    api = _ZipkinApi(
        store,
        default_lookback_ms,
        now_ms or (lambda: int(time.time() * 1000)),
        metrics or CollectorMetrics(),
    )
    query = [
        ("/api/v2/services", api.services),
        ("/api/v2/remoteServices", api.remote_services),
        ("/api/v2/traces", api.traces),
        ("/api/v2/trace/{traceId}", api.trace),
        ("/api/v2/traceMany", api.trace_many),
        ("/api/v2/dependencies", api.dependencies),
        ("/api/v2/autocompleteKeys", api.autocomplete_keys),
        ("/api/v2/autocompleteValues", api.autocomplete_values),
    ]
    routes = [
        Route(_SPANS, api.spans, methods=["GET", "POST"]),
        Route(_V1_SPANS, api.post_spans_v1, methods=["POST"]),
        *(Route(path, endpoint, methods=["GET"]) for path, endpoint in query),
        # zipkin-server also serves the query API under /zipkin, where its UI lives;
        # span intake stays at the root there too.
        Route(_UI_PREFIX + _SPANS, api.span_names, methods=["GET"]),
        *(Route(_UI_PREFIX + path, endpoint, methods=["GET"]) for path, endpoint in query),
        Route("/health", api.health, methods=["GET"]),
        Route("/info", api.info, methods=["GET"]),
        Route("/metrics", api.metrics_json, methods=["GET"]),
        Route("/prometheus", api.prometheus, methods=["GET"]),
    ]
    return _ZipkinServer(api, routes=routes)


class _ZipkinServer(Starlette):
    """Starlette, except that span intake skips the router and middleware stack.

    Intake is the one hot route (every reporter posts there, query traffic is
    rare), and the generic dispatch cost as much per request as storing the spans.
    Cross-origin requests get zipkin-server's CORS answers on every route (see
    :mod:`kubelite.tracing.cors`).
    """

    def __init__(self, api: _ZipkinApi, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._api = api

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            origin, preflight = cors.cross_origin(scope)
            if preflight:
                await cors.send_preflight(send)
                return
            if origin:
                send = cors.with_cors_headers(send)
            if scope["method"] == "POST" and scope["path"] == _SPANS:
                response = await self._api.post_spans(Request(scope, receive))
                await response(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


class _ZipkinApi:
    def __init__(
        self,
        store: SpanStore,
        lookback_ms: int,
        now_ms: Callable[[], int],
        metrics: CollectorMetrics,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.intake = metrics.for_transport(HTTP)
        self.lookback_ms = lookback_ms
        self.now_ms = now_ms
        # As Zipkin: span and remote service names are cached by browsers once the
        # last service list had more than 3 entries (a cluster in active use).
        self.service_count = 0

    async def spans(self, request: Request) -> Response:
        """One route for both verbs, so OPTIONS/405 answers list GET and POST."""
        if request.method == "POST":
            return await self.post_spans(request)
        return await self.span_names(request)

    # -- intake -----------------------------------------------------------------

    async def post_spans(self, request: Request) -> Response:
        intake = self.intake
        intake.messages += 1
        body = await _intake_body(request, intake)
        if isinstance(body, Response):
            return body
        protobuf = "protobuf" in request.headers.get("content-type", "")
        try:
            if protobuf:
                spans: Sequence[Span] = decode_list_of_spans(body)
            else:
                _check_json_v2(body)
                wire = decode_canonical(body)
                if wire is not None:
                    return await self._store(wire, self.store.ingest_wire_async)
                spans = decode_span_list(body)
        except SpanListError as error:
            intake.messages_dropped += 1
            return responses.text(400, str(error))
        return await self._store(spans, self.store.ingest_async)

    async def post_spans_v1(self, request: Request) -> Response:
        """v1 JSON, or v1 Thrift when the Content-Type says so, stored as v2 spans."""
        intake = self.intake
        intake.messages += 1
        body = await _intake_body(request, intake)
        if isinstance(body, Response):
            return body
        # Imported here: most collectors never see a v1 span, so start-up skips the readers.
        from kubelite.tracing.v1_intake import decode_v1

        thrift = "thrift" in request.headers.get("content-type", "")
        try:
            spans = decode_v1(body, thrift=thrift)
        except SpanListError as error:
            intake.messages_dropped += 1
            return responses.text(400, str(error))
        return await self._store(spans, self.store.ingest_async)

    async def _store(
        self, spans: Sequence[_S], ingest: Callable[[Sequence[_S]], Awaitable[int]]
    ) -> Response:
        count = len(spans)
        intake = self.intake
        if count:  # as zipkin's Collector.accept: an empty list is not a span count
            intake.increment_spans(count)
        if count > bodies.MAX_SPANS_PER_BATCH:
            intake.spans_dropped += count
            return responses.text(
                413, f"Too many spans: {count} > {bodies.MAX_SPANS_PER_BATCH} per request"
            )
        try:
            await ingest(spans)
        except Exception:
            intake.spans_dropped += count
            raise
        return responses.accepted()

    # -- names ------------------------------------------------------------------

    def _names(self, values: list[str], *, cache: bool) -> Response:
        headers = {"Cache-Control": f"max-age={NAMES_MAX_AGE_S}, must-revalidate"}
        return responses.json_response(values, headers=headers if cache else None)

    async def services(self, request: Request) -> Response:
        names = await to_thread.run_sync(self.store.service_names)
        self.service_count = len(names)
        return self._names(names, cache=self.service_count > 3)

    async def span_names(self, request: Request) -> Response:
        service = request.query_params.get("serviceName")
        if service is None:
            return _missing("serviceName")
        names = await to_thread.run_sync(self.store.span_names, service)
        return self._names(names, cache=self.service_count > 3)

    async def remote_services(self, request: Request) -> Response:
        service = request.query_params.get("serviceName")
        if service is None:
            return _missing("serviceName")
        names = await to_thread.run_sync(self.store.remote_service_names, service)
        return self._names(names, cache=self.service_count > 3)

    async def autocomplete_keys(self, request: Request) -> Response:
        return self._names(sorted(self.store.autocomplete_keys), cache=True)

    async def autocomplete_values(self, request: Request) -> Response:
        key = request.query_params.get("key")
        if key is None:
            return _missing("key")
        if not key:
            return responses.text(400, "key was empty")
        values = await to_thread.run_sync(self.store.autocomplete_values, key)
        return self._names(values, cache=len(values) > 3)

    # -- traces -----------------------------------------------------------------

    async def traces(self, request: Request) -> Response:
        try:
            query = query_from_params(
                request.query_params, now_ms=self.now_ms(), default_lookback_ms=self.lookback_ms
            )
        except QueryError as error:
            return responses.text(400, str(error))
        traces = await to_thread.run_sync(self.store.find_traces, query)
        return responses.json_response(traces)

    async def trace(self, request: Request) -> Response:
        try:
            trace_id = normalize_trace_id(request.path_params["traceId"].strip())
        except SpanFormatError as error:
            return responses.text(400, error.cause)
        body = await to_thread.run_sync(self.store.trace_json, trace_id)
        if body is None:
            return responses.text(404, f"{trace_id} not found")
        return responses.json_bytes(body)

    async def trace_many(self, request: Request) -> Response:
        raw = request.query_params.get("traceIds")
        if raw is None:
            return _missing("traceIds")
        if not raw:
            return responses.text(400, "traceIds parameter is empty")
        try:
            trace_ids = _unique_trace_ids(raw)
        except (SpanFormatError, QueryError) as error:
            message = error.cause if isinstance(error, SpanFormatError) else str(error)
            return responses.text(400, message)
        if len(trace_ids) == 1:
            return responses.text(
                400, "Use /api/v2/trace/{traceId} endpoint to retrieve a single trace"
            )
        body = await to_thread.run_sync(self.store.traces_json, trace_ids)
        return responses.json_bytes(body)

    async def dependencies(self, request: Request) -> Response:
        params = request.query_params
        if params.get("endTs") is None:
            return _missing("endTs")
        try:
            end_ts = parse_long(params["endTs"], "endTs")
            raw_lookback = params.get("lookback")
            lookback = parse_long(raw_lookback, "lookback") if raw_lookback else self.lookback_ms
        except QueryError as error:
            return responses.text(400, str(error))
        if end_ts <= 0:
            return responses.text(400, "endTs <= 0")
        if lookback <= 0:
            return responses.text(400, "lookback <= 0")
        links = await to_thread.run_sync(self.store.dependencies, end_ts, lookback)
        return responses.json_response(links)

    # -- server -----------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        return responses.json_response(
            {"status": "UP", "zipkin": {"status": "UP", "details": {"SpanStore": {"status": "UP"}}}}
        )

    async def info(self, request: Request) -> Response:
        return responses.json_response({"zipkin": {"version": "kubelite"}})

    async def metrics_json(self, request: Request) -> Response:
        return responses.json_response(self.metrics.as_json())

    async def prometheus(self, request: Request) -> Response:
        return Response(self.metrics.prometheus_text(), media_type=PROMETHEUS_CONTENT_TYPE)


async def _intake_body(request: Request, intake: TransportMetrics) -> bytes | Response:
    """The inflated body, or the answer already due: 413, a bad gzip, an empty batch.

    Counted as zipkin-server counts them: a body that cannot be read is a dropped
    message; the bytes are the inflated body's, and ``[]`` is 0 bytes, as zipkin
    empties it before counting.
    """
    try:
        body = await bodies.read_body(request)
    except bodies.BodyTooLarge:
        intake.messages_dropped += 1
        return responses.too_large()
    except bodies.BadEncoding as error:
        intake.messages_dropped += 1
        return responses.text(400, str(error))
    if not body or body == b"[]":
        intake.increment_bytes(0)
        return responses.accepted()
    intake.increment_bytes(len(body))
    return body


def _check_json_v2(body: bytes) -> None:
    if body[:1] != b"[":
        raise SpanListError("Expected a JSON_V2 encoded list\n")
    if _V1_MARKER in body:
        raise SpanListError("Expected a JSON_V2 encoded list, but received: JSON_V1\n")


def _unique_trace_ids(raw: str) -> list[str]:
    seen: dict[str, None] = {}
    for part in raw.split(","):
        trace_id = normalize_trace_id(part)
        if trace_id in seen:
            raise QueryError(f"redundant traceId: {part}")
        seen[trace_id] = None
    return list(seen)


def _missing(name: str) -> Response:
    return responses.text(400, f"Required parameter '{name}' is missing")
