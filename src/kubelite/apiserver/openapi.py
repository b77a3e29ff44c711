"""OpenAPI documents: `/openapi/v3`, `/openapi/v3/<group version>`, `/openapi/v2`.

kubectl fetches these before `apply`, `create` and `explain`:

- `apply`/`create` look, in the group version's v3 document, for the PATCH
  operation carrying the object's `x-kubernetes-group-version-kind` and check
  that it takes a `fieldValidation` query parameter. If so kubectl leaves
  validation to the server and sends `fieldValidation=Strict`; if not it
  validates against the schemas itself.
- `apply` (client side) would build its strategic merge patch from the
  schemas' `x-kubernetes-patch-*` extensions when the PATCH operation accepts
  `application/strategic-merge-patch+json`. Ours carry no such extensions, so
  that content type is deliberately not advertised: kubectl then falls back to
  its compiled-in types, which patch lists by their merge keys correctly.
- `explain` reads `components.schemas`: the kind's schema is found by its
  `x-kubernetes-group-version-kind`, then `description`, `properties`,
  `required` and `$ref`s are followed.

Schemas come from `openapi_schemas` (`openapi_crds` for custom resources).
Documents are built once, cached, and served with a content hash as upstream
does (`?hash=` in the root document, and the ETag); a CRD that changes the
served types drops the cached documents of its group only.
"""

from __future__ import annotations

import hashlib
from functools import cache
from typing import Any

import orjson

from kubelite.api.registry import REGISTRY, ResourceType
from kubelite.apiserver import openapi_v2_proto
from kubelite.apiserver.discovery import GIT_VERSION
from kubelite.apiserver.openapi_crds import custom_schemas
from kubelite.apiserver.openapi_schemas import (
    META,
    REF,
    component_schemas,
    group_version_kind,
    kind_schema_id,
    package_name,
)

PATCH_CONTENT_TYPES = (
    "application/apply-patch+yaml",
    "application/json-patch+json",
    "application/merge-patch+json",
)
_RESPONSE_TYPES = ("application/json", "application/yaml", "application/vnd.kubernetes.protobuf")


# ---- paths ------------------------------------------------------------------------------


def _param(name: str, where: str, description: str, type_: str = "string") -> dict[str, Any]:
    schema: dict[str, Any] = {"type": type_, "uniqueItems": True}
    param: dict[str, Any] = {"name": name, "in": where, "description": description}
    if where == "path":
        param["required"] = True
    return {**param, "schema": schema}


_PRETTY = _param("pretty", "query", "If 'true', then the output is pretty printed.")
_NAME = _param("name", "path", "name of the object")
_NAMESPACE = _param(
    "namespace", "path", "object name and auth scope, such as for teams and projects"
)
_DRY_RUN = _param(
    "dryRun",
    "query",
    "When present, indicates that modifications should not be persisted. Valid values are: "
    "- All: all dry run stages will be processed",
)
_FIELD_MANAGER = _param(
    "fieldManager",
    "query",
    "fieldManager is a name associated with the actor or entity that is making these changes.",
)
_FIELD_VALIDATION = _param(
    "fieldValidation",
    "query",
    "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) "
    "containing unknown or duplicate fields. Valid values are: - Ignore - Warn - Strict",
)
_FORCE = _param(
    "force",
    "query",
    'Force is going to "force" Apply requests. It must be unset for non-apply patch requests.',
    "boolean",
)
_LIST_PARAMS = [
    _param(
        "allowWatchBookmarks",
        "query",
        'allowWatchBookmarks requests watch events with type "BOOKMARK".',
        "boolean",
    ),
    _param(
        "continue",
        "query",
        "The continue option should be set when retrieving more results from the server.",
    ),
    _param(
        "fieldSelector",
        "query",
        "A selector to restrict the list of returned objects by their fields.",
    ),
    _param(
        "labelSelector",
        "query",
        "A selector to restrict the list of returned objects by their labels.",
    ),
    _param(
        "limit",
        "query",
        "limit is a maximum number of responses to return for a list call.",
        "integer",
    ),
    _param(
        "resourceVersion",
        "query",
        "resourceVersion sets a constraint on what resource versions a request may be served from.",
    ),
    _param(
        "resourceVersionMatch",
        "query",
        "resourceVersionMatch determines how resourceVersion is applied to list calls.",
    ),
    _param(
        "sendInitialEvents",
        "query",
        "`sendInitialEvents=true` may be set together with `watch=true`.",
        "boolean",
    ),
    _param("timeoutSeconds", "query", "Timeout for the list/watch call.", "integer"),
    _param(
        "watch",
        "query",
        "Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.",
        "boolean",
    ),
]
_DELETE_PARAMS = [
    _DRY_RUN,
    _param(
        "gracePeriodSeconds",
        "query",
        "The duration in seconds before the object should be deleted.",
        "integer",
    ),
    _param("orphanDependents", "query", "Deprecated: please use the PropagationPolicy.", "boolean"),
    _param("propagationPolicy", "query", "Whether and how garbage collection will be performed."),
]


_WRITE_PARAMS = [_DRY_RUN, _FIELD_MANAGER, _FIELD_VALIDATION]
_PATCH_PARAMS = [*_WRITE_PARAMS, _FORCE]
_UNAUTHORIZED = {"401": {"description": "Unauthorized"}}


def _camel_group(group: str) -> str:
    """The group as operation ids spell it: "" -> Core, "scheduling.k8s.io" -> Scheduling."""
    if not group:
        return "Core"
    return "".join(part.capitalize() for part in group.removesuffix(".k8s.io").split("."))


def _ref(schema_id: str) -> dict[str, str]:
    return {"$ref": REF + schema_id}


def _content(schema: dict[str, Any], types: tuple[str, ...] = _RESPONSE_TYPES) -> dict[str, Any]:
    return {t: {"schema": schema} for t in types}


def _body(schema: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {"content": {"*/*": {"schema": schema}}}
    if required:
        body["required"] = True
    return body


def _responses(schema: dict[str, Any], *codes: str) -> dict[str, Any]:
    text = {"200": "OK", "201": "Created", "202": "Accepted"}
    out = {code: {"description": text[code], "content": _content(schema)} for code in codes}
    return {**out, **_UNAUTHORIZED}


_STATUS = _ref(META + "Status")
_LOG_RESPONSES = {
    "200": {"description": "OK", "content": {"text/plain": {"schema": {"type": "string"}}}},
    **_UNAUTHORIZED,
}


class _PathBuilder:
    """The path items of one resource, with upstream's operation ids and extensions."""

    def __init__(self, rt: ResourceType) -> None:
        self.rt = rt
        self.gv = _camel_group(rt.group) + rt.version.capitalize()
        self.name = ("Namespaced" if rt.namespaced else "") + rt.kind
        self.tag = f"{package_name(rt.group)}_{rt.version}"
        self.gvk = group_version_kind(rt.group, rt.version, rt.kind)
        self.kind_ref = _ref(kind_schema_id(rt.group, rt.version, rt.kind))
        self.list_ref = _ref(kind_schema_id(rt.group, rt.version, rt.list_kind))

    def _op(
        self,
        action: str,
        op_id: str,
        *,
        responses: dict[str, Any],
        params: list[dict[str, Any]] | None = None,
        body: dict[str, Any] | None = None,
        gvk: dict[str, str] | None = None,
        description: str = "",
    ) -> dict[str, Any]:
        op: dict[str, Any] = {"tags": [self.tag], "description": description, "operationId": op_id}
        if params:
            op["parameters"] = params
        if body is not None:
            op["requestBody"] = body
        op["responses"] = responses
        op["x-kubernetes-action"] = action
        op["x-kubernetes-group-version-kind"] = gvk or self.gvk
        return op

    def paths(self, base: str) -> dict[str, Any]:
        rt = self.rt
        scope = [_NAMESPACE] if rt.namespaced else []
        collection = (
            f"{base}/namespaces/{{namespace}}/{rt.plural}"
            if rt.namespaced
            else f"{base}/{rt.plural}"
        )
        out: dict[str, Any] = {}
        if rt.namespaced:
            out[f"{base}/{rt.plural}"] = {
                "get": self._list(f"list{self.gv}{rt.kind}ForAllNamespaces"),
                "parameters": [_PRETTY],
            }
        out[collection] = {**self._collection(), "parameters": [*scope, _PRETTY]}
        item = f"{collection}/{{name}}"
        out[item] = {**self._item(), "parameters": [_NAME, *scope, _PRETTY]}
        for sub in sorted(rt.subresources):
            out[f"{item}/{sub}"] = {
                **self._subresource(sub),
                "parameters": [_NAME, *scope, _PRETTY],
            }
        return out

    def create_only_paths(self, base: str) -> dict[str, Any]:
        """The one path of a kind that is only ever created, never stored (`bindings`)."""
        rt = self.rt
        scope = [_NAMESPACE] if rt.namespaced else []
        collection = (
            f"{base}/namespaces/{{namespace}}/{rt.plural}"
            if rt.namespaced
            else f"{base}/{rt.plural}"
        )
        post = self._collection()["post"]
        return {collection: {"post": post, "parameters": [*scope, _PRETTY]}}

    def _list(self, op_id: str) -> dict[str, Any]:
        return self._op(
            "list",
            op_id,
            params=list(_LIST_PARAMS),
            responses=_responses(self.list_ref, "200"),
            description=f"list or watch objects of kind {self.rt.kind}",
        )

    def _collection(self) -> dict[str, Any]:
        gv, name, kind = self.gv, self.name, self.rt.kind
        return {
            "get": self._list(f"list{gv}{name}"),
            "post": self._op(
                "post",
                f"create{gv}{name}",
                params=_WRITE_PARAMS,
                body=_body(self.kind_ref),
                responses=_responses(self.kind_ref, "200", "201", "202"),
                description=f"create a {kind}",
            ),
            "delete": self._op(
                "deletecollection",
                f"delete{gv}Collection{name}",
                params=[*_LIST_PARAMS, *_DELETE_PARAMS],
                body=_body(_ref(META + "DeleteOptions"), required=False),
                responses=_responses(_STATUS, "200"),
                description=f"delete collection of {kind}",
            ),
        }

    def _item(self) -> dict[str, Any]:
        ops = self._read_write(
            f"{self.gv}{self.name}", self.kind_ref, f"the specified {self.rt.kind}"
        )
        ops["delete"] = self._op(
            "delete",
            f"delete{self.gv}{self.name}",
            params=_DELETE_PARAMS,
            body=_body(_ref(META + "DeleteOptions"), required=False),
            responses=_responses(_STATUS, "200", "202"),
            description=f"delete a {self.rt.kind}",
        )
        return ops

    def _read_write(
        self, suffix: str, ref: dict[str, Any], what: str, gvk: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """GET, PUT and PATCH of one object (or of its status or scale)."""
        patch_body = {
            "content": _content(_ref(META + "Patch"), PATCH_CONTENT_TYPES),
            "required": True,
        }
        return {
            "get": self._op(
                "get",
                f"read{suffix}",
                responses=_responses(ref, "200"),
                gvk=gvk,
                description=f"read {what}",
            ),
            "put": self._op(
                "put",
                f"replace{suffix}",
                params=_WRITE_PARAMS,
                body=_body(ref),
                responses=_responses(ref, "200", "201"),
                gvk=gvk,
                description=f"replace {what}",
            ),
            "patch": self._op(
                "patch",
                f"patch{suffix}",
                params=_PATCH_PARAMS,
                body=patch_body,
                responses=_responses(ref, "200", "201"),
                gvk=gvk,
                description=f"partially update {what}",
            ),
        }

    def _subresource(self, sub: str) -> dict[str, Any]:
        suffix = f"{self.gv}{self.name}{sub.capitalize()}"
        kind = self.rt.kind
        if sub in ("status", "ephemeralcontainers", "approval"):
            return self._read_write(suffix, self.kind_ref, f"{sub} of the specified {kind}")
        if sub == "scale":
            scale = group_version_kind("autoscaling", "v1", "Scale")
            ref = _ref(kind_schema_id("autoscaling", "v1", "Scale"))
            return self._read_write(suffix, ref, f"scale of the specified {kind}", scale)
        if sub == "log":
            log = self._op(
                "get",
                f"read{suffix}",
                params=_LOG_PARAMS,
                responses=_LOG_RESPONSES,
                gvk=group_version_kind("", "v1", "Pod"),
                description="read log of the specified Pod",
            )
            return {"get": log}
        if sub in ("exec", "attach", "portforward", "proxy"):
            kind_name, params, verbs = {
                "exec": ("PodExecOptions", _EXEC_PARAMS, ("get", "post")),
                "attach": ("PodAttachOptions", _ATTACH_PARAMS, ("get", "post")),
                "portforward": ("PodPortForwardOptions", _PORTFORWARD_PARAMS, ("get", "post")),
                "proxy": (
                    f"{kind}ProxyOptions",
                    _PROXY_PARAMS,
                    ("delete", "get", "head", "options", "patch", "post", "put"),
                ),
            }[sub]
            return {
                verb: self._op(
                    "connect",
                    f"connect{verb.capitalize()}{suffix}",
                    params=params,
                    responses=_CONNECT_RESPONSES,
                    gvk=group_version_kind("", "v1", kind_name),
                    description=f"connect {verb.upper()} requests to {sub} of {kind}",
                )
                for verb in verbs
            }
        group, body_kind = {
            "eviction": ("policy", "Eviction"),
            "token": ("authentication.k8s.io", "TokenRequest"),
        }.get(sub, ("", "Binding"))
        ref = _ref(kind_schema_id(group, "v1", body_kind))
        create = self._op(
            "post",
            f"create{suffix}",
            params=_WRITE_PARAMS,
            body=_body(ref),
            responses=_responses(ref, "200", "201", "202"),
            gvk=group_version_kind(group, "v1", body_kind),
            description=f"create {sub} of a {kind}",
        )
        return {"post": create}


_EXEC_PARAMS = [
    _param(
        "command",
        "query",
        "Command is the remote command to execute. argv array. Not executed within a shell.",
    ),
    _param(
        "container",
        "query",
        "Container in which to execute the command. Defaults to only container if there is only one container in the pod.",
    ),
    _param(
        "stderr", "query", "Redirect the standard error stream of the pod for this call.", "boolean"
    ),
    _param(
        "stdin",
        "query",
        "Redirect the standard input stream of the pod for this call. Defaults to false.",
        "boolean",
    ),
    _param(
        "stdout",
        "query",
        "Redirect the standard output stream of the pod for this call.",
        "boolean",
    ),
    _param(
        "tty",
        "query",
        "TTY if true indicates that a tty will be allocated for the exec call. Defaults to false.",
        "boolean",
    ),
]
# The same, less the command: attach joins the container's own process.
_ATTACH_PARAMS = [p for p in _EXEC_PARAMS if p["name"] != "command"]
_PORTFORWARD_PARAMS = [
    _param("ports", "query", "List of ports to forward Required when using WebSockets", "integer"),
]
_PROXY_PARAMS = [
    _param("path", "query", "Path is the URL path to use for the current proxy request."),
]
_CONNECT_RESPONSES = {
    "200": {"description": "OK", "content": {"*/*": {"schema": {"type": "string"}}}},
    **_UNAUTHORIZED,
}

_LOG_PARAMS = [
    _param("container", "query", "The container for which to stream logs."),
    _param("follow", "query", "Follow the log stream of the pod.", "boolean"),
    _param("previous", "query", "Return previous terminated container logs.", "boolean"),
    _param(
        "sinceSeconds",
        "query",
        "A relative time in seconds before the current time from which to show logs.",
        "integer",
    ),
    _param(
        "tailLines",
        "query",
        "If set, the number of lines from the end of the logs to show.",
        "integer",
    ),
    _param(
        "timestamps",
        "query",
        "If true, add an RFC3339 timestamp at the beginning of every line.",
        "boolean",
    ),
]


# ---- documents ----------------------------------------------------------------------

_SECURITY = {
    "securitySchemes": {
        "BearerToken": {
            "type": "apiKey",
            "description": "Bearer Token authentication",
            "name": "authorization",
            "in": "header",
        }
    }
}


def _base(group: str, version: str) -> str:
    return f"/apis/{group}/{version}" if group else f"/api/{version}"


def _served_paths() -> dict[str, tuple[str, str | None, str | None]]:
    """Root-relative document path -> (kind of document, group, version)."""
    out: dict[str, tuple[str, str | None, str | None]] = {}
    groups = {
        group: [
            v for v in versions if any(rt.has_objects for rt in REGISTRY.in_group_version(group, v))
        ]
        for group, versions in REGISTRY.groups().items()
    }
    groups = {group: versions for group, versions in groups.items() if versions}
    out["api"] = ("versions", None, None)
    for version in groups.get("", []):
        out[f"api/{version}"] = ("gv", "", version)
    out["apis"] = ("groups", None, None)
    for group, versions in groups.items():
        if not group:
            continue
        out[f"apis/{group}"] = ("group", group, None)
        for version in versions:
            out[f"apis/{group}/{version}"] = ("gv", group, version)
    return dict(sorted(out.items()))


def _document(paths: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": GIT_VERSION},
        "paths": paths,
        "components": {"schemas": schemas, **_SECURITY},
    }


def _discovery_get(
    path: str, op_id: str, tag: str, schema_id: str, description: str
) -> dict[str, Any]:
    return {
        path: {
            "get": {
                "tags": [tag],
                "description": description,
                "operationId": op_id,
                "responses": {
                    "200": {
                        "description": "OK",
                        "content": _content(_ref(schema_id), _RESPONSE_TYPES[:2]),
                    },
                    "401": {"description": "Unauthorized"},
                },
            }
        }
    }


def _discovery_schema(name: str, description: str) -> dict[str, Any]:
    return {META + name: {"description": description, "type": "object"}}


_documents: dict[str, dict[str, Any] | None] = {}
_bytes: dict[str, bytes | None] = {}


def _build(path: str) -> dict[str, Any] | None:
    if path not in _documents:
        _documents[path] = _make(path)
    return _documents[path]


def _forget(groups: frozenset[str]) -> None:
    """CRDs changed the types of `groups`: drop those documents (and the v2 one)."""
    for cache_ in (_documents, _bytes):
        for path in list(cache_):
            if path.split("/")[0] == "apis" and path.count("/") and path.split("/")[1] in groups:
                del cache_[path]
    _clear_v2()


REGISTRY.subscribe(_forget)


def clear_caches() -> None:
    """Drop every cached document (tests that change how schemas are made)."""
    _documents.clear()
    _bytes.clear()
    _clear_v2()


def _clear_v2() -> None:
    for cached in (_swagger_document, _swagger, openapi_v2_etag):
        cached.cache_clear()


def _make(path: str) -> dict[str, Any] | None:
    what = _served_paths().get(path)
    if what is None:
        return None
    kind, group, version = what
    if kind == "versions":
        return _document(
            _discovery_get(
                "/api/",
                "getCoreAPIVersions",
                "core",
                META + "APIVersions",
                "get available API versions",
            ),
            _discovery_schema("APIVersions", "APIVersions lists the versions that are available."),
        )
    if kind == "groups":
        return _document(
            _discovery_get(
                "/apis/",
                "getAPIVersions",
                "apis",
                META + "APIGroupList",
                "get available API versions",
            ),
            _discovery_schema("APIGroupList", "APIGroupList is a list of APIGroup."),
        )
    assert group is not None
    tag = package_name(group) if group else "core"
    if kind == "group":
        return _document(
            _discovery_get(
                f"/apis/{group}/",
                f"get{_camel_group(group)}APIGroup",
                tag,
                META + "APIGroup",
                "get information of a group",
            ),
            _discovery_schema(
                "APIGroup",
                "APIGroup contains the name, the supported versions, and the preferred version of a group.",
            ),
        )
    assert version is not None
    base = _base(group, version)
    rts = [rt for rt in REGISTRY.in_group_version(group, version) if rt.has_objects]
    paths = _discovery_get(
        f"{base}/",
        f"get{_camel_group(group)}{version.capitalize()}APIResources",
        f"{tag}_{version}",
        META + "APIResourceList",
        "get available resources",
    )
    for rt in sorted(rts, key=lambda r: r.plural):
        paths.update(_PathBuilder(rt).paths(base))
    if any(rt.custom is not None for rt in rts):
        schemas = custom_schemas([rt for rt in rts if rt.custom is not None])
    else:
        schemas = component_schemas(rts)
    for rt in REGISTRY.in_group_version(group, version):
        documented = kind_schema_id(rt.group, rt.version, rt.kind) in schemas
        if rt.verbs == ("create",) and not rt.has_objects and documented:
            paths.update(_PathBuilder(rt).create_only_paths(base))
    schemas.update(
        _discovery_schema("APIResourceList", "APIResourceList is a list of APIResource.")
    )
    return _document(dict(sorted(paths.items())), dict(sorted(schemas.items())))


def _serialized(path: str) -> bytes | None:
    if path not in _bytes:
        doc = _build(path)
        _bytes[path] = None if doc is None else orjson.dumps(doc)
    return _bytes[path]


def openapi_v3_hash(path: str) -> str | None:
    """Upstream's document hash: the SHA-512 of the JSON, in upper-case hex."""
    body = _serialized(path.strip("/"))
    return None if body is None else hashlib.sha512(body).hexdigest().upper()


def openapi_v3_etag(path: str) -> str | None:
    """The ETag to send with a group version's document (the quoted hash)."""
    digest = openapi_v3_hash(path)
    return None if digest is None else f'"{digest}"'


def openapi_v3_root() -> dict[str, Any]:
    """`/openapi/v3`: each document path with its `serverRelativeURL` and hash."""
    return {
        "paths": {
            path: {"serverRelativeURL": f"/openapi/v3/{path}?hash={openapi_v3_hash(path)}"}
            for path in _served_paths()
        }
    }


def openapi_v3_group_version(path: str) -> dict[str, Any] | None:
    """The OpenAPI 3.0 document for "api/v1", "apis/apps/v1", "api", "apis", "apis/apps"...

    None for a path not served. The document is cached: do not change it.
    """
    return _build(path.split("?", 1)[0].strip("/"))


def openapi_v3_bytes(path: str) -> bytes | None:
    """`openapi_v3_group_version(path)` already serialised (it is big: serve these bytes)."""
    return _serialized(path.split("?", 1)[0].strip("/"))


# ---- swagger 2.0 -----------------------------------------------------------------------


def _v2_param(param: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in param.items() if k != "schema"}
    out.update(param.get("schema") or {})
    return out


def _v2_operation(op: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in op.items() if k not in ("parameters", "requestBody", "responses")}
    params = [_v2_param(p) for p in op.get("parameters", [])]
    body = op.get("requestBody")
    if body:
        content = body["content"]
        out["consumes"] = list(content)
        schema = next(iter(content.values()))["schema"]
        params.append(
            {
                "name": "body",
                "in": "body",
                "required": body.get("required", False),
                "schema": schema,
            }
        )
    if params:
        out["parameters"] = params
    responses: dict[str, Any] = {}
    produces: list[str] = []
    for code, response in op.get("responses", {}).items():
        entry = {"description": response["description"]}
        for media, value in (response.get("content") or {}).items():
            entry["schema"] = value["schema"]
            if media not in produces:
                produces.append(media)
        responses[code] = entry
    out["produces"] = produces
    out["responses"] = responses
    out["schemes"] = ["https"]
    return out


def _v2_path(item: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in item.items():
        out[key] = [_v2_param(p) for p in value] if key == "parameters" else _v2_operation(value)
    return out


def _v2_schemas(node: Any) -> Any:
    """A v3 schema (or any part of a document) as swagger 2.0 writes it.

    References point into `#/definitions/`, and a field that refers to another
    type is a plain `$ref` beside its own description, as upstream's v2
    document has it (v3 wraps the reference in `allOf`, with a `default`).
    """
    if isinstance(node, list):
        return [_v2_schemas(item) for item in node]
    if not isinstance(node, dict):
        return node
    all_of = node.get("allOf")
    if isinstance(all_of, list) and len(all_of) == 1 and set(all_of[0]) == {"$ref"}:
        rest = {k: _v2_schemas(v) for k, v in node.items() if k not in ("allOf", "default")}
        return {"$ref": _v2_ref(all_of[0]["$ref"]), **rest}
    return {k: _v2_ref(v) if k == "$ref" else _v2_schemas(v) for k, v in node.items()}


def _v2_ref(ref: Any) -> Any:
    """A v3 reference as v2 spells it; anything else (a property named `$ref`) walked on."""
    if isinstance(ref, str):
        return "#/definitions/" + ref.removeprefix(REF) if ref.startswith(REF) else ref
    return _v2_schemas(ref)


@cache
def _swagger_document() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    definitions: dict[str, Any] = {}
    for path, (kind, _, _) in _served_paths().items():
        doc = _build(path)
        if doc is None or kind != "gv":
            continue
        paths.update({p: _v2_path(item) for p, item in doc["paths"].items()})
        definitions.update(doc["components"]["schemas"])
    return {
        "swagger": "2.0",
        "info": {"title": "Kubernetes", "version": GIT_VERSION},
        "paths": _v2_schemas(dict(sorted(paths.items()))),
        "definitions": _v2_schemas(dict(sorted(definitions.items()))),
        "securityDefinitions": _SECURITY["securitySchemes"],
        "security": [{"BearerToken": []}],
    }


@cache
def _swagger() -> bytes:
    return orjson.dumps(_swagger_document())


def openapi_v2() -> dict[str, Any]:
    """`/openapi/v2` as JSON: swagger 2.0 with every kind's `definitions`. A fresh copy."""
    return orjson.loads(_swagger())


def openapi_v2_bytes() -> bytes:
    """`openapi_v2()` serialised."""
    return _swagger()


@cache
def openapi_v2_etag() -> str:
    """The ETag of `/openapi/v2` in either form: the quoted SHA-512 of the JSON, as upstream."""
    return f'"{hashlib.sha512(_swagger()).hexdigest().upper()}"'


# What kubectl asks for (the older "@v1.0" spelling) and what it is answered with:
# Go's media-type parser refuses the "@", so the reply uses the ".v1.0" spelling.
V2_PROTOBUF_ACCEPTED = (
    "com.github.proto-openapi.spec.v2@v1.0+protobuf",
    "com.github.proto-openapi.spec.v2.v1.0+protobuf",
)
V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
# The protobuf form of the document whose ETag is the key (one entry: the current one).
_v2_protobuf: dict[str, bytes] = {}


def openapi_v2_protobuf() -> bytes:
    """`/openapi/v2` as gnostic's `openapi.v2.Document` message, what kubectl asks for.

    The same document as the JSON form (`openapi_v2_proto` encodes it), built
    once per version of the document: it is big.
    """
    etag = openapi_v2_etag()
    body = _v2_protobuf.get(etag)
    if body is None:
        body = openapi_v2_proto.document(_swagger_document())
        _v2_protobuf.clear()
        _v2_protobuf[etag] = body
    return body
