"""Subresources: status, ephemeralcontainers, scale, binding, log, eviction, and
namespace finalize.

Each maps onto the parent object: `/status` writes only status,
`pods/ephemeralcontainers` only `spec.ephemeralContainers`, `/scale`
reads and writes `spec.replicas` through an `autoscaling/v1` Scale,
`/binding` assigns a pod to a node once, and `/log` streams from whichever
node agent runs the pod.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from kubelite.api.registry import ResourceType
from kubelite.apiserver import bodies, errors, eviction, exec_stream, portforward, request_context
from kubelite.apiserver import meta as m
from kubelite.apiserver.webhook_rules import Request as WebhookRequest

if TYPE_CHECKING:
    from kubelite.apiserver.http import ApiApp, Request, Response
    from kubelite.apiserver.paths import ResourcePath


SCALE_KIND = ("autoscaling", "v1", "Scale")


class LogSource(Protocol):
    """Where `pods/log` reads from: the node agent that runs the pod."""

    def stream(self, pod: dict[str, Any], options: dict[str, str]) -> AsyncIterator[bytes]:
        """Raise ApiError (e.g. BadRequest for a waiting container) or yield log bytes."""
        ...


async def handle(
    app: ApiApp, req: Request, target: ResourcePath
) -> Response | AsyncIterator[bytes]:
    from kubelite.apiserver.http import Response

    rt, ns, name, sub = target.resource, target.namespace, target.name or "", target.subresource
    method = req.method
    if sub in ("status", "ephemeralcontainers"):
        # Both read and write the whole object; the storage layer keeps all but
        # the part the subresource owns (see `rest._merge_for_subresource`).
        if method == "GET":
            return app.render_one(req, rt, app.storage.get(rt, ns, name).value)
        if method == "PUT":
            obj = await app.read_object(req, rt)
            kv = await app.storage.aupdate(rt, ns, name, obj, subresource=sub, dry_run=_dry(req))
            return Response(app.served(rt, kv.value))
        if method == "PATCH":
            return await app.patch(req, rt, ns, name, sub)
    elif sub == "scale":
        return await _scale(app, req, rt, ns, name)
    elif sub == "binding" and method == "POST":
        return await _bind(app, req, rt, ns, name)
    elif sub == "log" and method == "GET":
        return _log(app, req, rt, ns, name)
    elif sub == "exec" and method in ("GET", "POST"):
        # Checked as the WebSocket upgrade is; with nothing wrong, a plain request is refused.
        exec_stream.parse(app, target, req.scope.get("query_string", b""))
        raise errors.BadRequest("Upgrade request required")
    elif sub == "attach" and method in ("GET", "POST"):
        from kubelite.apiserver import attach_stream

        attach_stream.parse(app, target, req.scope.get("query_string", b""))
        raise errors.BadRequest("Upgrade request required")
    elif sub == "portforward" and method in ("GET", "POST"):
        portforward.check(app, target, req.scope.get("query_string", b""))
        raise errors.BadRequest("Upgrade request required")
    elif sub == "eviction" and method == "POST":
        return await eviction.handle(app.storage, req, ns, name)
    elif sub == "finalize" and method == "PUT":
        obj = await app.read_object(req, rt)
        finalizers = list((obj.get("spec") or {}).get("finalizers") or [])
        return Response(app.storage.finalize_namespace(name, finalizers).value)
    raise errors.MethodNotAllowed("the server does not allow this method on the requested resource")


# ---- scale -------------------------------------------------------------------


def scale_of(obj: dict[str, Any]) -> dict[str, Any]:
    md = obj["metadata"]
    selector = (obj.get("spec") or {}).get("selector") or {}
    if obj.get("kind") == "ReplicationController":  # a plain map, as labels.SelectorFromSet
        selector = {"matchLabels": selector}
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: md[k]
            for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            if k in md
        },
        "spec": {"replicas": int((obj.get("spec") or {}).get("replicas", 0))},
        "status": {
            "replicas": int((obj.get("status") or {}).get("replicas", 0)),
            "selector": selector_string(selector),
        },
    }


def selector_string(selector: dict[str, Any]) -> str:
    """A LabelSelector in its string form, as `metav1.FormatLabelSelector` writes it."""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In":
            parts.append(f"{key} in ({','.join(sorted(values))})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({','.join(sorted(values))})")
        elif op == "Exists":
            parts.append(str(key))
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


async def _scale(
    app: ApiApp, req: Request, rt: ResourceType, ns: str | None, name: str
) -> Response:
    from kubelite.api.patch import json_merge_patch, json_patch, strategic_merge_patch
    from kubelite.apiserver.http import json_response

    if rt.custom is not None:
        from kubelite.apiserver import customresources

        def scale_view(obj: dict[str, Any]) -> dict[str, Any]:
            return customresources.scale_of(rt, obj)
    else:
        scale_view = scale_of
    if req.method == "GET":
        return json_response(scale_view(app.storage.get(rt, ns, name).obj()))
    body = await bodies.read_body(req.receive)
    current = scale_view(app.storage.get(rt, ns, name).obj())
    if req.method == "PUT":
        wanted = bodies.decode_object(body, req.headers.get("content-type"))
    elif req.method == "PATCH":
        kind = bodies.media_type(req.headers.get("content-type"))
        patch = bodies.parse_json(body)
        if kind == bodies.JSON_PATCH:
            wanted = json_patch(current, patch)
        elif kind == bodies.STRATEGIC_PATCH and rt.custom is None:
            wanted = strategic_merge_patch(current, patch, kind="Scale")
        else:
            wanted = json_merge_patch(current, patch)
    else:
        raise errors.MethodNotAllowed(
            "the server does not allow this method on the requested resource"
        )
    wanted.setdefault("apiVersion", "autoscaling/v1")
    wanted.setdefault("kind", "Scale")
    # Admission sees the Scale, new and old, as upstream's scale REST gives it:
    # mutating webhooks may change it, then it is validated, then the validating
    # webhooks and policies judge it.
    admitted = await app.storage.webhooks.admit(
        WebhookRequest("UPDATE", rt, "scale", ns, name, wanted, current, kind=SCALE_KIND),
        dry_run=_dry(req),
        validate=lambda scale: _scale_replicas(scale, name),
    )
    wanted = admitted if admitted is not None else wanted
    replicas = _scale_replicas(wanted, name)
    rv = (wanted.get("metadata") or {}).get("resourceVersion")

    def set_replicas(obj: dict[str, Any]) -> dict[str, Any]:
        if rt.custom is not None:
            from kubelite.apiserver import customresources

            customresources.set_replicas(rt, obj, replicas)
        else:
            obj.setdefault("spec", {})["replicas"] = replicas
        if rv and req.method == "PUT":
            obj["metadata"]["resourceVersion"] = rv
        else:
            obj["metadata"].pop("resourceVersion", None)
        return obj

    request_context.set_entry_subresource("scale")
    kv = app.storage.replace_with(rt, ns, name, set_replicas, dry_run=_dry(req))
    return json_response(scale_view(kv.obj()))


def _scale_replicas(scale: dict[str, Any] | None, name: str) -> int:
    """The Scale's `spec.replicas`, or the Invalid error upstream's Scale validation gives."""
    replicas = ((scale or {}).get("spec") or {}).get("replicas")
    if not isinstance(replicas, int) or replicas < 0:
        from kubelite.api.fielderrors import invalid

        raise errors.Invalid.fields(
            "Scale",
            "autoscaling",
            name,
            [invalid("spec.replicas", replicas, "must be greater than or equal to 0")],
        )
    return replicas


# ---- binding -----------------------------------------------------------------


async def _bind(app: ApiApp, req: Request, rt: ResourceType, ns: str | None, name: str) -> Response:
    from kubelite.apiserver.http import json_response

    body = bodies.decode_object(
        await bodies.read_body(req.receive), req.headers.get("content-type")
    )
    target = (body.get("target") or {}).get("name")
    if not target:
        raise errors.Invalid(f'Binding "{name}" is invalid: target.name: Required value')
    bind_pod(app.storage, ns, name, target)
    return json_response(
        {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201},
        201,
    )


def bind_pod(storage: Any, ns: str | None, name: str, node: str) -> Any:
    """Assign a pod to a node once, with PodScheduled=True, in one write (upstream's assignPod).

    Binding is the one writer allowed to set `spec.nodeName`, so it writes the
    store directly rather than through the update path's immutability checks.
    """
    from kubelite.store import Conflict as StoreConflict

    rt = storage.registry.by_kind("v1", "Pod")
    now = m.now_rfc3339(storage.clock())
    current = storage.get(rt, ns, name)
    pod = orjson.loads(current.value)
    spec = pod.setdefault("spec", {})
    if pod["metadata"].get("deletionTimestamp"):
        raise errors.Conflict(f"pod {name} is being deleted, cannot be assigned to a host")
    if spec.get("nodeName"):
        raise errors.Conflict(f'pod {name} is already assigned to node "{spec["nodeName"]}"')
    spec["nodeName"] = node
    status = pod.setdefault("status", {})
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
    conditions.append(
        {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": now}
    )
    status["conditions"] = conditions
    try:
        return storage.store.update(current.key, pod, expected_revision=current.revision)
    except StoreConflict:
        raise errors.Conflict.stale(rt.plural, rt.group, name) from None


# ---- log ---------------------------------------------------------------------


def container_of(pod: dict[str, Any], name: str, requested: str | None) -> str:
    """The container a log or exec request is for: the one named, or the only one."""
    spec = pod.get("spec") or {}
    containers = [c["name"] for c in spec.get("containers") or []]
    init = [c["name"] for c in spec.get("initContainers") or []]
    ephemeral = [c["name"] for c in spec.get("ephemeralContainers") or []]
    if not requested:
        if len(containers) != 1:
            raise errors.BadRequest(
                f"a container name must be specified for pod {name}, choose one of: "
                f"[{' '.join(containers)}]"
                + (f" or one of the init containers: [{' '.join(init)}]" if init else "")
            )
        return containers[0]
    if requested not in containers + init + ephemeral:
        raise errors.BadRequest(f"container {requested} is not valid for pod {name}")
    return requested


def _log(app: ApiApp, req: Request, rt: ResourceType, ns: str | None, name: str) -> Any:
    pod = app.storage.get(rt, ns, name).obj()
    container = container_of(pod, name, req.query.get("container"))
    if app.logs is None or not (pod.get("spec") or {}).get("nodeName"):
        raise errors.BadRequest(
            f'container "{container}" in pod "{name}" is waiting to start: ContainerCreating'
        )
    options = dict(req.query)
    options["container"] = container
    return app.logs.stream(pod, options)


def _dry(req: Request) -> bool:
    return bool(req.query.get("dryRun"))
