"""Who is asking, and may they: the review APIs kubectl and tools call before acting.

kubelite authorizes every authenticated user for everything (no RBAC), as
kube-apiserver does with `--authorization-mode=AlwaysAllow`, and says so when
asked: SelfSubjectAccessReview and (Local)SubjectAccessReview answer
`allowed: true` (`kubectl auth can-i`), and SelfSubjectRulesReview lists the
one rule that allows everything (`kubectl auth can-i --list`).
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

from kubelite.api.fielderrors import invalid
from kubelite.api.registry import ResourceType
from kubelite.apiserver import bodies, errors
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
    obj = bodies.decode_object(await bodies.read_body(req.receive), req.headers.get("content-type"))
    if obj.get("kind") not in (None, rt.kind) or obj.get("apiVersion") not in (
        None,
        rt.api_version,
    ):
        raise errors.BadRequest(
            f"the body of the request was in an unknown format - expected {rt.api_version}, "
            f"Kind={rt.kind}, got {obj.get('apiVersion')}, Kind={obj.get('kind')}"
        )
    spec = obj.get("spec") or {}
    if rt.kind in ("SelfSubjectAccessReview", "SubjectAccessReview", "LocalSubjectAccessReview"):
        if not (spec.get("resourceAttributes") or spec.get("nonResourceAttributes")):
            message = "exactly one of nonResourceAttributes or resourceAttributes must be specified"
            raise errors.Invalid.fields(
                rt.kind, rt.group, "", [invalid("spec.resourceAttributes", "null", message)]
            )
        status: dict[str, Any] = {"allowed": True}
    elif rt.kind == "SelfSubjectRulesReview":
        status = {
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": False,
        }
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
