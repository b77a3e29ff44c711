"""Binding a pod to a node: `pods/NAME/binding` and the legacy `bindings` resource.

Both take a `v1` Binding (`metadata.name` names the pod, `target` the node)
and do what upstream's `BindingREST` does, in the same order:

1. the Binding's namespace must be the request's; for `pods/NAME/binding`
   its name must be NAME ("name in URL does not match name in Binding
   object"); `bindings` takes the pod's name from the Binding;
2. the mutating webhooks, then `ValidatePodBinding` (target.kind is `Node`
   or empty, target.name is set), then the validating webhooks;
3. one write of the pod: its `metadata.uid` and `resourceVersion`, when the
   Binding carries them, are preconditions; a pod being deleted, already on
   a node, or still held by scheduling gates is refused with a 409 on
   `pods/binding`; otherwise `spec.nodeName` is set, the Binding's
   annotations merged into the pod's, and `PodScheduled` made True.

Upstream returns `ValidatePodBinding`'s errors as plain errors, which its
handler renders as a 500 with no reason: so does this module. The answer to
a successful bind is a `Status` of Success with code 201.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from kubelite.api.fielderrors import FieldError, aggregate_message, not_supported, required
from kubelite.apiserver import errors
from kubelite.apiserver import meta as m
from kubelite.apiserver.webhook_rules import Request as WebhookRequest

if TYPE_CHECKING:
    from kubelite.api.registry import ResourceType
    from kubelite.apiserver.http import ApiApp, Request, Response
    from kubelite.apiserver.paths import ResourcePath

BINDING_KIND = ("", "v1", "Binding")


class UnknownError(errors.ApiError):
    """A plain (non-Status) error from upstream's REST layer: 500, no reason."""

    code = 500
    reason = ""

    def status(self) -> dict[str, Any]:
        body = super().status()
        body.pop("reason", None)
        return body


async def handle(app: ApiApp, req: Request, target: ResourcePath) -> Response:
    """POST `pods/NAME/binding` (target.subresource) or `bindings` (target.resource)."""
    from kubelite.apiserver.http import dry_run, json_response

    legacy = target.subresource != "binding"
    if legacy and (target.name or target.namespace is None):
        raise errors.NotFound()  # only the namespaced collection is served
    if req.method != "POST":
        raise errors.MethodNotAllowed(
            "the server does not allow this method on the requested resource"
        )
    binding_rt = app.registry.by_kind("v1", "Binding")
    assert binding_rt is not None
    binding = await app.read_object(req, binding_rt)
    ns = target.namespace
    md = binding.get("metadata") or {}
    if md.get("namespace") and md["namespace"] != ns:
        raise errors.BadRequest(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    name = str(md.get("name") or "")
    if target.subresource == "binding" and (target.name or "") != name:
        raise errors.BadRequest("name in URL does not match name in Binding object")
    admitted = await app.storage.webhooks.admit(
        WebhookRequest(
            "CREATE",
            target.resource,
            "" if legacy else "binding",
            ns,
            name,
            binding,
            None,
            kind=BINDING_KIND,
        ),
        dry_run=dry_run(req),
        validate=_validate,
    )
    binding = dict(admitted if admitted is not None else binding)
    md = binding.get("metadata") or {}
    bind_pod(
        app.storage,
        ns,
        name,
        str((binding.get("target") or {}).get("name") or ""),
        annotations=md.get("annotations") or {},
        uid=md.get("uid") or "",
        resource_version=str(md.get("resourceVersion") or ""),
        dry_run=dry_run(req),
    )
    return json_response(
        {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201},
        201,
    )


def validation_errors(binding: Mapping[str, Any] | None) -> list[FieldError]:
    """Upstream's `ValidatePodBinding`."""
    target = (binding or {}).get("target") or {}
    errs: list[FieldError] = []
    kind = target.get("kind") or ""
    if kind and kind != "Node":
        errs.append(not_supported("target.kind", kind, ["Node", "<empty>"]))
    if not target.get("name"):
        errs.append(required("target.name"))
    return errs


def _validate(binding: Mapping[str, Any] | None) -> None:
    errs = validation_errors(binding)
    if errs:
        raise UnknownError(aggregate_message(errs))


def _check_name(name: str) -> None:
    """What the store's key function refuses (`NamespaceKeyFunc`)."""
    if not name:
        raise errors.BadRequest("Name parameter required.")
    problems = [f"may not be '{name}'"] if name in (".", "..") else []
    problems += [f"may not contain '{c}'" for c in "/%" if c in name]
    if problems:
        raise errors.BadRequest(f'Name parameter invalid: "{name}": {";".join(problems)}')


def bind_pod(
    storage: Any,
    ns: str | None,
    name: str,
    node: str,
    *,
    annotations: Mapping[str, str] | None = None,
    uid: str = "",
    resource_version: str = "",
    dry_run: bool = False,
) -> Any:
    """Assign a pod to a node once, with PodScheduled=True, in one write (upstream's assignPod).

    Binding is the one writer allowed to set `spec.nodeName`, so it writes the
    store directly rather than through the update path's immutability checks.
    Returns the store's KV of the bound pod (the current one on a dry run).
    """
    from kubelite.store import Conflict as StoreConflict

    rt: ResourceType = storage.registry.by_kind("v1", "Pod")
    _check_name(name)
    current = storage.get(rt, ns, name)
    pod = orjson.loads(current.value)
    md = pod["metadata"]
    _check_preconditions(ns, name, md, uid, resource_version)
    spec = pod.setdefault("spec", {})
    if md.get("deletionTimestamp"):
        raise _conflict(name, f"pod {name} is being deleted, cannot be assigned to a host")
    if spec.get("nodeName"):
        raise _conflict(name, f'pod {name} is already assigned to node "{spec["nodeName"]}"')
    if spec.get("schedulingGates"):
        raise _conflict(name, f"pod {name} has non-empty .spec.schedulingGates")
    spec["nodeName"] = node
    if annotations:
        md["annotations"] = {**(md.get("annotations") or {}), **annotations}
    _set_scheduled(pod.setdefault("status", {}), m.now_rfc3339(storage.clock()))
    if dry_run:
        return current
    try:
        return storage.store.update(current.key, pod, expected_revision=current.revision)
    except StoreConflict:
        raise errors.Conflict.stale(rt.plural, rt.group, name) from None


def _set_scheduled(status: dict[str, Any], now: str) -> None:
    """`UpdatePodCondition` with PodScheduled=True: the transition time moves only on a change."""
    conditions = list(status.get("conditions") or [])
    for i, cond in enumerate(conditions):
        if cond.get("type") == "PodScheduled":
            changed = cond.get("status") != "True"
            conditions[i] = {
                "type": "PodScheduled",
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": now if changed else cond.get("lastTransitionTime"),
            }
            break
    else:
        conditions.append(
            {
                "type": "PodScheduled",
                "status": "True",
                "lastProbeTime": None,
                "lastTransitionTime": now,
            }
        )
    status["conditions"] = conditions


def _conflict(name: str, why: str) -> errors.Conflict:
    return errors.Conflict(
        f'Operation cannot be fulfilled on pods/binding "{name}": {why}',
        details={"name": name, "kind": "pods/binding"},
    )


def _check_preconditions(
    ns: str | None, name: str, md: Mapping[str, Any], uid: str, resource_version: str
) -> None:
    """The Binding's uid and resourceVersion as storage preconditions on the pod."""
    wrong = ""
    if uid and uid != md.get("uid"):
        wrong = f"UID in precondition: {uid}, UID in object meta: {md.get('uid', '')}"
    elif resource_version and resource_version != md.get("resourceVersion"):
        wrong = (
            f"ResourceVersion in precondition: {resource_version}, "
            f"ResourceVersion in object meta: {md.get('resourceVersion', '')}"
        )
    if wrong:
        raise errors.Conflict(
            f'Operation cannot be fulfilled on pods "{name}": StorageError: invalid object, '
            f"Code: 4, Key: /registry/pods/{ns}/{name}, ResourceVersion: 0, "
            f"AdditionalErrorMsg: Precondition failed: {wrong}",
            details={"name": name, "kind": "pods"},
        )
