"""Every verb of a version served by conversion (autoscaling/v1 HPAs over stored v2,
events.k8s.io/v1 Events over core/v1 ones).

Each request is the stored version's request with a conversion at each end,
as kube-apiserver's generic handlers convert at decode and encode time:

- bodies (create, update, status update) are checked against the served
  version (its apiVersion and kind, its fields for `fieldValidation`), then
  converted and handed to the stored version's storage, so defaults,
  admission, validation and the controllers are the stored version's and a
  refused write changes nothing;
- patches apply to the served view of the stored object (see `patching`);
- answers, list items and watch events are converted back. Tables are
  printed from the stored object, as upstream prints from its internal
  version, with the served version's object in the row when
  `includeObject=Object` asks for it;
- field selectors name the served version's labels, mapped onto the stored
  version's (`Conversion.field_selector`);
- a version that upstream validates as itself (events.k8s.io) has its writes
  validated in its own view (`request_context.ServedValidation`).

resourceVersion, uid and managedFields pass through untouched: it is one
object, whichever version reads or writes it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import orjson

from kubelite.apiserver import bodies, errors, listoptions, patching, request_context
from kubelite.apiserver.conversion import Conversion, conversion_for
from kubelite.apiserver.rest import Selectors
from kubelite.apiserver.tables import to_table
from kubelite.apiserver.watching import WatchEvent, WatchRequest, watch_batches

if TYPE_CHECKING:
    from kubelite.apiserver.http import ApiApp, Request, Response
    from kubelite.apiserver.paths import ResourcePath

Obj = dict[str, Any]


def _not_allowed() -> errors.ApiError:
    return errors.MethodNotAllowed(
        "the server does not allow this method on the requested resource"
    )


async def handle(
    app: ApiApp, req: Request, target: ResourcePath
) -> Response | AsyncIterator[bytes]:
    conv = conversion_for(target.resource)
    assert conv is not None, "routed here only for types with a storage version"
    if not conv.validate_served or req.method == "GET":
        return await _handle(app, req, conv, target)
    storage = conv.storage
    token = request_context.set_served_validation(
        request_context.ServedValidation(
            storage.api_version, storage.kind, conv.served.group, conv.served_view
        )
    )
    try:
        return await _handle(app, req, conv, target)
    finally:
        request_context.reset_served_validation(token)


async def _handle(
    app: ApiApp, req: Request, conv: Conversion, target: ResourcePath
) -> Response | AsyncIterator[bytes]:
    ns, name, method = target.namespace, target.name, req.method
    if target.subresource == "status" and name is not None:
        return await _status(app, req, conv, ns, name)
    if target.subresource:
        raise _not_allowed()
    if name is None:
        if method == "GET":
            if target.legacy_watch or req.flag("watch"):
                return _watch(app, req, conv, ns)
            return _list(app, req, conv, ns)
        if method == "POST":
            return await _create(app, req, conv, ns)
        if method == "DELETE":
            return await _delete_collection(app, req, conv, ns)
        raise _not_allowed()
    if method == "GET":
        if target.legacy_watch or req.flag("watch"):
            field = f"metadata.name={name}"
            req.query["fieldSelector"] = ",".join(
                s for s in (req.query.get("fieldSelector"), field) if s
            )
            return _watch(app, req, conv, ns)
        await listoptions.get_not_older_than(app.storage.store, req.query.get("resourceVersion"))
        return _one(req, conv, app.storage.get(conv.storage, ns, name).obj())
    if method == "PUT":
        obj = await _read_object(app, req, conv)
        kv = await app.storage.aupdate(conv.storage, ns, name, obj, dry_run=_dry(req))
        return _one(req, conv, kv.obj())
    if method == "PATCH":
        return await _patch(app, req, conv, ns, name)
    if method == "DELETE":
        return await _delete(app, req, conv, ns, name)
    raise _not_allowed()


# ---- bodies --------------------------------------------------------------------------------


async def _read_object(app: ApiApp, req: Request, conv: Conversion) -> Obj:
    """The request body, checked as the served version and converted for storage."""
    body = await bodies.read_body(req.receive)
    obj = bodies.decode_object(body, req.headers.get("content-type"))
    conv.check_kind(obj)
    app._field_validation(req, conv.served, obj, body)
    return conv.to_storage(obj)


def _dry(req: Request) -> bool:
    from kubelite.apiserver.http import dry_run

    return dry_run(req)


# ---- answers -------------------------------------------------------------------------------


def _one(req: Request, conv: Conversion, stored: Obj, status: int = 200) -> Response:
    from kubelite.apiserver.http import json_response, partial_metadata

    if req.wants_table:
        return json_response(_table(req, conv, [stored]), status)
    if req.wants_partial:
        return json_response(partial_metadata(stored), status)
    return json_response(conv.from_storage(stored), status)


def _table(req: Request, conv: Conversion, stored: list[Obj], list_meta: Obj | None = None) -> Obj:
    include = req.query.get("includeObject", "Metadata")
    table = to_table(conv.served.kind, stored, include_object=include, list_meta=list_meta)
    if include == "Object":
        for row, obj in zip(table["rows"], stored, strict=True):
            row["object"] = conv.from_storage(obj)
    return table


def _list_response(conv: Conversion, items: list[Obj], meta: Obj) -> Response:
    from kubelite.apiserver.http import json_response

    rt = conv.served
    return json_response(
        {
            "kind": rt.list_kind,
            "apiVersion": rt.api_version,
            "metadata": meta,
            "items": [conv.from_storage(obj) for obj in items],
        }
    )


# ---- verbs ---------------------------------------------------------------------------------


def _selectors(req: Request, conv: Conversion) -> Selectors:
    fields = conv.field_selector(req.query.get("fieldSelector"))
    return Selectors.parse(conv.storage, req.query.get("labelSelector"), fields)


def _list(app: ApiApp, req: Request, conv: Conversion, ns: str | None) -> Response:
    from kubelite.apiserver.http import int_param, json_response, list_meta, partial_metadata

    limit = int_param(req.query.get("limit"), "limit")
    options = listoptions.parse(req.query, watch=False, limit=limit)
    result = app.storage.list(
        conv.storage,
        ns,
        _selectors(req, conv),
        limit=limit,
        continue_token=options.continue_token or None,
        options=options,
    )
    meta = list_meta(result.resource_version, result.continue_token, result.remaining)
    items = [kv.obj() for kv in result.items]
    if req.wants_table:
        return json_response(_table(req, conv, items, meta))
    if req.wants_partial:
        return json_response(
            {
                "kind": "PartialObjectMetadataList",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": meta,
                "items": [partial_metadata(obj) for obj in items],
            }
        )
    return _list_response(conv, items, meta)


async def _create(app: ApiApp, req: Request, conv: Conversion, ns: str | None) -> Response:
    obj = await _read_object(app, req, conv)
    kv = await app.storage.acreate(conv.storage, ns, obj, dry_run=_dry(req), posted=True)
    return _one(req, conv, kv.obj(), 201)


async def _patch(
    app: ApiApp, req: Request, conv: Conversion, ns: str | None, name: str, sub: str = ""
) -> Response:
    body = await bodies.read_body(req.receive)
    kv = await patching.apply_patch(
        app, req, conv.served, ns, name, body, subresource=sub, conversion=conv
    )
    return _one(req, conv, kv.obj(), 201 if getattr(kv, "created", False) else 200)


async def _status(
    app: ApiApp, req: Request, conv: Conversion, ns: str | None, name: str
) -> Response:
    if req.method == "GET":
        return _one(req, conv, app.storage.get(conv.storage, ns, name).obj())
    if req.method == "PUT":
        obj = await _read_object(app, req, conv)
        kv = await app.storage.aupdate(
            conv.storage, ns, name, obj, subresource="status", dry_run=_dry(req)
        )
        return _one(req, conv, kv.obj())
    if req.method == "PATCH":
        return await _patch(app, req, conv, ns, name, "status")
    raise _not_allowed()


async def _delete(
    app: ApiApp, req: Request, conv: Conversion, ns: str | None, name: str
) -> Response:
    from kubelite.apiserver.http import delete_options, deleted_status, json_response

    options = await delete_options(req)
    kv, gone = await app.storage.adelete(conv.storage, ns, name, options)
    if not gone:
        return _one(req, conv, kv.obj())
    return json_response(deleted_status(conv.served, name, kv.obj()["metadata"].get("uid")))


async def _delete_collection(
    app: ApiApp, req: Request, conv: Conversion, ns: str | None
) -> Response:
    from kubelite.apiserver.http import delete_options, list_meta

    options = await delete_options(req)
    deleted = await app.storage.adelete_collection(conv.storage, ns, _selectors(req, conv), options)
    meta = list_meta(app.storage.store.revision, None)
    return _list_response(conv, [kv.obj() for kv in deleted], meta)


# ---- watch ---------------------------------------------------------------------------------


def _watch(app: ApiApp, req: Request, conv: Conversion, ns: str | None) -> AsyncIterator[bytes]:
    options = listoptions.parse(req.query, watch=True)
    wreq = WatchRequest(
        resource=conv.storage,
        namespace=ns,
        selectors=_selectors(req, conv),
        resource_version=req.query.get("resourceVersion"),
        bookmarks=req.flag("allowWatchBookmarks"),
        timeout_s=float(options.timeout_seconds) if options.timeout_seconds else None,
        send_initial_events=options.send_initial_events,
    )
    batches = watch_batches(app.storage, wreq)

    async def gen() -> AsyncIterator[bytes]:
        async for batch in batches:
            yield b"".join([_event_line(req, conv, ev) for ev in batch])

    return gen()


def _event_line(req: Request, conv: Conversion, ev: WatchEvent) -> bytes:
    """One watch event in the served version (a bookmark names it too; errors are Status)."""
    if ev.type == "ERROR":
        payload = orjson.dumps(ev.obj)
    elif ev.type == "BOOKMARK":
        payload = orjson.dumps({**(ev.obj or {}), "apiVersion": conv.served.api_version})
    else:
        stored = ev.obj if ev.obj is not None else orjson.loads(ev.raw or b"{}")
        view = _table(req, conv, [stored]) if req.wants_table else conv.from_storage(stored)
        payload = orjson.dumps(view)
    return b'{"type":"' + ev.type.encode() + b'","object":' + payload + b"}\n"
