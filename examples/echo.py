"""An echo service: who answered, and what deadline it was given.

Used to watch load balancing, discovery, deadline propagation, graceful drain
and circuit breaking from outside:

- `GET /`: who answered (`POD_NAME`, `POD_IP`) and the deadline it was given
  (`?sleep_ms=N` answers N ms later);
- `GET /status/{code}`: answers with that status (failure injection);
- `GET /stats`: how many requests this process has served (not counting /stats);
- `GET /call/{service}/{path}`: calls `http://{service}/{path}` through the mesh
  and reports the outcome, so the echo can play the caller whose breaker opens.
  `MESH_RESILIENCY` names a ConfigMap with a Resiliency spec for those calls.
"""

from __future__ import annotations

import asyncio
import os

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kubelite import mesh

_served = {"requests": 0}
_clients: dict[str, httpx.AsyncClient] = {}


def _count() -> None:
    _served["requests"] += 1


async def whoami(request: Request) -> JSONResponse:
    _count()
    pause_ms = int(request.query_params.get("sleep_ms", "0"))
    if pause_ms > 0:  # a slow request: in flight when a rollout stops this pod
        await asyncio.sleep(pause_ms / 1000)
    deadline = mesh.current_deadline.get()
    return JSONResponse(
        {
            "pod": os.environ.get("POD_NAME", ""),
            "ip": os.environ.get("POD_IP", "127.0.0.1"),
            "port": int(os.environ.get("PORT", "8080")),
            "deadline_ms": None if deadline is None else int(deadline.remaining() * 1000),
        }
    )


async def status(request: Request) -> JSONResponse:
    _count()
    code = int(request.path_params["code"])
    return JSONResponse({"status": code}, status_code=code)


async def stats(request: Request) -> JSONResponse:
    return JSONResponse({"served": _served["requests"]})


def _client(service: str) -> httpx.AsyncClient:
    client = _clients.get(service)
    if client is None:
        client = _clients[service] = mesh.http(
            service, resiliency=os.environ.get("MESH_RESILIENCY") or None
        )
    return client


async def call(request: Request) -> JSONResponse:
    """One call through the mesh; a refusal is an answer here, named by its type."""
    _count()
    service, path = request.path_params["service"], request.path_params["path"]
    try:
        reply = await _client(service).get(f"/{path}")
    except mesh.MeshError as exc:
        return JSONResponse({"error": type(exc).__name__, "message": str(exc)}, status_code=503)
    return JSONResponse({"status": reply.status_code}, status_code=reply.status_code)


app = Starlette(
    routes=[
        Route("/", whoami),
        Route("/status/{code:int}", status),
        Route("/stats", stats),
        Route("/call/{service}/{path:path}", call),
    ]
)

if __name__ == "__main__":
    mesh.serve(app)
