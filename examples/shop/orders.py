"""orders: takes an order and charges it through payments (found by the mesh)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from kubelite import mesh

payments = mesh.http("payments")


async def place(request: Request) -> JSONResponse:
    charged = await payments.get("/charge")
    return JSONResponse(
        {"service": "orders", "payments": charged.json()}, status_code=charged.status_code
    )


app = Starlette(routes=[Route("/orders", place)])

if __name__ == "__main__":
    mesh.serve(app)
