"""Subresources: status, ephemeralcontainers, scale, binding, log, eviction, and
namespace finalize.

Each maps onto the parent object: `/status` writes only status,
`pods/ephemeralcontainers` only `spec.ephemeralContainers`, `/scale`
reads and writes `spec.replicas` through an `autoscaling/v1` Scale,
`/binding` assigns a pod to a node once (see `binding`), and `/log` streams from whichever
node agent runs the pod.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, Protocol

from kubelite.api.registry import ResourceType
from kubelite.apiserver import (
    binding,
    bodies,
    csr_signing,
    errors,
    eviction,
    exec_stream,
    log_options,
    portforward,
    request_context,
)
from kubelite.apiserver.binding import bind_pod as bind_pod  # re-exported for the clients
from kubelite.apiserver.rest import check_put_target
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
    if sub in ("status", "ephemeralcontainers", "approval"):
        # All read and write the whole object; the storage layer keeps all but
        # the part the subresource owns (see `rest._merge_for_subresource`).
        if method == "GET":
            return app.render_one(req, rt, app.storage.get(rt, ns, name).value)
        if method == "PUT":
            obj = await app.read_object(req, rt)
            kv = await app.storage.aupdate(rt, ns, name, obj, subresource=sub, dry_run=_dry(req))
            if sub == "approval" and not _dry(req):
                await csr_signing.after_approval(app, rt, ns, name)
            return Response(app.served(rt, kv.value))
        if method == "PATCH":
            response = await app.patch(req, rt, ns, name, sub)
            if sub == "approval" and not _dry(req):
                await csr_signing.after_approval(app, rt, ns, name)
            return response
    elif sub == "scale":
        return await _scale(app, req, rt, ns, name)
    elif sub == "binding":
        return await binding.handle(app, req, target)
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
    from kubelite.apiserver.tables import to_table

    if rt.custom is not None:
        from kubelite.apiserver import customresources

        def scale_view(obj: dict[str, Any]) -> dict[str, Any]:
            return customresources.scale_of(rt, obj)
    else:
        scale_view = scale_of
    if req.method == "GET":
        scale = scale_view(app.storage.get(rt, ns, name).obj())
        if req.wants_table and rt.custom is None:
            include = req.query.get("includeObject", "Metadata")
            return json_response(to_table("Scale", [scale], include_object=include))
        return json_response(scale)
    body = await bodies.read_body(req.receive)
    current = scale_view(app.storage.get(rt, ns, name).obj())
    if req.method == "PUT":
        wanted = bodies.decode_object(body, req.headers.get("content-type"))
        api_version = wanted.get("apiVersion") or "autoscaling/v1"
        if api_version != "autoscaling/v1":
            raise errors.BadRequest(
                f"the API version in the data ({api_version}) does not match the expected "
                "API version (autoscaling/v1)"
            )
        check_put_target(wanted.get("metadata") or {}, name, ns)
    elif req.method == "PATCH":
        kind = bodies.media_type(req.headers.get("content-type"))
        if kind == bodies.APPLY_PATCH and not body.lstrip().startswith(b"{"):
            patch = bodies.parse_yaml(body)  # an apply configuration is YAML
        else:
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
    if not (pod.get("spec") or {}).get("nodeName"):
        # Upstream's LogLocation gives no location for a pod not yet scheduled,
        # and its stream then answers 204 with no body: `kubectl logs` prints nothing.
        from kubelite.apiserver.http import Response

        return Response(b"", status=204)
    if app.logs is None:
        raise errors.BadRequest(
            f'container "{container}" in pod "{name}" is waiting to start: ContainerCreating'
        )
    options = log_options.parse(req.query, name)
    options["container"] = container
    return app.logs.stream(pod, options)


def _dry(req: Request) -> bool:
    return bool(req.query.get("dryRun"))
