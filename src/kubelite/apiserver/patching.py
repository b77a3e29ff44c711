"""PATCH: the four patch types kubectl and clients send, and server-side apply.

JSON merge, JSON patch and strategic merge change a copy of the stored
object, which then goes through the same update path as a PUT (defaults,
admission, validation, optimistic concurrency). Server-side apply creates the
object when it is absent, refuses a configuration that does not fit the kind's
type (`ssa_typed`), merges it into the live object as upstream's structured
merge does (`ssa_merge`: live list order kept, a `resourceVersion` merged like
any field, so a stale one conflicts), and keeps field ownership in
`managedFields` (conflicts, `force`, dropped fields: see `managedfields`).

For a version served by conversion (`conversion.Conversion`), every patch
applies to the served view of the stored object, which is then converted
back and written: the patch means what it says in the version it was sent to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from kubelite.api import clientmodels
from kubelite.api.patch import json_merge_patch, json_patch, strategic_merge_patch
from kubelite.api.registry import ResourceType
from kubelite.apiserver import (
    bodies,
    errors,
    managedfields,
    request_context,
    requestoptions,
    ssa_merge,
    ssa_typed,
)
from kubelite.apiserver import meta as m
from kubelite.apiserver.rest import check_put_target
from kubelite.store import KV

if TYPE_CHECKING:
    from kubelite.apiserver.conversion import Conversion
    from kubelite.apiserver.http import ApiApp, Request


MAX_JSON_PATCH_OPERATIONS = 10_000  # kube-apiserver's limit

Mutate = Callable[[dict[str, Any]], dict[str, Any]]


class CreatedKV(KV):
    """A KV that came from an apply which created the object (answers 201)."""

    created = True


async def apply_patch(
    app: ApiApp,
    req: Request,
    rt: ResourceType,
    ns: str | None,
    name: str,
    body: bytes,
    *,
    subresource: str = "",
    conversion: Conversion | None = None,
) -> KV:
    """Patch `rt`'s object; with a `conversion`, `rt` is the served version.

    Returns the stored object as written (callers convert it for the answer).
    """
    kind = bodies.media_type(req.headers.get("content-type"))
    if kind not in bodies.PATCH_TYPES:
        raise errors.UnsupportedMediaType(
            f"the body of the request was in an unknown format - accepted media types "
            f"include: {', '.join(bodies.PATCH_TYPES)}"
        )
    if kind == bodies.STRATEGIC_PATCH and rt.custom is not None:
        from kubelite.apiserver.customresources import unsupported_patch

        raise unsupported_patch()
    requestoptions.check_patch(req.query, apply=kind == bodies.APPLY_PATCH)
    dry = bool(req.query.get("dryRun"))
    if kind == bodies.APPLY_PATCH:
        return await _server_side_apply(app, req, rt, ns, name, body, subresource, dry, conversion)
    patch = bodies.parse_json(body)
    mutate = _mutator(kind, patch, rt)

    def checked(obj: dict[str, Any]) -> dict[str, Any]:
        new = mutate(obj)
        if isinstance(new, dict):
            # the patched object names the URL's, as an update's body must
            check_put_target(m.meta(new), name, ns if rt.namespaced else None)
            app._field_validation(req, rt, new, None)
            keep_null_template_timestamps(new, obj)
        return new

    storage_rt = rt if conversion is None else conversion.storage
    return await app.storage.areplace_with(
        storage_rt, ns, name, _through(conversion, checked), subresource=subresource, dry_run=dry
    )


def _through(conversion: Conversion | None, mutate: Mutate) -> Mutate:
    """`mutate` applied to the served view of a stored object, the result stored again."""
    if conversion is None:
        return mutate

    def converted(stored: dict[str, Any]) -> dict[str, Any]:
        new = mutate(conversion.from_storage(stored))
        if not isinstance(new, dict):
            return new  # replace_with refuses it
        conversion.check_kind(new)
        return conversion.to_storage(new)

    return converted


def _mutator(kind: str, patch: Any, rt: ResourceType):  # type: ignore[no-untyped-def]
    if kind == bodies.JSON_PATCH:
        if not isinstance(patch, list):
            raise errors.BadRequest(
                "json: cannot unmarshal object into Go value of type jsonpatch.Patch"
            )

        if len(patch) > MAX_JSON_PATCH_OPERATIONS:
            raise errors.RequestEntityTooLarge(
                "The allowed number of operations in a JSON patch is "
                f"{MAX_JSON_PATCH_OPERATIONS}, got {len(patch)}"
            )

        def do_json_patch(obj: dict[str, Any]) -> dict[str, Any]:
            try:
                return json_patch(obj, patch)
            except ValueError as exc:
                raise errors.Invalid(str(exc)) from exc

        return do_json_patch
    if not isinstance(patch, dict):
        raise errors.BadRequest("the patch must be a JSON object")
    if kind == bodies.MERGE_PATCH:
        return lambda obj: json_merge_patch(obj, patch)

    def do_strategic(obj: dict[str, Any]) -> dict[str, Any]:
        try:
            return strategic_merge_patch(obj, patch, kind=rt.kind)
        except ValueError as exc:
            raise errors.BadRequest(str(exc)) from exc

    return do_strategic


async def _server_side_apply(
    app: ApiApp,
    req: Request,
    rt: ResourceType,
    ns: str | None,
    name: str,
    body: bytes,
    subresource: str,
    dry: bool,
    conversion: Conversion | None = None,
) -> KV:
    manager = req.query["fieldManager"]  # required by the patch's options
    applied = (
        bodies.parse_yaml(body) if not body.lstrip().startswith(b"{") else bodies.parse_json(body)
    )
    if not isinstance(applied, dict):
        raise errors.BadRequest("the applied configuration must be an object")
    api_version, kind = str(applied.get("apiVersion") or ""), str(applied.get("kind") or "")
    if (api_version, kind) != (rt.api_version, rt.kind):
        # the field manager's version check: an apply configuration names its type
        group, _, version = api_version.rpartition("/")
        raise errors.BadRequest(f"invalid object type: {group}/{version}, Kind={kind}")
    if _carries_managed_fields(applied):
        raise errors.BadRequest("metadata.managedFields must be nil")
    ssa_typed.check_applied(rt, applied, ns, name)  # upstream's first step: the typed form
    if m.meta(applied).get("name") not in (None, name):
        raise errors.BadRequest(
            f"the name of the object ({applied['metadata']['name']}) does not match "
            f"the name on the URL ({name})"
        )
    app._field_validation(req, rt, applied, None, warn=False)
    # The entry names the version applied (upstream records the request's version).
    entry = managedfields.make_entry(
        manager,
        "Apply",
        rt.api_version,
        set(managedfields.owned_fields(applied, rt.kind, subresource)),
        subresource,
    )
    storage_rt = rt if conversion is None else conversion.storage
    existing = app.storage.store.get(storage_rt.key(ns, name))
    if existing is None:
        if subresource:
            raise errors.NotFound.object(rt.plural, rt.group, name)
        obj = orjson.loads(orjson.dumps(applied))
        if rt.custom is None:  # created from the typed configuration: nulls are zero values
            obj = ssa_merge.without_nulls(obj)
            keep_null_template_timestamps(obj, applied)
        m.meta(obj)["name"] = name
        m.meta(obj)["managedFields"] = [entry]
        if conversion is not None:
            conversion.check_kind(obj)
            obj = conversion.to_storage(obj)
        kv = await app.storage.acreate(storage_rt, ns, obj, dry_run=dry)
        return CreatedKV(kv.key, kv.revision, kv.create_revision, kv.value)
    force = req.flag("force")

    def mutate(obj: dict[str, Any]) -> dict[str, Any]:
        # A `resourceVersion` in the configuration is merged like any field, so a
        # stale one fails the write with a conflict (optimistic locking, as upstream).
        patch = orjson.loads(orjson.dumps(applied))
        if rt.custom is not None:  # no Go types: maps merge, lists are atomic, as upstream
            merged = json_merge_patch(obj, patch)
        else:
            model = clientmodels.model_name(rt)
            merged = ssa_merge.merge_applied(obj, patch, kind=rt.kind, model=model)
            keep_null_template_timestamps(merged, obj)
        if conversion is not None:  # fields of another version: record, never compare
            fields = [
                f
                for f in (m.meta(merged).get("managedFields") or [])
                if not (f.get("manager") == manager and f.get("operation") == "Apply")
            ]
            m.meta(merged)["managedFields"] = [*fields, entry]
            return merged
        return managedfields.apply_ownership(
            obj,
            merged,
            applied,
            kind=rt.kind,
            api_version=rt.api_version,
            manager=manager,
            force=force,
            subresource=subresource,
        )

    token = request_context.set_applying(True)
    try:
        return await app.storage.areplace_with(
            storage_rt, ns, name, _through(conversion, mutate), subresource=subresource, dry_run=dry
        )
    finally:
        request_context.reset_applying(token)


def _carries_managed_fields(applied: dict[str, Any]) -> bool:
    """Upstream reads the entries as its accessor does: a list of maps (even `[]`)."""
    entries = _at(applied, ("metadata",)) or {}
    fields = entries.get("managedFields")
    return isinstance(fields, list) and all(isinstance(e, dict) for e in fields)


# Where a pod template's metadata sits in the kinds that carry one.
_TEMPLATE_PATHS = (
    ("spec", "template"),
    ("template",),
    ("spec", "jobTemplate"),
    ("spec", "jobTemplate", "spec", "template"),
)


def keep_null_template_timestamps(new: dict[str, Any], old: dict[str, Any]) -> None:
    """A patch cannot remove a template's `creationTimestamp: null`.

    Upstream decodes the patched object into its Go type, where the field always
    exists and prints as `null`; so a patch that "deletes" it (client-side apply of
    `kubectl create --dry-run=client -o yaml` output, the dry run `kubectl diff`
    sends) changes nothing there. Stored objects that carry the null keep it here.
    """
    for path in _TEMPLATE_PATHS:
        before, after = _at(old, (*path, "metadata")), _at(new, (*path, "metadata"))
        if before is None or after is None or "creationTimestamp" not in before:
            continue
        if before["creationTimestamp"] is None:
            after.setdefault("creationTimestamp", None)


def _at(obj: Any, path: tuple[str, ...]) -> dict[str, Any] | None:
    for key in path:
        if not isinstance(obj, dict):
            return None
        obj = obj.get(key)
    return obj if isinstance(obj, dict) else None
