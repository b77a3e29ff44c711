"""Trace pages over the in-process collector, and what they say when it is gone."""

from __future__ import annotations

import httpx
import pytest
from dash_builders import make_span

from kubelite.dashboard import Context, ZipkinClient, create_app
from kubelite.dashboard.waterfall import TRACE_ID_RULE
from kubelite.tracing import SpanStore

pytestmark = pytest.mark.anyio

TRACE = "abcdef0123456789"


@pytest.fixture
def traced(spans: SpanStore) -> None:
    root, call = "1" * 16, "2" * 16
    spans.ingest([
        make_span(root, trace=TRACE, service="frontend", name="get /checkout", duration_ms=80),
        make_span(call, trace=TRACE, parent=root, service="frontend", name="post /pay", kind="CLIENT",
                  remote="payments", start_ms=5, duration_ms=60),
        make_span(call, trace=TRACE, parent=root, service="payments", name="post /pay", shared=True,
                  start_ms=6, duration_ms=58, error=True),
        make_span("3" * 16, trace="f" * 16, service="payments", name="get /health", duration_ms=1),
    ])  # fmt: skip


@pytest.mark.usefixtures("traced")
async def test_trace_list_and_service_filter(http: httpx.AsyncClient) -> None:
    page = (await http.get("/traces")).text
    assert '<option value="payments">' in page
    assert (
        f'href="/traces/{TRACE}"' in page and "frontend: get /checkout" in page and "80ms" in page
    )
    assert "1 error" in page
    only = (await http.get("/traces", params={"service": "frontend"})).text
    assert "get /health" not in only and "get /checkout" in only


@pytest.mark.usefixtures("traced")
async def test_waterfall_page(http: httpx.AsyncClient) -> None:
    page = (await http.get(f"/traces/{TRACE}")).text
    # Three rows, nested 0/1/2 deep; the erroring server span has a red bar.
    assert page.count('class="wf-row"') == 3
    assert 'padding-left:28px" title="payments post /pay"' in page
    assert 'class="wf-bar err"' in page
    assert "<dt>error</dt><dd><code>boom</code></dd>" in page


@pytest.mark.usefixtures("traced")
async def test_lookup_form_and_bad_ids(http: httpx.AsyncClient) -> None:
    assert (await http.get("/traces/lookup", params={"id": TRACE.upper()})).status_code == 200
    bad = await http.get("/traces/lookup", params={"id": "../api/v2/services"})
    assert bad.status_code == 400 and TRACE_ID_RULE in bad.text
    missing = await http.get("/traces/" + "0" * 15 + "1")
    assert missing.status_code == 404 and "has no trace" in missing.text


@pytest.mark.parametrize("trace_id", ["0" * 16, "0" * 32, "a" * 33, "abc%0A"])
async def test_ids_zipkin_refuses_are_bad_input(http: httpx.AsyncClient, trace_id: str) -> None:
    # Checked by the page, with Zipkin's rule: a 400 that says the rule, not a
    # 200 page relaying the collector's 400.
    page = await http.get(f"/traces/{trace_id}")
    assert page.status_code == 400
    assert TRACE_ID_RULE in page.text and "collector" not in page.text


@pytest.mark.usefixtures("traced")
async def test_dependency_graph(http: httpx.AsyncClient) -> None:
    page = (await http.get("/dependencies")).text
    assert "<svg" in page and ">frontend</text>" in page and ">payments</text>" in page
    assert "1 / 1 err" in page and "100.0%" in page


async def test_empty_collector(http: httpx.AsyncClient) -> None:
    assert "No traces in this window." in (await http.get("/traces")).text
    assert "No calls between services" in (await http.get("/dependencies")).text


def _refusing(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


@pytest.mark.parametrize(
    ("traces", "says"),
    [
        (ZipkinClient(lambda: None), "the tracing collector is not running"),
        (ZipkinClient(lambda: "http://c", transport=httpx.MockTransport(_refusing)), "did not answer (ConnectError)"),
        (ZipkinClient(lambda: "http://c", transport=httpx.MockTransport(lambda r: httpx.Response(500, text="boom"))),
         "answered 500 boom"),
        (ZipkinClient(lambda: "http://c", transport=httpx.MockTransport(lambda r: httpx.Response(200, text="<html>"))),
         "not JSON"),
    ],
    ids=["not-configured", "refused", "server-error", "not-json"],
)  # fmt: skip
async def test_collector_trouble_is_one_line(
    context: Context, traces: ZipkinClient, says: str
) -> None:
    ctx = Context(client=context.client, traces=traces)
    transport = httpx.ASGITransport(app=create_app(ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        for path in ("/traces", "/dependencies", f"/traces/{TRACE}"):
            response = await http.get(path)
            assert response.status_code == 200, path
            assert says in response.text and "Traceback" not in response.text
        assert "Overview" in (await http.get("/")).text  # the rest keeps working
