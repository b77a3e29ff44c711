"""payments: the last hop of the shop; reports the deadline it was left with."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kubelite import mesh


async def charge(request: Request) -> JSONResponse:
    deadline = mesh.current_deadline.get()
    left = None if deadline is None else int(deadline.remaining() * 1000)
    return JSONResponse({"service": "payments", "charged": True, "deadline_ms": left})


app = Starlette(routes=[Route("/charge", charge)])

if __name__ == "__main__":
    mesh.serve(app)
