"""The Kubernetes REST API over HTTP, as an ASGI app.

This layer only translates: paths and query strings into `RestStorage` calls,
bodies into objects, results into JSON (or Tables, for kubectl), and every
`ApiError` into a `Status`. Unknown failures are a 500 with a generic message;
the traceback goes to the log only.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import orjson

from kubelite.api.registry import REGISTRY, Registry, ResourceType
from kubelite.apiserver import (
    binding,
    bodies,
    client_certs,
    componentstatus,
    converted,
    customresources,
    discovery,
    errors,
    exec_stream,
    healthz,
    impersonation,
    jws,
    listoptions,
    metrics_api,
    oidc_discovery,
    openapi,
    paths,
    portforward,
    proxy,
    queryparams,
    requestoptions,
    reviews,
    subresources,
)
from kubelite.apiserver.rbac_authorizer import Attributes, RbacAuthorizer, forbidden_status
from kubelite.apiserver.request_context import (
    add_warning,
    collect_warnings,
    set_authorizer,
    set_manager,
    set_user,
    warning_header,
)
from kubelite.apiserver.requestinfo import request_info
from kubelite.apiserver.rest import RETURN_DELETED, DeleteOptions, RestStorage, Selectors
from kubelite.apiserver.schema import TypeMismatch, check_fields, check_meta_types
from kubelite.apiserver.serviceaccount_admission import await_service_account
from kubelite.apiserver.serviceaccount_tokens import (
    API_AUDIENCES,
    ServiceAccountTokens,
    store_lookup,
)
from kubelite.apiserver.tables import to_table
from kubelite.apiserver.tokenrequest import handle as token_request
from kubelite.apiserver.watching import WatchEvent, WatchRequest, watch_batches

log = logging.getLogger(__name__)

Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]

# What upstream's `system:public-info-viewer` role lets anyone read. `/version` is a
# go-restful web service, so `/version/` is the same route (kr8s asks for it); the
# health endpoints are exact paths (`/healthz/` is a 404, as upstream).
PUBLIC_PATHS = frozenset({"/healthz", "/livez", "/readyz", "/version", "/version/"})
TABLE_ACCEPT = "as=Table"
PARTIAL_ACCEPT = "as=PartialObjectMetadata"


class Request:
    __slots__ = ("scope", "receive", "method", "path", "query", "headers", "user")

    def __init__(self, scope: dict[str, Any], receive: Receive) -> None:
        self.scope = scope
        self.receive = receive
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
        self.headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]
        }
        self.user: reviews.User | None = None  # set once authenticated

    def flag(self, name: str) -> bool:
        """A boolean query parameter as upstream decodes it: true unless absent, 0 or false."""
        return queryparams.flag(self.query.get(name))

    @property
    def accept(self) -> str:
        return self.headers.get("accept", "")

    @property
    def wants_table(self) -> bool:
        return TABLE_ACCEPT in self.accept

    @property
    def wants_partial(self) -> bool:
        return PARTIAL_ACCEPT in self.accept and not self.wants_table


class Response:
    __slots__ = ("status", "body", "content_type", "headers", "warnings")

    def __init__(
        self,
        body: bytes,
        status: int = 200,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status, self.body, self.content_type = status, body, content_type
        self.headers = headers or {}
        self.warnings: list[str] = []  # admission warnings, one `Warning` header each

    async def send(self, send: Send) -> None:
        raw = [
            (b"content-type", self.content_type.encode()),
            (b"content-length", str(len(self.body)).encode()),
            (b"cache-control", b"no-cache, private"),
        ]
        raw += [(k.lower().encode(), v.encode()) for k, v in self.headers.items()]
        raw += [(b"warning", warning_header(w).encode()) for w in self.warnings]
        await send({"type": "http.response.start", "status": self.status, "headers": raw})
        await send({"type": "http.response.body", "body": self.body})


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(obj), status, headers=headers)


def error_response(err: errors.ApiError) -> Response:
    return json_response(err.status(), err.code, err.headers)


class ApiApp:
    def __init__(
        self,
        storage: RestStorage,
        *,
        token: str,
        ready: Callable[[], bool] = lambda: True,
        registry: Registry = REGISTRY,
        logs: subresources.LogSource | None = None,
        execs: exec_stream.ExecSource | None = None,
        metrics: metrics_api.MetricsSource | None = None,
        tokens: ServiceAccountTokens | None = None,
        authorizer: RbacAuthorizer | None = None,
    ) -> None:
        self.storage = storage
        self.token = token.encode()
        # Service-account tokens also authenticate.
        self.tokens = tokens
        # None: `--authorization-mode AlwaysAllow`, any authenticated user may do anything.
        self.authorizer = authorizer
        self._lookup = store_lookup(storage)
        self.ready = ready
        # What /livez and /readyz check; `kubelite up` adds its parts' own checks.
        self.health = healthz.Health.basic(store_closed=lambda: storage.store.closed, started=ready)
        self.registry = registry
        self.logs = logs
        self.execs = execs
        self.metrics = metrics
        # Set by `kubelite up`: the CA client certificates are checked against, and the
        # signer of approved CSRs (client_certs, csr_signing); None: neither.
        self.client_ca: Any = None
        self.csr_signer: Any = None

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        req = Request(scope, receive)
        warnings = collect_warnings()
        set_manager(req.query.get("fieldManager"), req.headers.get("user-agent"))
        set_authorizer(self.authorizer.authorize if self.authorizer is not None else None)
        try:
            if req.path not in PUBLIC_PATHS and not _is_health_path(req.path):
                self._authenticate(req)
                self._authorize(req)
            result = await self._route(req)
        except errors.ApiError as err:
            result = error_response(err)
        except Exception:
            log.exception("internal error serving %s %s", req.method, req.path)
            result = error_response(
                errors.InternalError(
                    "an error on the server has prevented the request from succeeding"
                )
            )
        if isinstance(result, Response):
            result.warnings = warnings
        if isinstance(result, Response | proxy.Streamed):
            await result.send(send)
        else:
            text = req.path.endswith("/log")
            await _stream(
                result, send, b"text/plain" if text else b"application/json", warnings=warnings
            )

    async def _websocket(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        """Streaming subresources (`pods/exec`, `pods/attach`, `pods/portforward`) come as
        WebSocket upgrades."""
        req = Request({**scope, "method": "GET"}, receive)
        try:
            self._authenticate(req)
            self._authorize(req)
            target = paths.parse(req.path, self.registry)
            if not isinstance(target, paths.ResourcePath) or not target.subresource:
                raise errors.NotFound("the server could not find the requested resource")
        except errors.ApiError as err:
            await receive()  # the connect, answered with the error
            await exec_stream.deny(send, err)
            return
        if target.subresource == "portforward":
            await portforward.serve(self, target, scope, receive, send)
        elif target.subresource == "attach":
            from kubelite.apiserver import attach_stream

            await attach_stream.serve(self, target, scope, receive, send)
        else:
            await exec_stream.serve(self, target, scope, receive, send)

    def _authenticate(self, req: Request) -> None:
        header = req.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        user = client_certs.user_for_request(req.scope, self.client_ca)
        if user is None and scheme.lower() == "bearer":
            user = self.user_for(value.strip())
        if user is None:
            raise errors.Unauthorized("Unauthorized")
        req.user = user
        raw = req.scope["headers"]
        if any(name.startswith(b"impersonate-") for name, _ in raw):
            self._impersonate(req, user, raw)
        else:
            set_user(user.info())

    def _impersonate(self, req: Request, user: reviews.User, raw: list[Any]) -> None:
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in raw]
        authorize = self.authorizer.authorize if self.authorizer is not None else None
        acting = impersonation.impersonate(user, headers, authorize)
        if acting is not None:
            req.user = acting
        set_user(req.user.info() if req.user is not None else user.info())

    def _authorize(self, req: Request) -> None:
        """Under RBAC, refuse what the user may not do with upstream's 403; with
        AlwaysAllow (no authorizer) this costs nothing."""
        if self.authorizer is None or req.user is None:
            return
        info = request_info(req.method, req.path, req.query)
        attrs = Attributes(
            req.user,
            info.verb,
            info.resource_request,
            info.api_group,
            info.api_version,
            info.resource,
            info.subresource,
            info.namespace,
            info.name,
            info.path,
        )
        decision = self.authorizer.authorize(attrs)
        if not decision.allowed:
            message, details = forbidden_status(attrs, decision.reason)
            raise errors.Forbidden(message, details=details)

    def user_for(self, token: str) -> reviews.User | None:
        """Who a bearer token stands for: the cluster's admin or a service account; None if no one."""
        try:
            return self.authenticate_token(token)[0]
        except jws.InvalidToken as exc:
            log.debug("service account token refused: %s", exc)
            return None

    def authenticate_token(
        self, token: str, audiences: list[str] | None = None
    ) -> tuple[reviews.User | None, tuple[str, ...]]:
        """The token's user (None if no authenticator knows it) and which of `audiences`
        (default: the API server's) it is for; `InvalidToken` (upstream's reason) for a
        token of ours that must be refused. The cluster's own token is audience-agnostic,
        as upstream's static tokens: it is for the API's audiences only."""
        api = self.tokens.audiences if self.tokens is not None else API_AUDIENCES
        wanted = tuple(audiences or api)
        if hmac.compare_digest(token.encode(), self.token):
            matched = tuple(a for a in wanted if a in api)
            return (reviews.ADMIN, matched) if matched else (None, ())
        if self.tokens is not None and self.tokens.issued_here(token):
            info = self.tokens.review(token, self._lookup, wanted)
            return reviews.service_account_user(info), info.audiences
        return None, ()

    async def _route(self, req: Request) -> Response | AsyncIterator[bytes] | proxy.Streamed:
        path = req.path
        if _is_health_path(path):
            code, text = healthz.respond(self.health, path, req.scope.get("query_string", b""))
            return Response(text.encode(), code, content_type=healthz.TEXT)
        if path in ("/version", "/version/"):
            return json_response(discovery.version_info())
        if path.startswith("/openapi/"):
            return self._openapi(req, path)
        if path in oidc_discovery.PATHS and self.tokens is not None:
            return self._issuer_discovery(req, path, self.tokens)
        target = paths.parse(path, self.registry)
        if target is None:
            raise errors.NotFound("the server could not find the requested resource")
        if isinstance(target, paths.GroupPath):
            return self._discovery(req, target)
        return await self._resource(req, target)

    # ---- discovery -----------------------------------------------------------

    def _issuer_discovery(self, req: Request, path: str, tokens: ServiceAccountTokens) -> Response:
        if req.method != "GET":
            raise errors.MethodNotAllowed(
                "the server does not allow this method on the requested resource"
            )
        headers = {"cache-control": oidc_discovery.CACHE_CONTROL}
        if path == oidc_discovery.JWKS_PATH:
            body = orjson.dumps(oidc_discovery.key_set(tokens.public_key))
            return Response(body, content_type=oidc_discovery.JWK_SET_TYPE, headers=headers)
        return json_response(oidc_discovery.configuration(tokens.issuer), headers=headers)

    def _openapi(self, req: Request, path: str) -> Response:
        # Exact paths, as upstream's mux registers them: `/openapi/v2/` is a 404, and
        # `/openapi/v3/` (or `/openapi/v3/api/v1/`) names no group version.
        if path == "/openapi/v3":
            return json_response(openapi.openapi_v3_root())
        if path.startswith("/openapi/v3/") and not path.endswith("/"):
            gv = path[len("/openapi/v3/") :]
            body = openapi.openapi_v3_bytes(gv)
            if body is not None:
                etag = openapi.openapi_v3_etag(gv) or ""
                if etag and req.headers.get("if-none-match") == etag:
                    return Response(b"", 304, headers={"etag": etag})
                return Response(body, headers={"etag": etag} if etag else None)
        if path == "/openapi/v2":
            accept = req.accept
            wants_protobuf = any(t in accept for t in openapi.V2_PROTOBUF_ACCEPTED)
            if accept and "json" not in accept and "*/*" not in accept and not wants_protobuf:
                raise errors.NotAcceptable("only application/json is served for /openapi/v2")
            etag = openapi.openapi_v2_etag()
            if req.headers.get("if-none-match") == etag:
                return Response(b"", 304, headers={"etag": etag})
            if accept and wants_protobuf and "json" not in accept:
                body = openapi.openapi_v2_protobuf()
                return Response(body, content_type=openapi.V2_PROTOBUF, headers={"etag": etag})
            return Response(openapi.openapi_v2_bytes(), headers={"etag": etag})
        raise errors.NotFound("the server could not find the requested resource")

    def _discovery(self, req: Request, target: paths.GroupPath) -> Response:
        if target.group is None:
            aggregated = discovery.wants_aggregated(req.accept)
            if aggregated:
                doc = discovery.aggregated_discovery(
                    core=target.core, version=discovery.aggregated_version(aggregated)
                )
                return Response(orjson.dumps(doc), content_type=aggregated)
            doc = discovery.api_versions() if target.core else discovery.api_group_list()
            return json_response(doc)
        if target.version is None:
            group = discovery.api_group(target.group)
            if group is None:
                raise errors.NotFound("the server could not find the requested resource")
            return json_response(group)
        resources = discovery.api_resource_list(target.group, target.version)
        if resources is None:
            raise errors.NotFound("the server could not find the requested resource")
        return json_response(resources)

    # ---- resources -----------------------------------------------------------

    async def _resource(
        self, req: Request, target: paths.ResourcePath
    ) -> Response | AsyncIterator[bytes] | proxy.Streamed:
        rt, ns, name, sub = target.resource, target.namespace, target.name, target.subresource
        method = req.method
        customresources.warn_if_deprecated(rt)  # every request to a deprecated version
        if not rt.stored:
            if rt.kind == "ComponentStatus":
                return await componentstatus.handle(self, req, rt, name)
            if rt.storage_version:
                return await converted.handle(self, req, target)
            if rt.group == "metrics.k8s.io":
                return await metrics_api.handle(self, req, rt, ns, name)
            if rt.kind == "Binding":
                return await binding.handle(self, req, target)
            return await reviews.handle(self, req, rt, ns)
        if sub == "proxy":
            return await proxy.handle(self, req, target)
        if sub == "token" and rt.kind == "ServiceAccount":
            return await token_request(self, req, target)
        if sub:
            return await subresources.handle(self, req, target)
        if name is None:
            if method == "GET":
                if target.legacy_watch or req.flag("watch"):
                    return self._watch(req, rt, ns)
                return await self._list(req, rt, ns)
            if method == "POST":
                return await self._create(req, rt, ns)
            if method == "DELETE":
                return await self._delete_collection(req, rt, ns)
            raise errors.MethodNotAllowed(
                "the server does not allow this method on the requested resource"
            )
        if method == "GET":
            if target.legacy_watch or req.flag("watch"):
                field = f"metadata.name={name}"
                req.query["fieldSelector"] = ",".join(
                    s for s in (req.query.get("fieldSelector"), field) if s
                )
                return self._watch(req, rt, ns)
            await listoptions.get_not_older_than(
                self.storage.store, req.query.get("resourceVersion")
            )
            return self.render_one(req, rt, self.storage.get(rt, ns, name).value)
        if method == "PUT":
            obj = await self.read_object(req, rt)
            kv = await self.storage.aupdate(rt, ns, name, obj, dry_run=dry_run(req))
            return Response(self.served(rt, kv.value))
        if method == "PATCH":
            return await self.patch(req, rt, ns, name)
        if method == "DELETE":
            return await self._delete(req, rt, ns, name)
        raise errors.MethodNotAllowed(
            "the server does not allow this method on the requested resource"
        )

    async def read_object(self, req: Request, rt: ResourceType) -> dict[str, Any]:
        requestoptions.check_write(req.method, req.query)
        body = await bodies.read_body(req.receive)
        obj = bodies.decode_object(body, req.headers.get("content-type"))
        self._field_validation(req, rt, obj, body)
        return obj

    def _field_validation(
        self,
        req: Request,
        rt: ResourceType,
        obj: dict[str, Any],
        body: bytes | None,
        *,
        warn: bool = True,
    ) -> None:
        """Unknown (and, under Strict, duplicate) fields: refused under Strict; under
        Warn, the default, unknown ones dropped with a `Warning` each, as upstream's
        handlers add them (a duplicate key's second parse costs every write a
        third of its time, so Warn leaves duplicates unreported)."""
        mode = req.query.get("fieldValidation") or "Warn"  # checked with the request's options
        try:
            if rt.custom is not None:
                check_meta_types(obj)
                unknown = customresources.prune_unknown(rt, obj, remove=mode != "Strict")
            else:
                unknown = check_fields(rt, obj, prune=mode != "Strict")
        except TypeMismatch as exc:
            raise errors.BadRequest(
                f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: {exc}'
            ) from None
        if mode == "Ignore" or (mode == "Warn" and not warn):
            return
        problems = [f'unknown field "{f}"' for f in unknown]
        json_body = (
            body is not None and bodies.media_type(req.headers.get("content-type")) == bodies.JSON
        )
        if json_body and mode == "Strict":  # a second parse: only where it refuses
            problems += [f'duplicate field "{f}"' for f in bodies.find_duplicate_keys(body or b"")]
        if mode == "Warn":
            for problem in problems:
                add_warning(problem)
            return
        if problems:
            raise errors.BadRequest(
                f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: '
                f"strict decoding error: {', '.join(problems)}"
            )

    async def _create(self, req: Request, rt: ResourceType, ns: str | None) -> Response:
        obj = await self.read_object(req, rt)
        if rt.kind == "Pod":
            await await_service_account(self.storage, ns, obj)
        kv = await self.storage.acreate(rt, ns, obj, dry_run=dry_run(req), posted=True)
        return Response(self.served(rt, kv.value), 201)

    async def patch(
        self, req: Request, rt: ResourceType, ns: str | None, name: str, sub: str = ""
    ) -> Response:
        from kubelite.apiserver import patching

        body = await bodies.read_body(req.receive)
        kv = await patching.apply_patch(self, req, rt, ns, name, body, subresource=sub)
        return Response(self.served(rt, kv.value), 201 if getattr(kv, "created", False) else 200)

    async def _delete(self, req: Request, rt: ResourceType, ns: str | None, name: str) -> Response:
        options = await delete_options(req)
        kv, gone = await self.storage.adelete(rt, ns, name, options)
        if not gone or (rt.kind in RETURN_DELETED and rt.custom is None):
            return Response(self.served(rt, kv.value))
        return json_response(deleted_status(rt, name, kv.obj()["metadata"].get("uid")))

    async def _delete_collection(self, req: Request, rt: ResourceType, ns: str | None) -> Response:
        options = await delete_options(req)
        selectors = Selectors.parse(
            rt, req.query.get("labelSelector"), req.query.get("fieldSelector")
        )
        deleted = await self.storage.adelete_collection(rt, ns, selectors, options)
        return self._list_body(rt, [kv.value for kv in deleted], self.storage.store.revision, None)

    # ---- list, get, watch rendering -------------------------------------------

    async def _list(self, req: Request, rt: ResourceType, ns: str | None) -> Response:
        selectors = Selectors.parse(
            rt, req.query.get("labelSelector"), req.query.get("fieldSelector")
        )
        limit = int_param(req.query.get("limit"), "limit")
        options = listoptions.parse(req.query, watch=False, limit=limit)
        await listoptions.wait_for_revision(self.storage.store, options)
        result = self.storage.list(
            rt,
            ns,
            selectors,
            limit=limit,
            continue_token=options.continue_token or None,
            options=options,
        )
        if req.wants_table:
            objs = [orjson.loads(self.served(rt, kv.value)) for kv in result.items]
            table = to_table(
                rt.kind,
                objs,
                include_object=req.query.get("includeObject", "Metadata"),
                list_meta=list_meta(
                    result.resource_version, result.continue_token, result.remaining
                ),
                resource=rt,
            )
            return json_response(table)
        if req.wants_partial:
            return json_response(
                {
                    "kind": "PartialObjectMetadataList",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": list_meta(
                        result.resource_version, result.continue_token, result.remaining
                    ),
                    "items": [partial_metadata(kv.obj()) for kv in result.items],
                }
            )
        return self._list_body(
            rt,
            [self.served(rt, kv.value) for kv in result.items],
            result.resource_version,
            result.continue_token,
            result.remaining,
        )

    def _list_body(
        self,
        rt: ResourceType,
        raws: list[bytes],
        rev: int,
        token: str | None,
        remaining: int | None = None,
    ) -> Response:
        meta = list_meta(rev, token, remaining)
        head = orjson.dumps({"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": meta})
        body = head[:-1] + b',"items":[' + b",".join(raws) + b"]}"
        return Response(body)

    def served(self, rt: ResourceType, raw: bytes) -> bytes:
        """A stored object as `rt` answers with it (custom resources: version and defaults)."""
        return raw if rt.custom is None else customresources.served(rt, raw)

    def render_one(self, req: Request, rt: ResourceType, raw: bytes) -> Response:
        raw = self.served(rt, raw)
        if req.wants_table:
            table = to_table(
                rt.kind,
                [orjson.loads(raw)],
                include_object=req.query.get("includeObject", "Metadata"),
                resource=rt,
            )
            return json_response(table)
        if req.wants_partial:
            return json_response(partial_metadata(orjson.loads(raw)))
        return Response(raw)

    def _watch(self, req: Request, rt: ResourceType, ns: str | None) -> AsyncIterator[bytes]:
        selectors = Selectors.parse(
            rt, req.query.get("labelSelector"), req.query.get("fieldSelector")
        )
        options = listoptions.parse(req.query, watch=True)
        wreq = WatchRequest(
            resource=rt,
            namespace=ns,
            selectors=selectors,
            resource_version=req.query.get("resourceVersion"),
            bookmarks=req.flag("allowWatchBookmarks"),
            timeout_s=float(options.timeout_seconds) if options.timeout_seconds else None,
            send_initial_events=options.send_initial_events,
        )
        return _encode_events(watch_batches(self.storage, wreq), rt, req)


def _is_health_path(path: str) -> bool:
    """`/healthz`, `/livez`, `/readyz` and their checks (`/livez/ping`), without a trailing
    slash: upstream registers each as an exact path."""
    return healthz.is_health_path(path) and not path.endswith("/")


def _encode_events(
    batches: AsyncIterator[list[WatchEvent]], rt: ResourceType, req: Request
) -> AsyncIterator[bytes]:
    """One chunk per batch of ready events: a busy watch is written, not dripped."""
    table = req.wants_table
    include = req.query.get("includeObject", "Metadata")

    def line(ev: WatchEvent) -> bytes:
        if rt.custom is not None and ev.type not in ("ERROR", "BOOKMARK"):
            ev = _served_event(rt, ev)
        if table and ev.type not in ("ERROR", "BOOKMARK"):
            obj = ev.obj if ev.obj is not None else orjson.loads(ev.raw or b"{}")
            payload = orjson.dumps(to_table(rt.kind, [obj], include_object=include, resource=rt))
        elif ev.raw is not None:
            payload = ev.raw
        else:
            payload = orjson.dumps(ev.obj)
        return b'{"type":"' + ev.type.encode() + b'","object":' + payload + b"}\n"

    async def gen() -> AsyncIterator[bytes]:
        async for batch in batches:
            yield b"".join([line(ev) for ev in batch])

    return gen()


def _served_event(rt: ResourceType, ev: WatchEvent) -> WatchEvent:
    raw = ev.raw if ev.raw is not None else orjson.dumps(ev.obj)
    return WatchEvent(ev.type, raw=customresources.served(rt, raw))


async def _stream(
    chunks: AsyncIterator[bytes],
    send: Send,
    content_type: bytes = b"application/json",
    *,
    warnings: list[str] | None = None,
) -> None:
    headers = [
        (b"content-type", content_type),
        (b"cache-control", b"no-cache, private"),
        (b"transfer-encoding", b"chunked"),
    ]
    headers += [(b"warning", warning_header(w).encode()) for w in warnings or ()]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    try:
        async for chunk in chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    except OSError:
        pass  # the client went away
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def deleted_status(rt: ResourceType, name: str, uid: str | None) -> dict[str, Any]:
    """The `Status` a DELETE answers with once the object is gone."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {
            "name": name,
            **({"group": rt.group} if rt.group else {}),
            "kind": rt.plural,
            "uid": uid,
        },
    }


async def delete_options(req: Request) -> DeleteOptions:
    body = await bodies.read_body(req.receive)
    parsed = bodies.parse_json(body) if body.strip() else None
    if parsed is not None and not isinstance(parsed, dict):
        raise errors.BadRequest("DeleteOptions must be a JSON object")
    return DeleteOptions.parse(parsed, req.query)


def dry_run(req: Request) -> bool:
    return bool(req.query.get("dryRun"))


def int_param(value: str | None, name: str) -> int:
    """An int64 query parameter (`limit`): strconv's 400 if it does not parse."""
    return max(0, queryparams.int64(value)) if value is not None else 0


def list_meta(rev: int, token: str | None, remaining: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"resourceVersion": str(rev)}
    if token:
        out["continue"] = token
    if remaining is not None:
        out["remainingItemCount"] = remaining
    return out


def partial_metadata(obj: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata", {}),
    }
