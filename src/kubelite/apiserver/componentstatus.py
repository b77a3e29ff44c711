"""`componentstatuses` (core/v1): `kubectl get cs`, computed on each request.

kube-apiserver probes the scheduler, the controller manager and each etcd
member when asked and stores nothing; here the same questions go to the
health checks the cluster registers (`healthz.Health.components`), so the
answer is the parts' real state. Only get and list are served. Every answer
carries the deprecation warning kubectl prints, as upstream's does since
v1.19.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import orjson

from kubelite.api.registry import ResourceType
from kubelite.apiserver import errors
from kubelite.apiserver.healthz import Check, Health

if TYPE_CHECKING:
    from kubelite.apiserver.http import ApiApp, Request, Response

DEPRECATION = '299 - "v1 ComponentStatus is deprecated in v1.19+"'


class _Unknown(errors.ApiError):
    """A plain error upstream: a 500 whose Status has no reason."""

    reason = ""


def component_status(name: str, check: Check) -> dict[str, Any]:
    """One ComponentStatus: Healthy `True` with message `ok`, or `Unknown` with the error."""
    reason = check()
    condition: dict[str, Any] = {"type": "Healthy", "status": "True", "message": "ok"}
    if reason is not None:
        condition = {"type": "Healthy", "status": "Unknown", "error": reason}
    return {
        "kind": "ComponentStatus",
        "apiVersion": "v1",
        "metadata": {"name": name},
        "conditions": [condition],
    }


def statuses(health: Health) -> list[dict[str, Any]]:
    return [component_status(name, check) for name, check in health.components.items()]


async def handle(app: ApiApp, req: Request, rt: ResourceType, name: str | None) -> Response:
    from kubelite.apiserver.http import Response
    from kubelite.apiserver.rest import Selectors
    from kubelite.apiserver.tables import to_table

    headers = {"warning": DEPRECATION}
    if req.method != "GET" or req.flag("watch"):
        raise errors.MethodNotAllowed(
            "the server does not allow this method on the requested resource", headers=headers
        )
    health: Health = app.health
    if name is not None:
        check = health.components.get(name)
        if check is None:
            raise _Unknown(f"Component not found: {name}", headers=headers)
        items = [component_status(name, check)]
    else:
        selectors = Selectors.parse(
            rt, req.query.get("labelSelector"), req.query.get("fieldSelector")
        )
        items = [s for s in statuses(health) if selectors.matches(s)]
    if req.wants_table:
        table = to_table(
            rt.kind, items, include_object=req.query.get("includeObject", "Metadata"), resource=rt
        )
        body: dict[str, Any] = table
    elif name is not None:
        body = items[0]
    else:
        body = {"kind": rt.list_kind, "apiVersion": "v1", "metadata": {}, "items": items}
    return Response(orjson.dumps(body), headers=headers)


__all__ = ["DEPRECATION", "component_status", "handle", "statuses"]
