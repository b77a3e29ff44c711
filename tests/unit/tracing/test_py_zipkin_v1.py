"""A real reporter end to end: py_zipkin posts v1 JSON over HTTP to a served collector.

py_zipkin's transport picks ``/api/v1/spans`` from the payload's encoding, as it
does against zipkin-server. (py_zipkin 1.x no longer writes v1 Thrift, which is
covered by the Thrift bodies built in test_v1_intake.py.)
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from kubelite.tracing import SpanStore, create_zipkin_app

py_zipkin = pytest.importorskip("py_zipkin")
from py_zipkin.encoding import Encoding  # noqa: E402
from py_zipkin.transport import SimpleHTTPTransport  # noqa: E402
from py_zipkin.zipkin import Kind, zipkin_span  # noqa: E402


@pytest.fixture
def collector_port(store: SpanStore) -> Iterator[int]:
    """The Zipkin app served by uvicorn on a free local port, in a thread."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_zipkin_app(store), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def test_py_zipkin_v1_json_spans_are_stored(store: SpanStore, collector_port: int) -> None:
    transport = SimpleHTTPTransport("127.0.0.1", collector_port)
    with zipkin_span(
        service_name="Frontend",
        span_name="GET /checkout",
        transport_handler=transport,
        sample_rate=100.0,
        encoding=Encoding.V1_JSON,
        kind=Kind.SERVER,
        binary_annotations={"http.path": "/checkout"},
    ) as root:
        with zipkin_span(
            service_name="frontend", span_name="call payments", kind=Kind.CLIENT
        ) as client:
            client.add_sa_binary_annotation(port=9000, service_name="payments", host="10.0.0.2")
            time.sleep(0.002)
        assert root.zipkin_attrs is not None
        trace_id = root.zipkin_attrs.trace_id

    spans = {span["name"]: span for span in store.get_trace(trace_id)}
    assert spans.keys() == {"get /checkout", "call payments"}
    server, call = spans["get /checkout"], spans["call payments"]
    assert server["kind"] == "SERVER"
    assert server["localEndpoint"]["serviceName"] == "frontend"
    assert server["tags"] == {"http.path": "/checkout"}
    assert call["kind"] == "CLIENT"
    assert call["parentId"] == server["id"]
    assert call["remoteEndpoint"] == {"serviceName": "payments", "ipv4": "10.0.0.2", "port": 9000}
    assert call["duration"] >= 2_000
    assert store.remote_service_names("frontend") == ["payments"]
