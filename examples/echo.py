"""An echo service: who answered, and what deadline it was given.

Used to watch load balancing, discovery and deadline propagation from outside.
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kubelite import mesh


async def whoami(request: Request) -> JSONResponse:
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
    code = int(request.path_params["code"])
    return JSONResponse({"status": code}, status_code=code)


app = Starlette(routes=[Route("/", whoami), Route("/status/{code:int}", status)])

if __name__ == "__main__":
    mesh.serve(app)
