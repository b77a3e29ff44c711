"""POSTing an AdmissionReview to a webhook: where it goes, how TLS is checked.

A `url` clientConfig is called as written. A `service` one is named
`https://NAME.NAMESPACE.svc:PORT/PATH` (that is the URL in messages and the
name the certificate must carry) but connected to the Service's ClusterIP,
which kubelite's proxy answers on this machine, as a cluster node would route
it. TLS trusts `caBundle` when given, else the system roots. One pooled
`httpx.AsyncClient` per CA bundle keeps connections warm; everything awaits,
so the API's event loop keeps serving (a webhook served by a pod on kubelite
reaches back through it).

Failures become `CallFailed` with text in the shape Go's HTTP client gives,
`Post "URL": dial tcp HOST:PORT: connect: connection refused`, since users
paste these messages into searches.
"""

from __future__ import annotations

import base64
import binascii
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:  # loaded with the first call: a cluster without webhooks never carries it
    import httpx

Obj = dict[str, Any]
# (namespace, name) -> the Service's ClusterIP, or None when there is no such Service.
ServiceLookup = Callable[[str, str], "str | None"]


class CallFailed(Exception):
    """The webhook could not be called or did not answer 2xx: failurePolicy decides."""


@dataclass(frozen=True)
class Target:
    url: str  # as shown in messages: the configured URL or the service's DNS name
    connect_url: str  # where the request actually goes
    sni: str | None  # server name to verify when connecting by address


def target_for(client_config: Obj, timeout: int, services: ServiceLookup) -> Target:
    query = f"?timeout={timeout}s"
    service = client_config.get("service")
    if not isinstance(service, dict):
        url = str(client_config.get("url") or "")
        return Target(url + query, url + query, None)
    name, namespace = str(service.get("name", "")), str(service.get("namespace", ""))
    port, path = int(service.get("port") or 443), str(service.get("path") or "")
    host = f"{name}.{namespace}.svc"
    shown = f"https://{host}:{port}{path}{query}"
    ip = services(namespace, name)
    if not ip or ip == "None":
        raise CallFailed(f'Post "{shown}": service "{name}" not found')
    return Target(shown, f"https://{ip}:{port}{path}{query}", host)


def _ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    if not ca_bundle:
        return ssl.create_default_context()
    try:
        pem = base64.b64decode(ca_bundle, validate=True).decode()
        return ssl.create_default_context(cadata=pem)
    except (binascii.Error, UnicodeDecodeError, ssl.SSLError, ValueError) as exc:
        raise CallFailed(
            f"could not get REST client: unable to load root certificates: {exc}"
        ) from None


class WebhookClients:
    """A small pool of clients, one per CA bundle, closed with `aclose`."""

    def __init__(self, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._transport = transport  # tests pass a fake transport through this seam

    def _client(self, ca_bundle: str | None) -> httpx.AsyncClient:
        import httpx

        key = ca_bundle or ""
        client = self._clients.get(key)
        if client is None:
            if self._transport is not None:
                client = httpx.AsyncClient(transport=self._transport)
            else:
                client = httpx.AsyncClient(verify=_ssl_context(ca_bundle), trust_env=False)
            self._clients[key] = client
        return client

    async def post(
        self, target: Target, body: bytes, *, ca_bundle: str | None, timeout: float
    ) -> bytes:
        import httpx

        client = self._client(ca_bundle)
        extensions = {"sni_hostname": target.sni} if target.sni else None
        try:
            response = await client.post(
                target.connect_url,
                content=body,
                headers={"content-type": "application/json", "accept": "application/json"},
                timeout=timeout,
                extensions=extensions,
            )
        except httpx.TimeoutException:
            raise CallFailed(f'Post "{target.url}": context deadline exceeded') from None
        except httpx.HTTPError as exc:
            raise CallFailed(f'Post "{target.url}": {_describe(exc, target)}') from None
        if not 200 <= response.status_code < 300:
            raise CallFailed(
                f"the server responded with the status code {response.status_code} "
                "but did not return more information"
            )
        return response.content

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()


def _describe(exc: Exception, target: Target) -> str:
    import httpx

    text = str(exc) or type(exc).__name__
    parts = urlsplit(target.connect_url)
    address = f"{parts.hostname}:{parts.port or 443}"
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return f"tls: failed to verify certificate: {text}"
    if isinstance(exc, httpx.ConnectError) and (
        "refused" in text.lower() or "all connection attempts failed" in text.lower()
    ):
        return f"dial tcp {address}: connect: connection refused"
    return text
