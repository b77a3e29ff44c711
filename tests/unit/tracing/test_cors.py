"""CORS on the Zipkin port: zipkin-server's default policy (any origin, GET and POST)."""

from __future__ import annotations

from typing import Any

import pytest
from tracing_builders import make_span, request

from kubelite.tracing import SpanStore, create_zipkin_app

ORIGIN = "http://ui.example.com"


@pytest.fixture
def app(store: SpanStore) -> Any:
    return create_zipkin_app(store)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", "/api/v2/traces", id="query"),
        pytest.param("POST", "/api/v2/spans", id="intake"),
    ],
)
def test_preflight_is_allowed(app: Any, method: str, path: str) -> None:
    """Browsers ask before a JSON POST; without an allowing answer they send nothing."""
    response = request(
        app,
        "OPTIONS",
        path,
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert method in response.headers["access-control-allow-methods"].split(",")
    assert "content-type" in response.headers["access-control-allow-headers"]
    assert "access-control-allow-credentials" not in response.headers


def test_cross_origin_query_is_readable(app: Any) -> None:
    response = request(app, "GET", "/api/v2/services", headers={"Origin": ORIGIN})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"


def test_cross_origin_intake_is_stored_and_readable(app: Any, store: SpanStore) -> None:
    response = request(app, "POST", "/api/v2/spans", json=[make_span()], headers={"Origin": ORIGIN})
    assert response.status_code == 202
    assert response.headers["access-control-allow-origin"] == "*"
    assert store.count() == 1


def test_errors_carry_the_headers_too(app: Any) -> None:
    """A browser client can read Zipkin's 400 message only with the CORS headers."""
    response = request(app, "POST", "/api/v2/spans", content=b"{}", headers={"Origin": ORIGIN})
    assert response.status_code == 400
    assert response.headers["access-control-allow-origin"] == "*"


def test_same_origin_requests_get_no_cors_headers(app: Any) -> None:
    response = request(app, "GET", "/api/v2/services")
    assert "access-control-allow-origin" not in response.headers
