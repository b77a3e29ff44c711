"""The ingress listener's HTTP parser: uvicorn's httptools protocol, keeping the host of
an absolute-form request target.

RFC 9112 3.2.2: a server receiving `GET http://foo.com/x HTTP/1.1` takes the
host from the request line and ignores the Host header, as nginx does when it
picks a server. uvicorn keeps only the path of such a target, so this protocol
records the host in the scope under `REQUEST_HOST` for the routing to use.
Imported by the listener only, which loads it by its dotted path (`PROTOCOL`).
"""

from __future__ import annotations

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

REQUEST_HOST = "kubelite.request_host"  # bytes: the authority of an absolute-form target
PROTOCOL = "kubelite.proxy.ingress.listener:IngressHttpProtocol"


def absolute_form_host(url: bytes) -> bytes | None:
    """`host[:port]` of an absolute-form target (`http://foo.com:8080/x`), else None."""
    if url.startswith(b"/") or b"://" not in url[:16]:
        return None
    try:
        parsed = httptools.parse_url(url)
    except httptools.HttpParserInvalidURLError:
        return None
    if not parsed.host:
        return None
    return parsed.host + (b":%d" % parsed.port if parsed.port else b"")


class IngressHttpProtocol(HttpToolsProtocol):
    def on_headers_complete(self) -> None:
        host = absolute_form_host(self.url)
        if host is not None:
            self.scope[REQUEST_HOST] = host  # type: ignore[literal-required]
        super().on_headers_complete()


__all__ = ["PROTOCOL", "REQUEST_HOST", "IngressHttpProtocol", "absolute_form_host"]
