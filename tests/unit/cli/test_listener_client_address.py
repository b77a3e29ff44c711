"""The listeners take the client's address and scheme from the connection only.

uvicorn's default (`proxy_headers=True`, trusting 127.0.0.1) would let any local
client name its own address in X-Forwarded-For (opening an ingress allowlist) and
its scheme in X-Forwarded-Proto (skipping `ssl-redirect`); ingress-nginx ignores
them by default (`use-forwarded-headers: false`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from kubelite.cli.cluster import Listener, _server
from kubelite.proxy.ingress.forwarding import IngressApp


@pytest.mark.parametrize("app", [IngressApp(), object()], ids=["ingress", "other"])
def test_listeners_do_not_trust_forwarded_headers(app: Any) -> None:
    server = _server(Listener("x", app, 0), None)
    assert server.config.proxy_headers is False
    server.config.load()
    assert not isinstance(server.config.loaded_app, ProxyHeadersMiddleware)


def test_the_ingress_sees_the_peer_not_the_claim() -> None:
    async def scope_of(headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}

        async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
            seen.update(scope)

        server = _server(Listener("ingress", app, 0), None)
        server.config.load()
        scope = {
            "type": "http",
            "scheme": "http",
            "client": ("127.0.0.1", 5000),
            "headers": headers,
        }
        await server.config.loaded_app(scope, None, None)
        return seen

    spoof = [(b"x-forwarded-for", b"10.9.9.9"), (b"x-forwarded-proto", b"https")]
    seen = asyncio.run(scope_of(spoof))
    assert seen["client"] == ("127.0.0.1", 5000) and seen["scheme"] == "http"


def test_the_ingress_listener_keeps_an_absolute_form_host() -> None:
    from kubelite.proxy.ingress.listener import IngressHttpProtocol

    server = _server(Listener("ingress", IngressApp(), 0), None)
    server.config.load()
    assert server.config.http_protocol_class is IngressHttpProtocol
    other = _server(Listener("dashboard", object(), 0), None)
    other.config.load()
    assert other.config.http_protocol_class is not IngressHttpProtocol
