"""The dashboard's ASGI app: routes, the error boundary and the safety headers.

Every page goes through `_page`, the one place where failures become short
messages: an API error shows its own message (a missing pod reads "pods "x"
not found"), anything else a generic line while the traceback goes to the
log. The app is read-only (GET only) and answers only to loopback host
names, so a web page elsewhere cannot use DNS rebinding to read pod logs.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kubelite.apiserver import errors
from kubelite.dashboard import views_cluster, views_config, views_traces, views_workloads
from kubelite.dashboard.context import Context
from kubelite.dashboard.html import message
from kubelite.dashboard.layout import FRAGMENT_HEADER, View, page

log = logging.getLogger(__name__)

ViewFn = Callable[[Context, Request], Awaitable[View]]
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")
SECURITY_HEADERS = {
    # Inline styles and scripts only; fetches go back to the dashboard itself.
    "content-security-policy": (
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; "
        "connect-src 'self'; img-src data:; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def create_app(ctx: Context, *, allowed_hosts: Iterable[str] = LOOPBACK_HOSTS) -> ASGIApp:
    """The dashboard over `ctx`; mount it on its own port."""

    def page_route(path: str, fn: ViewFn) -> Route:
        async def endpoint(request: Request) -> Response:
            return await _page(ctx, request, fn)

        return Route(path, endpoint, methods=["GET"])

    async def pod_log(request: Request) -> Response:
        return await views_workloads.pod_log(ctx, request)

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    routes = [
        page_route("/", views_cluster.overview),
        page_route("/events", views_cluster.events),
        page_route("/breakers", views_cluster.breakers),
        page_route("/workloads", views_workloads.workloads),
        page_route("/pods", views_workloads.pods),
        page_route("/pods/{namespace}/{name}", views_workloads.pod),
        Route("/pods/{namespace}/{name}/log", pod_log, methods=["GET"]),
        page_route("/services", views_config.services),
        page_route("/config", views_config.config),
        page_route("/configmaps/{namespace}/{name}", views_config.configmap),
        page_route("/traces", views_traces.traces),
        page_route("/traces/{trace_id}", views_traces.trace),
        page_route("/dependencies", views_traces.dependencies),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    app = Starlette(routes=routes, exception_handlers={404: _not_found, 405: _not_allowed})
    return _Guard(app, allowed_hosts)


async def _page(ctx: Context, request: Request, fn: ViewFn) -> Response:
    namespace = request.query_params.get("ns", "")
    try:
        view = await fn(ctx, request)
    except errors.ApiError as error:
        view = View("Not found" if error.code == 404 else "Error", message(error.message, "bad"),
                    path=request.url.path, refresh=False, status=error.code)  # fmt: skip
    except Exception:
        log.exception("dashboard page %s failed", request.url.path)
        text = "The dashboard could not build this page; the kubelite log has the details."
        view = View("Error", message(text, "bad"), path=request.url.path, refresh=False, status=500)
    if request.headers.get(FRAGMENT_HEADER):
        return HTMLResponse(view.body, view.status)
    return HTMLResponse(
        page(view, namespace=namespace, namespaces=await _namespaces(ctx)), view.status
    )


async def _namespaces(ctx: Context) -> list[str]:
    try:
        return [ns["metadata"]["name"] for ns in await ctx.items("v1", "Namespace")]
    except Exception:  # the picker is a convenience; the page still renders
        log.exception("listing namespaces for the dashboard failed")
        return []


async def _not_found(request: Request, exc: Exception) -> Response:
    view = View("Not found", message("There is no such page.", "bad"), refresh=False, status=404)
    return HTMLResponse(page(view, namespace="", namespaces=[]), 404)


async def _not_allowed(request: Request, exc: Exception) -> Response:
    return PlainTextResponse("the dashboard is read-only", 405, headers={"allow": "GET"})


class _Guard:
    """Loopback Host names only, and the safety headers on every answer."""

    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str]) -> None:
        self.app = app
        self.allowed = {h.lower() for h in allowed_hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _host(scope) not in self.allowed:
            response = PlainTextResponse("unknown host", 421)
            await response(scope, receive, send)
            return

        async def send_with_headers(event: Message) -> None:
            if event["type"] == "http.response.start":
                headers = list(event.get("headers") or [])
                present = {k.lower() for k, _ in headers}
                for key, value in SECURITY_HEADERS.items():
                    if key.encode() not in present:
                        headers.append((key.encode(), value.encode()))
                event = {**event, "headers": headers}
            await send(event)

        await self.app(scope, receive, send_with_headers)


def _host(scope: Scope) -> str:
    for key, value in scope.get("headers") or []:
        if key == b"host":
            host = value.decode("latin-1").lower()
            if host.startswith("["):
                return host.split("]", 1)[0] + "]"
            return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    return ""
