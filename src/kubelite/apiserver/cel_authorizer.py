"""The `authorizer` of admission expressions (ValidatingAdmissionPolicy, webhook
matchConditions): checks asked of the request's authorizer for the request's
user, as upstream's CEL authorizer library asks them. Under AlwaysAllow every
check is allowed; under RBAC, RBAC answers, with its reason."""

from __future__ import annotations

from typing import Any

from kubelite.apiserver import request_context
from kubelite.apiserver.rbac_authorizer import Attributes
from kubelite.apiserver.reviews import User

Obj = dict[str, Any]


def for_request(request: Obj) -> Any:
    """The `authorizer` variable for an AdmissionRequest-shaped `request`."""
    from kubelite.api import cel

    resource = request.get("resource") or {}
    own = {
        "group": str(resource.get("group") or ""),
        "resource": str(resource.get("resource") or ""),
        "subresource": str(request.get("subResource") or ""),
        "namespace": str(request.get("namespace") or ""),
        "name": str(request.get("name") or ""),
    }
    authorize = request_context.authorizer()
    if authorize is None:
        return cel.Authorizer(None, own)
    info = request_context.user_info()
    caller = User(
        str(info.get("username") or ""),
        tuple(info.get("groups") or ()),
        str(info.get("uid") or ""),
        dict(info.get("extra") or {}),
    )

    def check(attrs: Obj) -> tuple[bool, str]:
        user = caller
        if "serviceAccount" in attrs:
            ns, name = attrs["serviceAccount"]
            groups = (
                "system:serviceaccounts",
                f"system:serviceaccounts:{ns}",
                "system:authenticated",
            )
            user = User(f"system:serviceaccount:{ns}:{name}", groups)
        verb = str(attrs.get("verb") or "")
        if "path" in attrs:
            asked = Attributes(user, verb, resource_request=False, path=str(attrs["path"]))
        else:
            asked = Attributes(
                user,
                verb,
                api_group=str(attrs.get("group") or ""),
                resource=str(attrs.get("resource") or ""),
                subresource=str(attrs.get("subresource") or ""),
                namespace=str(attrs.get("namespace") or ""),
                name=str(attrs.get("name") or ""),
            )
        decision = authorize(asked)
        return bool(decision.allowed), str(decision.reason or "")

    return cel.Authorizer(check, own)
