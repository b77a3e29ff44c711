"""What a request asks for, in authorization's terms: upstream's RequestInfoFactory.

An authorizer does not see URLs and HTTP methods but attributes: a verb
(`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`,
`deletecollection`, or the lower-cased method for a non-resource URL), the API
group, resource, subresource, namespace and name. kube-apiserver derives them
from the path alone, before routing, so an unknown resource is still a
resource request and a denied user sees 403, not 404; this module does the
same, rule for rule:

- `/api/v1/...` and `/apis/GROUP/VERSION/...` with at least one segment after
  the version are resource requests; everything else (`/api`, `/apis/apps/v1`,
  `/healthz`, `/openapi/v2`) is a non-resource URL.
- `/watch/` and `/proxy/` after the version are verbs in the path (the
  deprecated forms); `proxy` takes no subresource.
- `namespaces/NS/REST` addresses REST in NS unless REST is a namespace
  subresource (`status`, `finalize`); a namespace itself is in its own
  namespace (`GET /api/v1/namespaces/ns1` is `get namespaces ns1` in `ns1`).
- A GET without a name is `list`, or `watch` when `watch` is any value but
  `0`/`false`; a list or watch whose field selector pins `metadata.name`
  names that object (so `resourceNames` rules apply to `kubectl get pod x -w`).
- A DELETE without a name is `deletecollection`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

API_PREFIXES = frozenset({"api", "apis"})
GROUPLESS_PREFIXES = frozenset({"api"})
SPECIAL_VERBS = frozenset({"proxy", "watch"})
NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})
METHOD_VERBS = {
    "POST": "create",
    "GET": "get",
    "HEAD": "get",
    "PUT": "update",
    "PATCH": "patch",
    "DELETE": "delete",
}


@dataclass(frozen=True, slots=True)
class RequestInfo:
    resource_request: bool
    path: str
    verb: str
    api_group: str = ""
    api_version: str = ""
    namespace: str = ""
    resource: str = ""
    subresource: str = ""
    name: str = ""


def request_info(method: str, path: str, query: Mapping[str, str]) -> RequestInfo:
    """The attributes of `method path?query` (query: first value of each parameter)."""
    parts = [p for p in path.strip("/").split("/")] if path.strip("/") else []
    plain = RequestInfo(False, path, method.lower())
    if len(parts) < 3 or parts[0] not in API_PREFIXES:
        return plain
    prefix, parts = parts[0], parts[1:]
    group = ""
    if prefix not in GROUPLESS_PREFIXES:
        if len(parts) < 3:
            return plain
        group, parts = parts[0], parts[1:]
    version, parts = parts[0], parts[1:]
    if parts[0] in SPECIAL_VERBS:
        if len(parts) < 2:  # upstream: an error, with what is known so far
            return RequestInfo(True, path, method.lower(), group, version)
        verb, parts = parts[0], parts[1:]
    else:
        verb = METHOD_VERBS.get(method, "")
    namespace = ""
    if parts[0] == "namespaces" and len(parts) > 1:
        namespace = parts[1]
        if len(parts) > 2 and parts[2] not in NAMESPACE_SUBRESOURCES:
            parts = parts[2:]
    resource = parts[0]
    name = parts[1] if len(parts) >= 2 else ""
    subresource = parts[2] if len(parts) >= 3 and verb != "proxy" else ""
    if not name and verb == "get":
        watch = query.get("watch")
        verb = "watch" if watch is not None and watch.lower() not in ("0", "false") else "list"
        name = _selected_name(query.get("fieldSelector", ""))
    if not name and verb == "delete":
        verb = "deletecollection"
    return RequestInfo(True, path, verb, group, version, namespace, resource, subresource, name)


def _selected_name(selector: str) -> str:
    """The name a field selector requires (`metadata.name=x`, also among other terms),
    if it is a valid path segment; else ""."""
    if "metadata.name" not in selector:
        return ""
    for term in _split_unescaped(selector, ","):
        for op in ("==", "="):
            field, sep, value = term.partition(op)
            if sep and field.strip() == "metadata.name" and not field.endswith("!"):
                name = _unescape(value.strip())
                if name and name not in (".", "..") and "/" not in name and "%" not in name:
                    return name
                return ""
    return ""


def _split_unescaped(text: str, sep: str) -> list[str]:
    out, current, escaped = [], [], False
    for ch in text:
        if escaped:
            current.append("\\" + ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == sep:
            out.append("".join(current))
            current = []
        else:
            current.append(ch)
    out.append("".join(current))
    return out


def _unescape(value: str) -> str:
    return value.replace("\\,", ",").replace("\\=", "=").replace("\\\\", "\\")
