"""`pods/proxy` and `services/proxy`: HTTP to a pod or a Service's endpoint through the API.

`/api/v1/namespaces/NS/pods/[scheme:]NAME[:port]/proxy/PATH` reaches the
pod's IP on that port (by number or by a container port's name; without
one, the first port a container declares). `services/[scheme:]NAME[:port]`
takes the Service port by name or number and one of its ready endpoints
from the EndpointSlices, picked at random, as upstream does; with none,
503 `no endpoints available for service "NAME"`. This is how `kubectl
proxy` users open an app (`localhost:8001/api/v1/namespaces/default/services/web/proxy/`)
and `kubectl get --raw` reads a pod's `/metrics`. `nodes/NAME/proxy` is
answered by `node_proxy`.

Method, query, body and headers pass through, except hop-by-hop headers and
the caller's credentials, which are the cluster's and never the app's. The
answer streams back with its status and headers.
"""

from __future__ import annotations

import os
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kubelite.api import lowports
from kubelite.api.registry import REGISTRY
from kubelite.apiserver import bodies, errors

if TYPE_CHECKING:
    from kubelite.apiserver.http import ApiApp, Request, Response, Send
    from kubelite.apiserver.paths import ResourcePath

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


@dataclass
class Streamed:
    """A proxied answer: its status and headers, then its body as it comes."""

    status: int
    headers: list[tuple[bytes, bytes]]
    chunks: AsyncIterator[bytes]
    close: Any

    async def send(self, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status, "headers": self.headers})
        try:
            async for chunk in self.chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:
            pass  # the client went away
        finally:
            await self.close()


def split_scheme_name_port(id_: str) -> tuple[str, str, str]:
    """`[scheme:]name[:port]`, as upstream's SplitSchemeNamePort reads it."""
    parts = id_.split(":")
    if len(parts) == 1:
        return "", parts[0], ""
    if len(parts) == 2:
        return "", parts[0], parts[1]
    if len(parts) == 3 and parts[0] in ("http", "https"):
        return parts[0], parts[1], parts[2]
    raise errors.BadRequest(f"invalid request {id_!r}: expected [scheme:]name[:port]")


def _pod_target(app: ApiApp, ns: str | None, name: str, port: str) -> tuple[str, str]:
    pod = app.storage.get(REGISTRY.by_kind("v1", "Pod"), ns, name).obj()  # type: ignore[arg-type]
    ip = (pod.get("status") or {}).get("podIP")
    if not ip:
        raise errors.ServiceUnavailable(f"pod {name} has no IP address yet")
    containers = (pod.get("spec") or {}).get("containers") or []
    if port and not port.isdigit():
        named = [
            p.get("containerPort")
            for c in containers
            for p in c.get("ports") or []
            if p.get("name") == port
        ]
        if not named:
            raise errors.BadRequest(f"pod {name} declares no port named {port!r}")
        port = str(named[0])
    if not port:
        declared = [p.get("containerPort") for c in containers for p in c.get("ports") or []]
        port = str(declared[0]) if declared else "80"
    return ip, port


def _service_target(app: ApiApp, ns: str | None, name: str, port: str) -> tuple[str, str]:
    svc = app.storage.get(REGISTRY.by_kind("v1", "Service"), ns, name).obj()  # type: ignore[arg-type]
    ports = (svc.get("spec") or {}).get("ports") or []
    chosen = None
    for p in ports:
        if not port or p.get("name") == port or str(p.get("port")) == port:
            chosen = p
            break
    if chosen is None:
        raise errors.ServiceUnavailable(f'no endpoints available for service "{name}"')
    slices_rt = REGISTRY.by_kind("discovery.k8s.io/v1", "EndpointSlice")
    candidates: list[tuple[str, int]] = []
    for kv in app.storage.list(slices_rt, ns).items:  # type: ignore[arg-type]
        eps = kv.obj()
        if (eps.get("metadata", {}).get("labels") or {}).get("kubernetes.io/service-name") != name:
            continue
        numbers = [
            sp.get("port")
            for sp in eps.get("ports") or []
            if (sp.get("name") or "") == (chosen.get("name") or "")
        ]
        if not numbers:
            continue
        for ep in eps.get("endpoints") or []:
            if (ep.get("conditions") or {}).get("ready") is False:
                continue
            candidates += [(address, int(numbers[0])) for address in ep.get("addresses") or []]
    if not candidates:
        raise errors.ServiceUnavailable(f'no endpoints available for service "{name}"')
    ip, number = random.choice(candidates)
    return ip, str(number)


async def handle(app: ApiApp, req: Request, target: ResourcePath) -> Streamed | Response:
    if target.resource.kind == "Node" and target.name:
        from kubelite.apiserver import node_proxy

        return await node_proxy.handle(app, req, target)
    if target.resource.kind not in ("Pod", "Service") or not target.name:
        raise errors.NotFound("the server could not find the requested resource")
    scheme, name, port = split_scheme_name_port(target.name)
    if target.resource.kind == "Pod":
        ip, port = _pod_target(app, target.namespace, name, port)
    else:
        ip, port = _service_target(app, target.namespace, name, port)
    port = str(lowports.pod_port(ip, int(port))) if port.isdigit() else port
    url = f"{scheme or 'http'}://{ip}:{port}{_raw_rest(req, target)}"
    query = req.scope.get("query_string", b"")
    if query:
        url += "?" + query.decode("latin-1")
    headers = [
        (k, v)
        for k, v in req.headers.items()
        if k not in HOP_BY_HOP and k != "authorization" and not k.startswith("x-forwarded-")
    ]
    body = await bodies.read_body(req.receive) if req.method not in ("GET", "HEAD") else b""
    import httpx  # loaded with the first proxied request

    # Pods' certificates are their own: an https target is not verified, as upstream's
    # proxy does not verify a pod's serving certificate either.
    client = httpx.AsyncClient(verify=False, timeout=httpx.Timeout(30.0, read=None))
    try:
        upstream = await client.send(
            client.build_request(req.method, url, headers=headers, content=body), stream=True
        )
    except httpx.HTTPError as exc:
        await client.aclose()
        raise errors.ServiceUnavailable(
            f"error trying to reach service: dial tcp {ip}:{port}: {_reason(exc)}"
        ) from None
    out = [
        (k.lower().encode("latin-1"), v.encode("latin-1"))
        for k, v in upstream.headers.multi_items()
        if k.lower() not in HOP_BY_HOP
    ]

    async def close() -> None:
        await upstream.aclose()
        await client.aclose()

    return Streamed(upstream.status_code, out, upstream.aiter_raw(), close)


def _reason(exc: BaseException) -> str:
    """The system error under an httpx one, in Go's words ("connect: connection refused")."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno:
            return f"connect: {os.strerror(seen.errno).lower()}"
        seen = seen.__cause__ or seen.__context__
    return str(exc) or type(exc).__name__


def _raw_rest(req: Request, target: ResourcePath) -> str:
    """What follows `/proxy` in the path, as the client wrote it (encoding, trailing slash)."""
    raw: bytes | None = req.scope.get("raw_path")
    if raw is None:
        return target.proxy_path
    segments = raw.split(b"?", 1)[0].split(b"/")
    for i in range(4, len(segments)):
        if segments[i] == b"proxy":
            return "/" + b"/".join(segments[i + 1 :]).decode("latin-1")
    return target.proxy_path
