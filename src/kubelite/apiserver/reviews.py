"""Who is asking, and may they: the review APIs kubectl and tools call before acting.

By default kubelite authorizes every authenticated user for everything, as
kube-apiserver does with `--authorization-mode=AlwaysAllow`, and says so when
asked: SelfSubjectAccessReview and (Local)SubjectAccessReview answer
`allowed: true` (`kubectl auth can-i`), and SelfSubjectRulesReview lists the
one rule that allows everything (`kubectl auth can-i --list`). With
`--authorization-mode RBAC` they answer as upstream's RBAC authorizer decides
(`allowed`, and the grant as `reason`: `RBAC: allowed by ClusterRoleBinding
"x" of ClusterRole "y" to User "z"`), for the caller (Self...) or for the
`user`/`groups` in the spec, and SelfSubjectRulesReview lists the caller's
rules in `spec.namespace`.
SelfSubjectReview tells the caller who they are (`kubectl auth whoami`):
`system:admin` in `system:masters` for the kubeconfig's token, a service
account's user, uid, groups and extra for its token. TokenReview checks a
token for another party (auth proxies in front of a pod's metrics, webhooks,
Vault's Kubernetes auth) as upstream's TokenReview REST does: for the
audiences in `spec.audiences`, else the API server's; the token must be for
one of them, and `status.audiences` says which.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from kubelite.api.fielderrors import GoValue, invalid
from kubelite.api.registry import ResourceType
from kubelite.apiserver import errors
from kubelite.apiserver.jws import InvalidToken
from kubelite.apiserver.meta import now_rfc3339

if TYPE_CHECKING:
    from kubelite.apiserver.http import ApiApp, Request, Response
    from kubelite.apiserver.serviceaccount_tokens import ServiceAccountInfo

AUTHENTICATED = "system:authenticated"


@dataclass(frozen=True)
class User:
    username: str
    groups: tuple[str, ...] = ()
    uid: str = ""
    extra: dict[str, list[str]] = field(default_factory=dict)

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {"username": self.username}
        if self.uid:
            out["uid"] = self.uid
        out["groups"] = list(self.groups)
        if self.extra:
            out["extra"] = self.extra
        return out


ADMIN = User("system:admin", ("system:masters", AUTHENTICATED))


def service_account_user(info: ServiceAccountInfo) -> User:
    """`system:serviceaccount:NS:NAME`, its uid, groups and extra, as upstream's token
    authenticator has them (`system:authenticated` added, as the authenticator chain does)."""
    groups = ("system:serviceaccounts", f"system:serviceaccounts:{info.namespace}", AUTHENTICATED)
    return User(info.username, groups, info.uid, dict(info.extra))


async def handle(app: ApiApp, req: Request, rt: ResourceType, ns: str | None) -> Response:
    from kubelite.apiserver.http import json_response

    if req.method != "POST":
        raise errors.MethodNotAllowed(
            "the server does not allow this method on the requested resource"
        )
    obj = await app.read_object(req, rt)  # the request's options and the body's types
    if obj.get("kind") not in (None, rt.kind) or obj.get("apiVersion") not in (
        None,
        rt.api_version,
    ):
        raise errors.BadRequest(
            f"the body of the request was in an unknown format - expected {rt.api_version}, "
            f"Kind={rt.kind}, got {obj.get('apiVersion')}, Kind={obj.get('kind')}"
        )
    spec = obj.get("spec") or {}
    given_ns = (obj.get("metadata") or {}).get("namespace")
    if rt.namespaced and given_ns and given_ns != ns:
        raise errors.BadRequest(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    if rt.kind in ("SelfSubjectAccessReview", "SubjectAccessReview", "LocalSubjectAccessReview"):
        _validate_access_review(rt, spec, ns)
        status: dict[str, Any] = _access_review(app, req, rt, spec)
    elif rt.kind == "SelfSubjectRulesReview":
        if not spec.get("namespace"):
            raise errors.BadRequest("no namespace on request")
        if app.authorizer is None:
            status = {
                "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
                "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
                "incomplete": False,
            }
        else:
            status = app.authorizer.rules_review(req.user or ADMIN, str(spec["namespace"]))
    elif rt.kind == "SelfSubjectReview":
        status = {"userInfo": req.user.info() if req.user else ADMIN.info()}
    elif rt.kind == "TokenReview":
        if not spec.get("token"):
            raise errors.BadRequest("token is required for TokenReview in authentication")
        status = _review_token(app, str(spec["token"]), spec.get("audiences"))
    else:
        raise errors.NotFound("the server could not find the requested resource")
    metadata = dict(obj.get("metadata") or {})
    metadata["creationTimestamp"] = now_rfc3339(time.time())
    if rt.namespaced:
        metadata["namespace"] = ns
    body = {"kind": rt.kind, "apiVersion": rt.api_version, "metadata": metadata}
    if "spec" in obj or rt.kind != "SelfSubjectReview":
        body["spec"] = spec
    body["status"] = status
    return json_response(body, 201)


def _validate_access_review(rt: ResourceType, spec: dict[str, Any], ns: str | None) -> None:
    """Upstream's validation of the (Local)(Self)SubjectAccessReview specs."""
    problems = []
    resource, non_resource = spec.get("resourceAttributes"), spec.get("nonResourceAttributes")
    if resource is not None and non_resource is not None:
        message = "cannot be specified in combination with resourceAttributes"
        problems.append(
            invalid("spec.nonResourceAttributes", _go_non_resource(non_resource), message)
        )
    if not (resource or non_resource):
        message = "exactly one of nonResourceAttributes or resourceAttributes must be specified"
        problems.append(invalid("spec.resourceAttributes", "null", message))
    if rt.kind != "SelfSubjectAccessReview" and not (spec.get("user") or spec.get("groups")):
        message = "at least one of user or group must be specified"
        problems.append(invalid("spec.user", str(spec.get("user") or ""), message))
    if rt.kind == "LocalSubjectAccessReview":
        if resource and (resource.get("namespace") or "") != (ns or ""):
            value = str(resource.get("namespace") or "")
            message = "must match metadata.namespace"
            problems.append(invalid("spec.resourceAttributes.namespace", value, message))
        if non_resource:
            message = "disallowed on this kind of request"
            struct = _go_non_resource(non_resource)
            problems.append(invalid("spec.nonResourceAttributes", struct, message))
    if problems:
        raise errors.Invalid.fields(rt.kind, rt.group, "", problems)


def _go_non_resource(attrs: Any) -> GoValue:
    attrs = attrs if isinstance(attrs, dict) else {}
    path, verb = (orjson.dumps(str(attrs.get(k) or "")).decode() for k in ("path", "verb"))
    return GoValue(f"authorization.NonResourceAttributes{{Path:{path}, Verb:{verb}}}")


def _access_review(app: ApiApp, req: Request, rt: ResourceType, spec: dict[str, Any]) -> Any:
    """SubjectAccessReviewStatus: `allowed`, and the authorizer's `reason` if it gave one."""
    if app.authorizer is None:
        return {"allowed": True}
    from kubelite.apiserver.rbac_authorizer import Attributes

    if rt.kind == "SelfSubjectAccessReview":
        user = req.user or ADMIN
    else:
        raw = spec.get("extra")
        extra = {str(k): list(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
        groups = tuple(str(g) for g in spec.get("groups") or [])
        user = User(str(spec.get("user") or ""), groups, str(spec.get("uid") or ""), extra)
    resource = spec.get("resourceAttributes")
    if resource:
        attrs = Attributes(
            user,
            str(resource.get("verb") or ""),
            api_group=str(resource.get("group") or ""),
            api_version=str(resource.get("version") or "*"),
            resource=str(resource.get("resource") or ""),
            subresource=str(resource.get("subresource") or ""),
            namespace=str(resource.get("namespace") or ""),
            name=str(resource.get("name") or ""),
        )
    else:
        url = spec.get("nonResourceAttributes") or {}
        attrs = Attributes(user, str(url.get("verb") or ""), False, path=str(url.get("path") or ""))
    decision = app.authorizer.authorize(attrs)
    status: dict[str, Any] = {"allowed": decision.allowed}
    if decision.reason:
        status["reason"] = decision.reason
    return status


def _review_token(app: ApiApp, token: str, audiences: Any) -> dict[str, Any]:
    """TokenReviewStatus: `authenticated`, `user` and `audiences` (the requested ones the
    token is for), or only an empty `user` and the authenticators' `error`
    (`authenticated` false is left out, as Go's omitempty leaves it)."""
    requested = [str(a) for a in audiences] if isinstance(audiences, list) else []
    try:
        user, matched = app.authenticate_token(token, requested or None)
    except InvalidToken as exc:
        return {"user": {}, "error": str(exc)}
    if user is None:
        return {"user": {}, "error": "invalid bearer token"}
    out: dict[str, Any] = {"authenticated": True, "user": user.info()}
    if matched:
        out["audiences"] = list(matched)
    return out
