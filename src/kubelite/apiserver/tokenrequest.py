"""`POST .../serviceaccounts/NAME/token`: the TokenRequest subresource.

As upstream's TokenREST: the service account must exist; `expirationSeconds`
defaults to an hour and may not be under 10 minutes; `audiences` default to
the API's; a `boundObjectRef` (Pod, Secret or Node) must exist, carry the
uid it claims, and a pod must run as this service account. The answer is
the request with `status.token` and `status.expirationTimestamp` filled in.
`kubectl create token` and the node agent's projected token volumes use it.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any

from kubelite.api.fielderrors import invalid
from kubelite.apiserver import bodies, errors
from kubelite.apiserver import meta as m
from kubelite.apiserver.serviceaccount_tokens import ServiceAccountTokens

if TYPE_CHECKING:
    from kubelite.apiserver.http import ApiApp, Request, Response
    from kubelite.apiserver.paths import ResourcePath
    from kubelite.apiserver.rest import RestStorage
    from kubelite.store.model import KV

Obj = dict[str, Any]
API_VERSION = "authentication.k8s.io/v1"
GROUP = "authentication.k8s.io"
DEFAULT_EXPIRATION_S = 3600
MIN_EXPIRATION_S = 600
MAX_EXPIRATION_S = 1 << 32
_BINDABLE = ("Pod", "Secret", "Node")


async def handle(app: ApiApp, req: Request, target: ResourcePath) -> Response:
    from kubelite.apiserver.http import json_response

    if req.method != "POST":
        raise errors.MethodNotAllowed(
            "the server does not allow this method on the requested resource"
        )
    body = bodies.decode_object(
        await bodies.read_body(req.receive), req.headers.get("content-type")
    )
    tokens = getattr(app, "tokens", None)
    if tokens is None:
        raise errors.ServiceUnavailable("service account token issuing is not configured")
    result = create_token(app.storage, tokens, target.namespace or "", target.name or "", body)
    return json_response(result, 201)


def create_token(
    storage: RestStorage, tokens: ServiceAccountTokens, namespace: str, name: str, request: Obj
) -> Obj:
    """The TokenRequest `request` for service account NAMESPACE/NAME, answered."""
    sa_rt = storage.registry.by_kind("v1", "ServiceAccount")
    assert sa_rt is not None
    sa = storage.get(sa_rt, namespace, name).obj()
    spec = dict(request.get("spec") or {})
    seconds = _expiration(spec, name)
    audiences = [str(a) for a in spec.get("audiences") or []] or list(tokens.audiences)
    ref = spec.get("boundObjectRef") or None
    bound = _bound_objects(storage, namespace, name, ref) if ref else {}
    issued = tokens.issue(sa, audiences=audiences, expiration_s=seconds, bound=bound)
    spec.update({"audiences": audiences, "expirationSeconds": seconds})
    if ref:
        spec["boundObjectRef"] = ref
    else:
        spec.pop("boundObjectRef", None)  # omitempty, as upstream's encoding
    return {
        "kind": "TokenRequest",
        "apiVersion": API_VERSION,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "creationTimestamp": m.now_rfc3339(storage.clock()),
        },
        "spec": spec,
        "status": {
            "token": issued.token,
            "expirationTimestamp": _rfc3339(math.floor(issued.expires)),
        },
    }


@functools.lru_cache(maxsize=8)
def _rfc3339(second: int) -> str:
    """An expiry stamp: `now_rfc3339` keeps one second only, and that one is for writes."""
    return m.now_rfc3339(second)


def _expiration(spec: Obj, name: str) -> int:
    value = spec.get("expirationSeconds")
    seconds = DEFAULT_EXPIRATION_S if value is None else value
    problems = []
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        problems.append(invalid("spec.expirationSeconds", seconds, "must be an integer"))
    elif seconds < MIN_EXPIRATION_S:
        problems.append(
            invalid(
                "spec.expirationSeconds", seconds, "may not specify a duration less than 10 minutes"
            )
        )
    elif seconds > MAX_EXPIRATION_S:
        problems.append(
            invalid(
                "spec.expirationSeconds",
                seconds,
                "may not specify a duration larger than 2^32 seconds",
            )
        )
    if problems:
        raise errors.Invalid.fields("TokenRequest", GROUP, name, problems)
    return int(seconds)


def _bound_objects(storage: RestStorage, namespace: str, sa_name: str, ref: Obj) -> dict[str, Obj]:
    """The object the token is bound to (and, for a scheduled pod, its node), checked."""
    api_version, kind = str(ref.get("apiVersion") or ""), str(ref.get("kind") or "")
    group = api_version.rpartition("/")[0] if "/" in api_version else ""
    if group or kind not in _BINDABLE:
        version = api_version.rpartition("/")[2]
        raise errors.BadRequest(
            f"cannot bind token to object of type {group}/{version}, Kind={kind}"
        )
    rt = storage.registry.by_kind("v1", kind)
    assert rt is not None
    obj = storage.get(rt, None if kind == "Node" else namespace, str(ref.get("name") or "")).obj()
    if kind == "Pod":
        running_as = (obj.get("spec") or {}).get("serviceAccountName") or ""
        if running_as != sa_name:
            raise errors.BadRequest(
                f'cannot bind token for serviceaccount "{sa_name}" to pod running with '
                f'serviceaccount "{running_as}"'
            )
    uid = obj["metadata"].get("uid", "")
    if ref.get("uid") and ref["uid"] != uid:
        raise errors.Conflict(
            f'Operation cannot be fulfilled on {kind} "{ref.get("name")}": the UID in the bound '
            f"object reference ({ref['uid']}) does not match the UID in record. "
            "The object might have been deleted and then recreated"
        )
    bound = {kind.lower(): obj}
    node_name = (obj.get("spec") or {}).get("nodeName") if kind == "Pod" else None
    if node_name:
        node_rt = storage.registry.by_kind("v1", "Node")
        kv = storage.store.get(node_rt.key(None, node_name)) if node_rt is not None else None
        if kv is not None:
            bound["node"] = _node_ref(kv)
    return bound


_last_node: list[Any] = [None, None]  # the stored node last asked for, and its _node_ref


def _node_ref(kv: KV) -> Obj:
    """The node's name and uid (all a token names of it), parsed again only when it changed."""
    if _last_node[0] is not kv:  # a write stores a new KV, so identity means same content
        md = kv.obj()["metadata"]
        _last_node[:] = [kv, {"metadata": {"name": md["name"], "uid": md.get("uid", "")}}]
    ref: Obj = _last_node[1]
    return ref
