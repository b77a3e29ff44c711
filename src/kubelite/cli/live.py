"""Live facts for `kubelite status`: readiness and nodes, asked of the API itself."""

from __future__ import annotations

import ssl
from typing import Any

import httpx

from kubelite.cli.datadir import DataDir


def live_status(data: DataDir, state: dict[str, Any]) -> dict[str, Any]:
    ctx = ssl.create_default_context(cafile=str(data.tls / "ca.crt"))
    headers = {"Authorization": f"Bearer {data.token()}"}
    out: dict[str, Any] = {}
    try:
        with httpx.Client(base_url=state["api"], verify=ctx, headers=headers, timeout=5) as http:
            out["ready"] = http.get("/readyz").text.strip() == "ok"
            nodes = http.get("/api/v1/nodes").json().get("items", [])
    except (httpx.HTTPError, ValueError):
        return {"ready": False}
    out["nodes"] = [_node(n) for n in nodes]
    return out


def _node(node: dict[str, Any]) -> dict[str, Any]:
    ready = next(
        (c for c in (node.get("status") or {}).get("conditions") or [] if c.get("type") == "Ready"),
        None,
    )
    return {
        "name": node["metadata"]["name"],
        "status": "Ready" if ready and ready.get("status") == "True" else "NotReady",
        "podCIDR": (node.get("spec") or {}).get("podCIDR"),
    }
