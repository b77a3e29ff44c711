"""Zipkin v1 spans and their conversion to the v2 model, following Zipkin's converter.

A v1 span is the shape old reporters and py_zipkin still send: ids as numbers, the
span's kind implied by "core" annotations (``cs``/``sr``/``ss``/``cr``/``ms``/``mr``)
and each annotation carrying the endpoint that logged it. Both intake readers (v1
JSON and v1 Thrift) build a :class:`V1Span`; :func:`to_v2` turns it into one v2
span per endpoint, as Zipkin's ``V1SpanConverter`` does, so the store, queries and
dependency links see exactly what zipkin-server would have stored:

- a span holding both the client and the server side becomes two spans, the
  server one ``shared``; a loopback span (same service on both sides) too;
- the client side owns ``timestamp``/``duration`` when both sides are present;
- ``ca``/``sa``/``ma`` address annotations become remote endpoints, string binary
  annotations become tags of the span of their endpoint (an empty ``lc`` only
  names the local endpoint), other annotations stay with their endpoint.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

from kubelite.tracing.model import Endpoint, Span, finish_span

_ADDRESS_KEYS: Final = frozenset({"ca", "sa", "ma"})
_U64: Final = (1 << 64) - 1
# Core annotations and the kind each implies; "ws"/"wr" (wire send/receive) imply none.
_CORE_KINDS: Final[dict[str, str | None]] = {
    "cs": "CLIENT",
    "sr": "SERVER",
    "ss": "SERVER",
    "cr": "CLIENT",
    "ms": "PRODUCER",
    "mr": "CONSUMER",
    "ws": None,
    "wr": None,
}


class V1SpanError(ValueError):
    """A v1 span that Zipkin refuses to build; ``str()`` is Zipkin's message."""


@dataclass(frozen=True, slots=True)
class V1Annotation:
    timestamp: int
    value: str
    endpoint: Endpoint | None


@dataclass(frozen=True, slots=True)
class V1BinaryAnnotation:
    """A tag (``value`` is a string) or, with ``value`` None, an address annotation."""

    key: str
    value: str | None
    endpoint: Endpoint | None


@dataclass(frozen=True, slots=True)
class V1Span:
    """Ids are unsigned 64-bit numbers; zero means absent (no parent, 64-bit trace)."""

    trace_id_high: int
    trace_id: int
    id: int
    parent_id: int
    name: str | None
    timestamp: int
    duration: int
    annotations: tuple[V1Annotation, ...]
    binary_annotations: tuple[V1BinaryAnnotation, ...]
    debug: bool


def make_v1_span(
    *,
    trace_id_high: int = 0,
    trace_id: int,
    id: int,
    parent_id: int = 0,
    name: str | None = None,
    timestamp: int = 0,
    duration: int = 0,
    annotations: Iterable[V1Annotation] = (),
    binary_annotations: Iterable[V1BinaryAnnotation] = (),
    debug: bool = False,
) -> V1Span:
    """Zipkin's ``V1Span.Builder.build``: ids checked, annotations in a stable order.

    Annotations sort by (timestamp, value) and binary annotations by key (keeping
    the order of equal keys), so the last of two tags with one key wins as in Zipkin.
    """
    if trace_id & _U64 == 0:
        raise V1SpanError("traceId == 0")
    if id & _U64 == 0:
        raise V1SpanError("id == 0")
    return V1Span(
        trace_id_high=trace_id_high & _U64,
        trace_id=trace_id & _U64,
        id=id & _U64,
        parent_id=parent_id & _U64,
        name=name.lower() if name else None,
        timestamp=timestamp,
        duration=duration,
        annotations=tuple(sorted(annotations, key=lambda a: (a.timestamp, a.value))),
        binary_annotations=tuple(sorted(binary_annotations, key=lambda b: b.key)),
        debug=debug,
    )


def address_annotation(key: str, endpoint: Endpoint | None) -> V1BinaryAnnotation | None:
    """An ``sa``/``ca``/``ma`` address, or None: other keys and empty endpoints are dropped."""
    if key not in _ADDRESS_KEYS or not endpoint:
        return None
    return V1BinaryAnnotation(key, None, endpoint)


def to_v2(source: V1Span) -> list[Span]:
    """The v2 spans ``source`` stands for: the first, then one per further endpoint."""
    return _Conversion(source).run()


class _Builder:
    """One v2 span under construction (Zipkin's ``Span.Builder``, reduced to our needs)."""

    __slots__ = (
        "annotations",
        "duration",
        "kind",
        "local",
        "remote",
        "shared",
        "tags",
        "timestamp",
    )

    def __init__(self, local: Endpoint | None) -> None:
        self.local = local
        self.remote: Endpoint | None = None
        self.kind: str | None = None
        self.timestamp = 0
        self.duration = 0
        self.annotations: list[tuple[int, str]] = []
        self.tags: dict[str, str] = {}
        self.shared = False

    def set_timestamp(self, value: int) -> None:
        self.timestamp = max(value, 0)

    def set_duration(self, value: int | None) -> None:
        self.duration = max(value or 0, 0)

    def build(self, source: V1Span) -> Span:
        span: dict[str, Any] = {"traceId": _trace_id(source), "id": f"{source.id:016x}"}
        if source.parent_id:
            span["parentId"] = f"{source.parent_id:016x}"
        if self.kind is not None:
            span["kind"] = self.kind
        if source.name:
            span["name"] = source.name
        if self.timestamp:
            span["timestamp"] = self.timestamp
        if self.duration:
            span["duration"] = self.duration
        if self.local:
            span["localEndpoint"] = self.local
        if self.remote:
            span["remoteEndpoint"] = self.remote
        if self.annotations:
            span["annotations"] = [{"timestamp": t, "value": v} for t, v in self.annotations]
        if self.tags:
            span["tags"] = self.tags
        if source.debug:
            span["debug"] = True
        if self.shared:
            span["shared"] = True
        return finish_span(span)


def _trace_id(source: V1Span) -> str:
    if source.trace_id_high:
        return f"{source.trace_id_high:016x}{source.trace_id:016x}"
    return f"{source.trace_id:016x}"


def _same_service(left: Endpoint, right: Endpoint | None) -> bool:
    return left.get("serviceName") == (right or {}).get("serviceName")


class _Conversion:
    """The state of converting one span; the steps mirror Zipkin's converter."""

    def __init__(self, source: V1Span) -> None:
        self.source = source
        self.first = _Builder(None)
        self.spans: list[_Builder] = []
        self.cs: V1Annotation | None = None
        self.sr: V1Annotation | None = None
        self.ss: V1Annotation | None = None
        self.cr: V1Annotation | None = None
        self.ms: V1Annotation | None = None
        self.mr: V1Annotation | None = None
        self.ws: V1Annotation | None = None
        self.wr: V1Annotation | None = None

    def run(self) -> list[Span]:
        self._annotations()
        self._rpc_timing()
        self._messaging_timing()
        self._binary_annotations()
        return [builder.build(self.source) for builder in (self.first, *self.spans)]

    # -- which span an endpoint belongs to ----------------------------------------

    def for_endpoint(self, endpoint: Endpoint | None) -> _Builder:
        """The span logged by ``endpoint``'s service; no endpoint means the first span."""
        if endpoint is None:
            return self.first
        for builder in (self.first, *self.spans):
            if builder.local is None:
                builder.local = endpoint
                return builder
            if _same_service(builder.local, endpoint):
                return builder
        return self.new_span(endpoint)

    def new_span(self, endpoint: Endpoint) -> _Builder:
        builder = _Builder(endpoint)
        self.spans.append(builder)
        return builder

    # -- annotations --------------------------------------------------------------

    def _annotations(self) -> None:
        for annotation in self.source.annotations:
            span = self.for_endpoint(annotation.endpoint)
            value = annotation.value
            # Core annotations need an endpoint; without one they are plain annotations.
            if value in _CORE_KINDS and annotation.endpoint is not None:
                kind = _CORE_KINDS[value]
                if kind is not None:
                    span.kind = kind
                setattr(self, value, annotation)
            else:
                span.annotations.append((annotation.timestamp, value))
        # A reporter bridging from an event model may leave out the start annotation.
        if self.cs is None and self._end_is_span_end(self.cr):
            assert self.cr is not None
            self.cs = V1Annotation(self.source.timestamp, "cs", self.cr.endpoint)
        if self.sr is None and self._end_is_span_end(self.ss):
            assert self.ss is not None
            self.sr = V1Annotation(self.source.timestamp, "sr", self.ss.endpoint)

    def _end_is_span_end(self, end: V1Annotation | None) -> bool:
        source = self.source
        return (
            end is not None
            and source.timestamp != 0
            and source.duration != 0
            and source.timestamp + source.duration == end.timestamp
        )

    def _rpc_timing(self) -> None:
        source, cs, sr, ss, cr = self.source, self.cs, self.sr, self.ss, self.cr
        if cs is not None and sr is not None:
            # In a shared span the client side owns the span's timestamp and duration.
            self._timestamp_duration(cs, cr)
            client = self.for_endpoint(cs.endpoint)
            if _same_service(cs.endpoint or {}, sr.endpoint):
                client.kind = "CLIENT"  # loopback: the server side needs a span of its own
                server = self.new_span(sr.endpoint or {})
                server.kind = "SERVER"
            else:
                server = self.for_endpoint(sr.endpoint)
            server.shared = True
            server.set_timestamp(sr.timestamp)
            if ss is not None:
                server.set_duration(ss.timestamp - sr.timestamp)
            if cr is None and source.duration == 0:
                client.set_duration(None)  # one-way RPC: no duration
        elif cs is not None and cr is not None:
            self._timestamp_duration(cs, cr)
        elif sr is not None and ss is not None:
            self._timestamp_duration(sr, ss)
        else:
            self._incomplete_rpc()
        # v1 had no shared flag: a server side without the span's timestamp was shared.
        if (
            cs is None
            and sr is not None
            and (source.timestamp == 0 or (ss is not None and source.duration == 0))
        ):
            self.for_endpoint(sr.endpoint).shared = True

    def _incomplete_rpc(self) -> None:
        for builder in (self.first, *self.spans):
            if builder.kind == "CLIENT":
                if self.cs is not None:
                    builder.set_timestamp(self.cs.timestamp)
                if self.cr is not None:
                    builder.annotations.append((self.cr.timestamp, self.cr.value))
            elif builder.kind == "SERVER":
                if self.sr is not None:
                    builder.set_timestamp(self.sr.timestamp)
                if self.ss is not None:
                    builder.annotations.append((self.ss.timestamp, self.ss.value))
        if self.source.timestamp != 0:
            self.first.set_timestamp(self.source.timestamp)
            self.first.set_duration(self.source.duration)

    def _messaging_timing(self) -> None:
        ms, mr, ws, wr = self.ms, self.mr, self.ws, self.wr
        if ms is not None and mr is not None:  # not meant to share a span, but they may
            producer = self.for_endpoint(ms.endpoint)
            if _same_service(ms.endpoint or {}, mr.endpoint):
                producer.kind = "PRODUCER"
                consumer = self.new_span(mr.endpoint or {})
                consumer.kind = "CONSUMER"
            else:
                consumer = self.for_endpoint(mr.endpoint)
            consumer.shared = True
            if wr is not None:
                consumer.set_timestamp(wr.timestamp)
                consumer.set_duration(mr.timestamp - wr.timestamp)
            else:
                consumer.set_timestamp(mr.timestamp)
            producer.set_timestamp(ms.timestamp)
            producer.set_duration(ws.timestamp - ms.timestamp if ws is not None else None)
        elif ms is not None:
            self._timestamp_duration(ms, ws)
        elif mr is not None:
            if wr is not None:
                self._timestamp_duration(wr, mr)
            else:
                self._timestamp_duration(mr, None)
        else:
            for wire in (ws, wr):
                if wire is not None:
                    self.for_endpoint(wire.endpoint).annotations.append(
                        (wire.timestamp, wire.value)
                    )

    def _timestamp_duration(self, begin: V1Annotation, end: V1Annotation | None) -> None:
        """The span's own timestamp and duration when it has both, else the annotations'."""
        span = self.for_endpoint(begin.endpoint)
        if self.source.timestamp != 0 and self.source.duration != 0:
            span.set_timestamp(self.source.timestamp)
            span.set_duration(self.source.duration)
        else:
            span.set_timestamp(begin.timestamp)
            if end is not None:
                span.set_duration(end.timestamp - begin.timestamp)

    # -- binary annotations ---------------------------------------------------------

    def _binary_annotations(self) -> None:
        addresses: dict[str, Endpoint | None] = {"ca": None, "sa": None, "ma": None}
        for binary in self.source.binary_annotations:
            if binary.key in addresses:
                addresses[binary.key] = binary.endpoint
                continue
            span = self.for_endpoint(binary.endpoint)
            if binary.value is None or (binary.key == "lc" and not binary.value):
                continue  # an empty "lc" only names the local endpoint
            span.tags[binary.key] = binary.value
        self._addresses(addresses["ca"], addresses["sa"], addresses["ma"])

    def _addresses(self, ca: Endpoint | None, sa: Endpoint | None, ma: Endpoint | None) -> None:
        cs, sr, ss, cr = self.cs, self.sr, self.ss, self.cr
        if cs is None and cr is None and ss is None and sr is None and (ca or sa):
            if ca and sa:
                self.for_endpoint(ca).remote = sa
            elif sa:
                self.for_endpoint(None).remote = sa  # a remote address alone: not a client
            else:
                server = self.for_endpoint(None)  # a client address alone: a server
                server.kind = "SERVER"
                server.remote = ca
            return
        server_side = sr if sr is not None else ss
        if ca and server_side is not None and ca != server_side.endpoint:
            # Finagle reports the client's socket as "ca" under the server's own name;
            # dropping the name avoids a loopback link.
            if _same_service(ca, server_side.endpoint):
                ca = ca.copy()
                ca.pop("serviceName", None)
            self.for_endpoint(server_side.endpoint).remote = ca or None
        if sa:
            client_side = cs if cs is not None else cr
            if client_side is not None:
                self.for_endpoint(client_side.endpoint).remote = sa
        if ma:  # both messaging sides get the broker's address
            for side in (self.ms, self.mr):
                if side is not None:
                    self.for_endpoint(side.endpoint).remote = ma
