"""frontend: the shop's entry point; calls orders through the mesh."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kubelite import mesh

orders = mesh.http("orders")


async def checkout(request: Request) -> JSONResponse:
    placed = await orders.get("/orders")
    return JSONResponse(
        {"service": "frontend", "orders": placed.json()}, status_code=placed.status_code
    )


app = Starlette(routes=[Route("/checkout", checkout)])

if __name__ == "__main__":
    mesh.serve(app)
