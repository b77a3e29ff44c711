"""autoscaling/v1 HorizontalPodAutoscaler: the version `kubectl autoscale` creates.

HPAs are stored once, as autoscaling/v2. kubectl 1.32's `autoscale` POSTs
an autoscaling/v1 object; this converts it to v2 (targetCPUUtilizationPercentage
becomes a cpu Utilization metric), creates it through the v2 storage (so
defaults, validation and the controller are the v2 ones) and answers with
the v1 view of what was stored. Only create is served in v1: every other
verb is served by the preferred version, v2, which kubectl uses for
`get`, `describe`, `edit` and `delete`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubelite.api.registry import REGISTRY, ResourceType
from kubelite.apiserver import bodies, errors

if TYPE_CHECKING:
    from kubelite.apiserver.http import ApiApp, Request, Response

Obj = dict[str, Any]
V1 = "autoscaling/v1"
V2 = "autoscaling/v2"
KIND = "HorizontalPodAutoscaler"


def to_v2(obj: Obj) -> Obj:
    """A v1 HPA as v2: the spec fields carry over, the cpu target becomes a metric."""
    spec = dict(obj.get("spec") or {})
    target = spec.pop("targetCPUUtilizationPercentage", None)
    if target is not None:
        spec["metrics"] = [
            {
                "type": "Resource",
                "resource": {
                    "name": "cpu",
                    "target": {"type": "Utilization", "averageUtilization": target},
                },
            }
        ]
    return {**obj, "apiVersion": V2, "kind": KIND, "spec": spec, "status": {}}


def _cpu_utilization(metrics: list[Obj], *, status: bool) -> int | None:
    for metric in metrics:
        resource = metric.get("resource") or {}
        if metric.get("type") == "Resource" and resource.get("name") == "cpu":
            values = resource.get("current" if status else "target") or {}
            value = values.get("averageUtilization")
            if value is not None:
                return int(value)
    return None


def to_v1(obj: Obj) -> Obj:
    """The v1 view of a stored v2 HPA (other metrics and conditions are not shown)."""
    spec = obj.get("spec") or {}
    st = obj.get("status") or {}
    v1_spec = {k: spec[k] for k in ("scaleTargetRef", "minReplicas", "maxReplicas") if k in spec}
    target = _cpu_utilization(spec.get("metrics") or [], status=False)
    if target is not None:
        v1_spec["targetCPUUtilizationPercentage"] = target
    v1_status: Obj = {
        "currentReplicas": int(st.get("currentReplicas") or 0),
        "desiredReplicas": int(st.get("desiredReplicas") or 0),
    }
    for field in ("lastScaleTime", "observedGeneration"):
        if st.get(field) is not None:
            v1_status[field] = st[field]
    current = _cpu_utilization(st.get("currentMetrics") or [], status=True)
    if current is not None:
        v1_status["currentCPUUtilizationPercentage"] = current
    return {
        "kind": KIND,
        "apiVersion": V1,
        "metadata": obj.get("metadata") or {},
        "spec": v1_spec,
        "status": v1_status,
    }


async def handle(
    app: ApiApp, req: Request, rt: ResourceType, ns: str | None, name: str | None
) -> Response:
    from kubelite.apiserver.http import json_response

    if req.method != "POST" or name is not None:
        raise errors.MethodNotAllowed(
            "the server does not allow this method on the requested resource"
        )
    obj = bodies.decode_object(await bodies.read_body(req.receive), req.headers.get("content-type"))
    if obj.get("kind") not in (None, KIND) or obj.get("apiVersion") not in (None, V1):
        raise errors.BadRequest(
            f"the body of the request was in an unknown format - expected {V1}, "
            f"Kind={KIND}, got {obj.get('apiVersion')}, Kind={obj.get('kind')}"
        )
    v2 = REGISTRY.by_kind(V2, KIND)
    assert v2 is not None
    kv = app.storage.create(v2, ns, to_v2(obj), dry_run=bool(req.query.get("dryRun")))
    return json_response(to_v1(kv.obj()), 201)
