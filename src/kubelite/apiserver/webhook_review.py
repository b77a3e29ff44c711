"""The AdmissionReview a webhook receives and what its answer means.

`review_request` builds the `admission.k8s.io/v1` request body (the v1 shape
is also what v1beta1 webhooks parse, so kubelite sends v1 only and says so in
`apiVersion`). `read_response` checks the answer as kube-apiserver does
(matching uid, patch and patchType together, no patch from a validating
webhook) and returns a `Verdict`. Messages of the errors raised here become
the `failed calling webhook` text, as upstream's are.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

import orjson

from kubelite.api.patch import PatchError, json_patch
from kubelite.apiserver.webhook_rules import Request

REVIEW_API_VERSION = "admission.k8s.io/v1"

Obj = dict[str, Any]

_OPTIONS_KIND = {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions", "DELETE": "DeleteOptions"}


class BadResponse(Exception):
    """The webhook answered, but not with a usable AdmissionReview."""


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    status: Obj = field(default_factory=dict)
    patch: list[Any] | None = None
    warnings: tuple[str, ...] = ()


def operation_options(operation: str, *, dry_run: bool, extra: Obj | None = None) -> Obj | None:
    """The options object of the request (CreateOptions, UpdateOptions, DeleteOptions)."""
    kind = _OPTIONS_KIND.get(operation)
    if kind is None:
        return None
    options: Obj = {"kind": kind, "apiVersion": "meta.k8s.io/v1"}
    if dry_run:
        options["dryRun"] = ["All"]
    options.update(extra or {})
    return options


def review_request(uid: str, req: Request, *, user: Obj, dry_run: bool, options: Obj | None) -> Obj:
    rt = req.resource
    group, version, kind_name = req.kind or (rt.group, rt.version, rt.kind)
    kind = {"group": group, "version": version, "kind": kind_name}
    resource = {"group": rt.group, "version": rt.version, "resource": rt.plural}
    request: Obj = {
        "uid": uid,
        "kind": kind,
        "resource": resource,
        "requestKind": dict(kind),
        "requestResource": dict(resource),
        "name": req.name,
        "operation": req.operation,
        "userInfo": user,
        "object": req.obj,
        "oldObject": req.old,
        "dryRun": dry_run,
        "options": options,
    }
    if req.subresource:
        request["subResource"] = req.subresource
        request["requestSubResource"] = req.subresource
    if req.namespace:
        request["namespace"] = req.namespace
    return {"kind": "AdmissionReview", "apiVersion": REVIEW_API_VERSION, "request": request}


def read_response(body: bytes, uid: str, *, mutating: bool) -> Verdict:
    try:
        review = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadResponse(f"received invalid webhook response: {exc}") from None
    if not isinstance(review, dict):
        raise BadResponse("received invalid webhook response: not a JSON object")
    response = review.get("response")
    if not isinstance(response, dict):
        raise BadResponse("webhook response was absent")
    if response.get("uid") != uid:
        raise BadResponse(f'expected response.uid="{uid}", got "{response.get("uid", "")}"')
    gvk = (review.get("apiVersion"), review.get("kind"))
    if gvk != (REVIEW_API_VERSION, "AdmissionReview"):
        got = f"{gvk[0] or ''}, Kind={gvk[1] or ''}"
        raise BadResponse(
            f"expected webhook response of admission.k8s.io/v1, Kind=AdmissionReview, got {got}"
        )
    patch = _patch(response, mutating=mutating)
    status = response.get("status")
    warnings = response.get("warnings")
    return Verdict(
        allowed=bool(response.get("allowed")),
        status=status if isinstance(status, dict) else {},
        patch=patch,
        warnings=tuple(str(w) for w in warnings) if isinstance(warnings, list) else (),
    )


def _patch(response: Obj, *, mutating: bool) -> list[Any] | None:
    raw, patch_type = response.get("patch"), response.get("patchType")
    if not mutating:
        if raw:
            raise BadResponse("validating webhook may not return response.patch")
        if patch_type is not None:
            raise BadResponse("validating webhook may not return response.patchType")
        return None
    if raw and patch_type is None:
        raise BadResponse("webhook returned response.patch but not response.patchType")
    if not raw and patch_type is not None:
        raise BadResponse("webhook returned response.patchType but not response.patch")
    if not raw:
        return None
    if patch_type != "JSONPatch":
        raise BadResponse(f'unsupported patch type "{patch_type}"')
    try:
        ops = orjson.loads(base64.b64decode(str(raw), validate=True))
    except (binascii.Error, ValueError) as exc:
        raise BadResponse(f"received invalid webhook response: {exc}") from None
    if not isinstance(ops, list):
        raise BadResponse("received invalid webhook response: patch is not a JSON array")
    return ops


def apply_patch(obj: Obj, ops: list[Any]) -> Obj:
    """Apply a webhook's JSONPatch to a copy; `PatchError` when it does not apply."""
    copy = orjson.loads(orjson.dumps(obj))
    patched = json_patch(copy, ops)
    if not isinstance(patched, dict):
        raise PatchError("the patched object is not a JSON object")
    return patched
