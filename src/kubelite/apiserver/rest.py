"""The API's semantics, without HTTP: what kube-apiserver's generic registry does.

`RestStorage` turns a verb on a resource into store operations: it fills
system metadata, defaults, admits and validates, checks preconditions, and
implements graceful deletion and finalizers. The HTTP layer and the
in-process client both call it, so every caller gets the same behaviour.

All methods run on the event-loop thread (the store is single-threaded);
none of them awaits between reading and writing an object, so a
read-modify-write here is atomic without locks.
"""

from __future__ import annotations

import base64
import builtins
import logging
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson

from kubelite.api.defaults import apply_defaults, prepare_update, stamp_no_execute_taints
from kubelite.api.fielderrors import FieldError, GoValue, invalid
from kubelite.api.registry import REGISTRY, Registry, ResourceType
from kubelite.api.selectors import (
    LabelSelector,
    custom_field_value,
    parse_field_selector,
    parse_label_selector,
)
from kubelite.api.timefields import DecodeError, normalize_object
from kubelite.api.validation import validate
from kubelite.apiserver import (
    csr_strategy,
    customresources,
    errors,
    listoptions,
    managedfields,
    queryparams,
    request_context,
    requestoptions,
)
from kubelite.apiserver import meta as m
from kubelite.apiserver.admission import (
    AdmissionPlugin,
    Attributes,
    ValidatingPlugin,
    default_plugins,
)
from kubelite.apiserver.crds import CrdRegistrar
from kubelite.apiserver.fieldlabels import field_labels
from kubelite.apiserver.resourcequota_admission import ResourceQuotaAdmission
from kubelite.apiserver.webhook_rules import Request as WebhookRequest
from kubelite.apiserver.webhooks import Webhooks, WebhookStep, operation_options
from kubelite.store import KV, Compacted, KeyExists, KeyNotFound, Store, StoreError
from kubelite.store import Conflict as StoreConflict

log = logging.getLogger(__name__)

T = TypeVar("T")
# A write as a generator: it yields where admission webhooks are called and
# receives the object they leave (see `webhooks`); returns the write's result.
Steps = Generator[WebhookStep, dict[str, Any] | None, T]
# Retries of a write whose object changed while its webhooks were awaited.
_WEBHOOK_RETRIES = 3

# Kinds whose status writes may also change annotations (upstream's status
# strategies for these keep everything but spec and labels).
_STATUS_WRITES_ANNOTATIONS = frozenset(
    {"Deployment", "ReplicaSet", "ReplicationController", "StatefulSet"}
)

# Kinds whose DELETE answers with the object rather than a Status, as upstream.
RETURN_DELETED = frozenset({"Pod", "Service", "Namespace", "Node"})


@dataclass(frozen=True)
class ListResult:
    items: list[KV]
    resource_version: int
    continue_token: str | None
    remaining: int | None


@dataclass(frozen=True)
class Selectors:
    labels: LabelSelector | None = None
    fields: Any = None  # FieldSelector | None
    custom: bool = False  # a custom resource's: fields read at their plain paths

    @classmethod
    def parse(cls, rt: ResourceType, label: str | None, field: str | None) -> Selectors:
        try:
            labels = parse_label_selector(label) if label else None
        except ValueError as exc:
            raise errors.BadRequest(str(exc)) from exc
        fields = None
        if field:
            try:
                fields = parse_field_selector(field)
            except ValueError as exc:
                raise errors.BadRequest(str(exc)) from exc
            allowed = field_labels(rt)
            for label, _, _ in fields.requirements:
                if label not in allowed.supported:
                    raise errors.BadRequest(allowed.refuse(label))
        return cls(labels, fields, rt.custom is not None)

    @property
    def empty(self) -> bool:
        return self.labels is None and self.fields is None

    def matches(self, obj: dict[str, Any]) -> bool:
        if self.labels is not None and not self.labels.matches(
            obj.get("metadata", {}).get("labels") or {}
        ):
            return False
        if self.fields is None:
            return True
        if self.custom:
            return bool(self.fields.matches(lambda name: custom_field_value(obj, name)))
        return bool(self.fields.matches(obj))

    def exact_name(self) -> str | None:
        """`metadata.name=X` lets a list read one key instead of scanning."""
        if self.fields is None:
            return None
        for field, op, value in self.fields.requirements:
            if field == "metadata.name" and op in ("=", "=="):
                return str(value)
        return None


@dataclass(frozen=True)
class DeleteOptions:
    grace_period_seconds: int | None = None
    propagation_policy: str | None = None
    preconditions: dict[str, Any] | None = None
    dry_run: bool = False

    @classmethod
    def parse(cls, body: dict[str, Any] | None, query: dict[str, str]) -> DeleteOptions:
        """From the body when one was sent, else from the query: upstream's delete
        handlers decode one or the other, never both."""
        options = _query_delete_options(query) if body is None else body
        requestoptions.check_delete(options)
        grace = options.get("gracePeriodSeconds")
        policy = options.get("propagationPolicy")
        orphan = options.get("orphanDependents")
        if orphan is not None and policy is None:  # the deprecated flag, as a policy
            policy = "Orphan" if orphan is True else "Background"
        return cls(
            grace_period_seconds=None if grace is None else int(grace),
            propagation_policy=policy,
            preconditions=options.get("preconditions"),
            dry_run=bool(options.get("dryRun")),
        )

    def webhook_options(self) -> dict[str, Any]:
        """The DeleteOptions fields a webhook's review carries under `options`."""
        out: dict[str, Any] = {}
        if self.grace_period_seconds is not None:
            out["gracePeriodSeconds"] = self.grace_period_seconds
        if self.propagation_policy is not None:
            out["propagationPolicy"] = self.propagation_policy
        if self.preconditions:
            out["preconditions"] = self.preconditions
        return out


def _query_delete_options(query: dict[str, str]) -> dict[str, Any]:
    """A DELETE's query as the DeleteOptions body it stands for (numbers and flags
    decoded as upstream's parameter codec decodes them)."""
    out: dict[str, Any] = {}
    if "gracePeriodSeconds" in query:
        out["gracePeriodSeconds"] = queryparams.int64(query["gracePeriodSeconds"])
    if "propagationPolicy" in query:
        out["propagationPolicy"] = query["propagationPolicy"]
    if "orphanDependents" in query:
        out["orphanDependents"] = queryparams.flag(query["orphanDependents"])
    if query.get("dryRun"):
        out["dryRun"] = [query["dryRun"]]
    return out


class RestStorage:
    def __init__(
        self,
        store: Store,
        *,
        registry: Registry = REGISTRY,
        admission: list[AdmissionPlugin] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.registry = registry
        self.admission = default_plugins() if admission is None else admission
        # Picked once: an isinstance check against a runtime Protocol costs microseconds,
        # and every write (a pod's status among them) would pay it per plugin.
        self._validating = [p for p in self.admission if isinstance(p, ValidatingPlugin)]
        # Allocators read what is taken from the store: they run after the webhooks,
        # right before the write, so an await cannot let two writes take the same thing.
        self._late = [p for p in self.admission if getattr(p, "after_webhooks", False)]
        self._early = [p for p in self.admission if p not in self._late]
        self.clock = clock
        self.webhooks = Webhooks(store, registry=registry)
        # CRDs define types: those stored are served again from the start.
        self.crds = CrdRegistrar(store, registry)
        self.crds.load()

    # ---- reads ---------------------------------------------------------------

    def get(self, rt: ResourceType, namespace: str | None, name: str) -> KV:
        kv = self.store.get(rt.key(namespace, name))
        if kv is None:
            raise errors.NotFound.object(rt.plural, rt.group, name)
        return kv

    def list(
        self,
        rt: ResourceType,
        namespace: str | None,
        selectors: Selectors = Selectors(),
        *,
        limit: int = 0,
        continue_token: str | None = None,
        options: listoptions.ListOptions | None = None,
    ) -> ListResult:
        """A list, read now or at the revision `options` (or the continue token) names:
        every page of a chunked list is read at its first page's revision."""
        prefix = rt.prefix(namespace)
        start_after: str | None = None
        at: int | None = None
        if continue_token:
            if options is not None and options.resource_version not in ("", "0"):
                raise errors.BadRequest(
                    "specifying resource version is not allowed when using continue"
                )
            start_after, token_rev = _decode_continue(continue_token, prefix)
            at = token_rev if token_rev > 0 else None  # -1: go on at the latest revision
        elif options is not None:
            at = listoptions.list_revision(options, self.store.revision)
        try:
            return self._list_at(rt, namespace, prefix, selectors, limit, start_after, at)
        except Compacted:
            if start_after is None:
                raise errors.Gone(listoptions.EXPIRED_LIST) from None
            raise errors.Gone(
                listoptions.INCONSISTENT_CONTINUE,
                continue_token=_encode_continue(start_after, -1),
            ) from None

    def _list_at(
        self,
        rt: ResourceType,
        namespace: str | None,
        prefix: str,
        selectors: Selectors,
        limit: int,
        start_after: str | None,
        at: int | None,
    ) -> ListResult:
        name = selectors.exact_name()
        if name is not None and (namespace or not rt.namespaced):
            kv = self.store.get_at(rt.key(namespace, name), at)
            hits = [kv] if kv is not None and selectors.matches(kv.obj()) else []
            return ListResult(hits, at or self.store.revision, None, None)
        if selectors.empty:
            items, rev, more = self.store.list(
                prefix, limit=limit, start_after=start_after, revision=at
            )
            token = _encode_continue(items[-1].key, rev) if more and items else None
            # Known exactly only without selectors, so only then (as upstream's etcd3 store).
            remaining = (
                self.store.count(prefix, start_after=items[-1].key, revision=at) if token else None
            )
            return ListResult(items, rev, token, remaining)
        return self._list_filtered(prefix, selectors, limit, start_after, at)

    def _list_filtered(
        self,
        prefix: str,
        selectors: Selectors,
        limit: int,
        start_after: str | None,
        at: int | None = None,
    ) -> ListResult:
        items, rev, _ = self.store.list(prefix, start_after=start_after, revision=at)
        hits: list[KV] = []
        for i, kv in enumerate(items):
            if not selectors.matches(kv.obj()):
                continue
            hits.append(kv)
            if limit and len(hits) == limit:
                rest = items[i + 1 :]
                more = any(selectors.matches(k.obj()) for k in rest)
                token = _encode_continue(kv.key, rev) if more else None
                return ListResult(hits, rev, token, None)
        return ListResult(hits, rev, None, None)

    # ---- writes --------------------------------------------------------------

    def create(
        self,
        rt: ResourceType,
        namespace: str | None,
        obj: dict[str, Any],
        *,
        dry_run: bool = False,
    ) -> KV:
        """Create without calling webhooks (kubelite's own synchronous writes)."""
        return _run_now(self._create(rt, namespace, obj, dry_run=dry_run))

    async def acreate(
        self,
        rt: ResourceType,
        namespace: str | None,
        obj: dict[str, Any],
        *,
        dry_run: bool = False,
        posted: bool = False,
    ) -> KV:
        """Create as a client's request is served: admission webhooks included.
        `posted`: the body of a POST, which may not carry a resourceVersion."""
        return await self._run(
            lambda: self._create(rt, namespace, obj, dry_run=dry_run, posted=posted)
        )

    def _create(
        self,
        rt: ResourceType,
        namespace: str | None,
        obj: dict[str, Any],
        *,
        dry_run: bool = False,
        posted: bool = False,
    ) -> Steps[KV]:
        self._check_type(rt, obj)
        self._decode_values(rt, obj)
        md = m.meta(obj)
        if rt.namespaced:
            ns = md.get("namespace") or namespace
            if namespace and ns != namespace:
                raise errors.BadRequest(
                    "the namespace of the provided object does not match the namespace "
                    "sent on the request"
                )
            md["namespace"] = ns
        else:
            md.pop("namespace", None)
        asked_rv = md.get("resourceVersion")
        m.fill_create(obj, now=self.clock())
        if rt.custom is not None:
            customresources.prepare_create(rt, obj)
        name = str(md.get("name") or "")
        attrs = Attributes("CREATE", rt, md.get("namespace"), name)
        self._admit(attrs, obj, None)
        obj = yield from self._webhook_mutate(attrs, obj, None, dry_run)
        md = m.meta(obj)
        self._admit_late(attrs, obj, None)
        if rt.custom is None:  # PrepareForCreate: after mutating admission (QoS sees its limits)
            _reset_status_on_create(obj)
        if csr_strategy.is_csr(rt.group, rt.kind):
            csr_strategy.prepare_create(obj, request_context.user_info())
        self._default(rt, obj)
        self._validate(rt, obj, None)
        self._admit_validate(attrs, obj, None)
        yield from self._webhook_validate(attrs, obj, None, dry_run)
        self._admit_validate(attrs, obj, None, last=True)
        self._before_write(rt, obj, None)
        if dry_run:
            if self.store.get(rt.key(md.get("namespace"), name)) is not None:
                raise errors.AlreadyExists.object(rt.plural, rt.group, name)
            return _dry_kv(rt.key(md.get("namespace"), name), obj)
        if posted and _set_resource_version(md.get("resourceVersion") or asked_rv):
            # etcd3 store's Create refuses it: an object read back must not be
            # created again as it was (its resourceVersion means nothing there)
            text = "resourceVersion should not be set on objects to be created"
            raise errors.InternalError(
                f"Internal error occurred: {text}", details={"causes": [{"message": text}]}
            )
        try:
            kv = self.store.create(rt.key(md.get("namespace"), name), obj)
        except KeyExists:
            raise errors.AlreadyExists.object(rt.plural, rt.group, name) from None
        self._after_write(rt, kv)
        return kv

    def update(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        obj: dict[str, Any],
        *,
        subresource: str = "",
        dry_run: bool = False,
    ) -> KV:
        """PUT: replace the object (or only its status, for `subresource="status"`);
        no webhooks (kubelite's own synchronous writes)."""
        return _run_now(
            self._update(rt, namespace, name, obj, subresource=subresource, dry_run=dry_run)
        )

    async def aupdate(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        obj: dict[str, Any],
        *,
        subresource: str = "",
        dry_run: bool = False,
    ) -> KV:
        """PUT as a client's request is served: admission webhooks included."""
        if not (self.webhooks.active(mutating=True) or self.webhooks.active(mutating=False)):
            # Nothing to await, so no retry: skip the copy a retry would need.
            return _run_now(
                self._update(rt, namespace, name, obj, subresource=subresource, dry_run=dry_run)
            )
        body = orjson.dumps(obj)  # a retry starts again from the body as sent
        return await self._run(
            lambda: self._update(
                rt, namespace, name, orjson.loads(body), subresource=subresource, dry_run=dry_run
            )
        )

    def _update(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        obj: dict[str, Any],
        *,
        subresource: str = "",
        dry_run: bool = False,
    ) -> Steps[KV]:
        self._check_type(rt, obj)
        current = self.get(rt, namespace, name)
        md = m.meta(obj)
        check_put_target(md, name, namespace if rt.namespaced else None)
        rv = md.get("resourceVersion")
        if rv in (None, "", "0") and not _allows_unconditional_update(rt):
            problem = invalid(
                "metadata.resourceVersion", GoValue("0x0"), "must be specified for an update"
            )
            raise errors.Invalid.fields(rt.plural, rt.group, name, [problem])
        if rv not in (None, "") and str(rv) != str(current.revision):
            raise errors.Conflict.stale(rt.plural, rt.group, name)
        self._decode_values(rt, obj)
        return (
            yield from self._replace(rt, current, obj, subresource=subresource, dry_run=dry_run)
        )

    def _replace(
        self,
        rt: ResourceType,
        current: KV,
        obj: dict[str, Any],
        *,
        subresource: str = "",
        dry_run: bool = False,
    ) -> Steps[KV]:
        """Write `obj` (its times already decoded: by `update` or `_replace_with`)."""
        old = current.obj()
        if csr_strategy.is_csr(rt.group, rt.kind):  # its own strategies, /approval too
            new = csr_strategy.prepare_update(obj, old, subresource, m.now_rfc3339(self.clock()))
        else:
            new = _merge_for_subresource(rt, obj, old, subresource)
        md = m.meta(new)
        md["name"] = old["metadata"]["name"]
        if rt.namespaced:
            md["namespace"] = old["metadata"].get("namespace")
        m.carry_over(new, old)
        prepare_update(new, old)
        attrs = Attributes("UPDATE", rt, md.get("namespace"), md["name"], subresource=subresource)
        md["resourceVersion"] = str(current.revision)
        self._admit(attrs, new, old)
        new = yield from self._webhook_mutate(attrs, new, old, dry_run)
        md = m.meta(new)
        self._admit_late(attrs, new, old)
        self._default(rt, new)
        self._validate(rt, new, old, subresource)
        self._admit_validate(attrs, new, old)
        yield from self._webhook_validate(attrs, new, old, dry_run)
        self._admit_validate(attrs, new, old, last=True)
        if rt.custom is not None:
            customresources.bump_generation(rt, new, old)
        else:
            m.bump_generation(new, old)
        if not request_context.applying():
            managedfields.track_update(
                new,
                old,
                kind=rt.kind,
                api_version=rt.api_version,
                manager=request_context.field_manager(),
                subresource=request_context.entry_subresource(subresource),
            )
        self._before_write(rt, new, old)
        if m.same_content(new, old):
            return current
        if _delete_during_update(new, old):
            return self._delete_now(current, dry_run=dry_run)
        if dry_run:
            return _dry_kv(current.key, new)
        try:
            kv = self.store.update(current.key, new, expected_revision=current.revision)
        except StoreConflict:
            raise errors.Conflict.stale(rt.plural, rt.group, md["name"]) from None
        self._after_write(rt, kv)
        return kv

    def replace_with(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        mutate: Callable[[dict[str, Any]], dict[str, Any]],
        *,
        subresource: str = "",
        dry_run: bool = False,
    ) -> KV:
        """Read, change a copy, write: the patch verbs and the in-process client use it.
        No webhooks (kubelite's own synchronous writes); `areplace_with` calls them."""
        return _run_now(
            self._replace_with(
                rt, namespace, name, mutate, subresource=subresource, dry_run=dry_run
            )
        )

    async def areplace_with(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        mutate: Callable[[dict[str, Any]], dict[str, Any]],
        *,
        subresource: str = "",
        dry_run: bool = False,
    ) -> KV:
        return await self._run(
            lambda: self._replace_with(
                rt, namespace, name, mutate, subresource=subresource, dry_run=dry_run
            )
        )

    def _replace_with(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        mutate: Callable[[dict[str, Any]], dict[str, Any]],
        *,
        subresource: str = "",
        dry_run: bool = False,
    ) -> Steps[KV]:
        current = self.get(rt, namespace, name)
        new = mutate(orjson.loads(current.value))
        if not isinstance(new, dict):
            raise errors.BadRequest("the patched object is not a JSON object")
        rv = m.meta(new).get("resourceVersion")
        if rv not in (None, "") and str(rv) != str(current.revision):
            raise errors.Conflict.stale(rt.plural, rt.group, name)
        if new.get("metadata", {}).get("name", name) != name:
            raise errors.Invalid(
                f'{rt.kind} "{name}" is invalid: metadata.name: Invalid value: '
                f'"{new["metadata"]["name"]}": field is immutable'
            )
        self._decode_patched(rt, new)
        return (
            yield from self._replace(rt, current, new, subresource=subresource, dry_run=dry_run)
        )

    # ---- delete --------------------------------------------------------------

    def delete(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        options: DeleteOptions = DeleteOptions(),
    ) -> tuple[KV, bool]:
        """Delete or start deleting; returns (object, deleted-now). No webhooks."""
        return _run_now(self._delete(rt, namespace, name, options))

    async def adelete(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        options: DeleteOptions = DeleteOptions(),
    ) -> tuple[KV, bool]:
        """DELETE as a client's request is served: admission webhooks included."""
        return await self._run(lambda: self._delete(rt, namespace, name, options))

    def _delete(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        options: DeleteOptions,
    ) -> Steps[tuple[KV, bool]]:
        current = self.get(rt, namespace, name)
        obj = orjson.loads(current.value)
        self._check_preconditions(rt, name, obj, options.preconditions)
        attrs = Attributes("DELETE", rt, namespace, name)
        self._admit(attrs, None, obj)
        extra = options.webhook_options()
        yield from self._webhook_mutate(attrs, None, obj, options.dry_run, extra)
        yield from self._webhook_validate(attrs, None, obj, options.dry_run, extra)
        latest = self.store.get(current.key)  # the webhooks may have been awaited
        if latest is None:
            raise errors.NotFound.object(rt.plural, rt.group, name)
        if latest.revision != current.revision:
            raise errors.Conflict.stale(rt.plural, rt.group, name)
        md = m.meta(obj)
        grace = self._grace_period(rt, obj, options)
        if rt.kind == "Namespace":
            return self._start_namespace_deletion(current, obj, options.dry_run), False
        pending = int(md.get("deletionGracePeriodSeconds") or 0)
        if md.get("deletionTimestamp"):
            if pending and grace >= pending:
                return current, False  # a graceful deletion runs: only a shorter grace changes it
            grace = min(grace, pending)  # one marked deleting with no grace stays so
        existing = list(md.get("finalizers") or [])
        finalizers = _gc_finalizers(rt, options.propagation_policy, existing)
        if not finalizers and grace == 0:
            return self._delete_now(current, dry_run=options.dry_run), True
        now = self.clock()
        if md.get("deletionTimestamp"):
            if finalizers == existing and grace == pending:
                return current, False  # nothing to change: no new revision
            if grace == 0 and m.parse_rfc3339(md["deletionTimestamp"]) <= now:
                now = m.parse_rfc3339(md["deletionTimestamp"])  # never moved later
        elif int(md.get("generation") or 0) > 0:
            md["generation"] = int(md["generation"]) + 1  # as upstream marks an object deleting
        md["deletionTimestamp"] = m.now_rfc3339(now + grace)
        md["deletionGracePeriodSeconds"] = grace
        md["finalizers"] = finalizers
        if not md["finalizers"]:
            del md["finalizers"]
        if options.dry_run:
            return _dry_kv(current.key, obj), False
        self._before_write(rt, obj, current.obj())
        kv = self.store.update(current.key, obj, expected_revision=current.revision)
        self._after_write(rt, kv)
        return kv, False

    def _start_namespace_deletion(self, current: KV, obj: dict[str, Any], dry_run: bool) -> KV:
        md = m.meta(obj)
        if md.get("deletionTimestamp"):
            return current
        md["deletionTimestamp"] = m.now_rfc3339(self.clock())
        md["deletionGracePeriodSeconds"] = 0
        obj.setdefault("status", {})["phase"] = "Terminating"
        if dry_run:
            return _dry_kv(current.key, obj)
        return self.store.update(current.key, obj, expected_revision=current.revision)

    def finalize_namespace(self, name: str, finalizers: builtins.list[str]) -> KV:
        """The `namespaces/finalize` subresource: the namespace controller ends deletion."""
        rt = self.registry.by_kind("v1", "Namespace")
        assert rt is not None
        current = self.get(rt, None, name)
        obj = orjson.loads(current.value)
        obj.setdefault("spec", {})["finalizers"] = finalizers
        md = m.meta(obj)
        if md.get("deletionTimestamp") and not finalizers and not md.get("finalizers"):
            return self._delete_now(current)
        return self.store.update(current.key, obj, expected_revision=current.revision)

    def _delete_now(self, current: KV, *, dry_run: bool = False) -> KV:
        if dry_run:
            return current
        try:
            kv = self.store.delete(current.key, expected_revision=current.revision)
        except (KeyNotFound, StoreConflict):
            raise errors.Conflict(
                "the object was modified while it was being deleted; try again"
            ) from None
        if self.crds.crd_type is not None and current.key.startswith(self.crds.crd_type.prefix()):
            self.crds.deleted(current.key.rsplit("/", 1)[-1])
        return kv

    def delete_collection(
        self,
        rt: ResourceType,
        namespace: str | None,
        selectors: Selectors,
        options: DeleteOptions,
    ) -> builtins.list[KV]:
        out = []
        for ns, name in self._collection(rt, namespace, selectors):
            try:
                out.append(self.delete(rt, ns, name, options)[0])
            except errors.NotFound:
                continue
        return out

    async def adelete_collection(
        self,
        rt: ResourceType,
        namespace: str | None,
        selectors: Selectors,
        options: DeleteOptions,
    ) -> builtins.list[KV]:
        """DELETE on a collection: each object's delete goes through the webhooks."""
        out = []
        for ns, name in self._collection(rt, namespace, selectors):
            try:
                out.append((await self.adelete(rt, ns, name, options))[0])
            except errors.NotFound:
                continue
        return out

    def _collection(
        self, rt: ResourceType, namespace: str | None, selectors: Selectors
    ) -> builtins.list[tuple[str | None, str]]:
        """(namespace, name) of each object a collection delete takes, gone or not by then."""
        out = []
        for kv in self.list(rt, namespace, selectors).items:
            md = kv.obj()["metadata"]
            out.append((md.get("namespace"), md["name"]))
        return out

    def _grace_period(self, rt: ResourceType, obj: dict[str, Any], options: DeleteOptions) -> int:
        """Only pods on a node wait for their kubelet; everything else goes at once."""
        if rt.kind != "Pod":
            return 0
        spec, status = obj.get("spec", {}), obj.get("status", {})
        if not spec.get("nodeName") or status.get("phase") in ("Succeeded", "Failed"):
            return 0
        if options.grace_period_seconds is not None:
            # BeforeDelete: a negative period is taken as 1 s on the delete path
            return 1 if options.grace_period_seconds < 0 else options.grace_period_seconds
        return int(spec.get("terminationGracePeriodSeconds", 30))

    def _check_preconditions(
        self, rt: ResourceType, name: str, obj: dict[str, Any], pre: dict[str, Any] | None
    ) -> None:
        if not pre:
            return
        md = obj["metadata"]
        # rest.BeforeDelete's conflicts, which name the kind (not the resource)
        qualified = f"{rt.kind}.{rt.group}" if rt.group else rt.kind
        details: dict[str, Any] = {"name": name, **({"group": rt.group} if rt.group else {})}
        details["kind"] = rt.kind
        if pre.get("uid") and pre["uid"] != md.get("uid"):
            raise errors.Conflict(
                f'Operation cannot be fulfilled on {qualified} "{name}": the UID in the '
                f"precondition ({pre['uid']}) does not match the UID in record "
                f"({md.get('uid')}). The object might have been deleted and then recreated",
                details=details,
            )
        if pre.get("resourceVersion") and str(pre["resourceVersion"]) != md.get("resourceVersion"):
            raise errors.Conflict(
                f'Operation cannot be fulfilled on {qualified} "{name}": the ResourceVersion in '
                f"the precondition ({pre['resourceVersion']}) does not match the ResourceVersion "
                f"in record ({md.get('resourceVersion')}). The object might have been modified",
                details=details,
            )

    # ---- helpers -------------------------------------------------------------

    def _check_type(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        if not isinstance(obj, dict):
            raise errors.BadRequest("the body of the request must be a JSON object")
        api_version = obj.get("apiVersion") or rt.api_version
        kind = obj.get("kind") or rt.kind
        if (api_version, kind) != (rt.api_version, rt.kind):
            raise errors.BadRequest(
                f"the API version in the data ({api_version}) does not match the expected "
                f"API version ({rt.api_version})"
                if api_version != rt.api_version
                else f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})"
            )
        obj["apiVersion"], obj["kind"] = api_version, kind

    def _decode_values(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        """Times and quantities as upstream decodes and stores them (see `timefields`)."""
        if rt.custom is not None or not isinstance(obj, dict):
            return  # custom resources: their schema's `format: date-time` applies
        try:
            normalize_object(rt, obj)
        except DecodeError as exc:
            raise errors.BadRequest(
                f'{rt.kind} in version "{rt.version}" cannot be handled as a {rt.kind}: {exc}'
            ) from None

    def _decode_patched(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        """A patch that leaves a time or quantity unreadable: 422 naming the patched object, as
        upstream's patcher fails to decode it (an Invalid with no kind or name)."""
        if rt.custom is not None:
            return
        try:
            normalize_object(rt, obj)
        except DecodeError as exc:
            patched = orjson.dumps(obj).decode()
            cause = FieldError("FieldValueInvalid", "patch", str(exc), patched)
            raise errors.Invalid.fields("", "", "", [cause]) from None

    def _default(self, rt: ResourceType, obj: dict[str, Any]) -> None:
        if rt.custom is not None:
            customresources.default(rt, obj)
        else:
            apply_defaults(obj)
            if rt.kind == "Node" and rt.group == "":
                stamp_no_execute_taints(obj, m.now_rfc3339(self.clock()))

    def _before_write(
        self, rt: ResourceType, obj: dict[str, Any], old: dict[str, Any] | None
    ) -> None:
        """Last changes the server makes to an object it is about to store."""
        m.drop_empty_fields(obj)
        if rt.custom is not None:
            customresources.to_storage(rt, obj)
        elif self.crds.is_crd(rt):
            self.crds.prepare(obj, old, now=self.clock())

    def _after_write(self, rt: ResourceType, kv: KV) -> None:
        if self.crds.is_crd(rt):
            self.crds.written(kv.obj())

    def _admit(
        self, attrs: Attributes, obj: dict[str, Any] | None, old: dict[str, Any] | None
    ) -> None:
        for plugin in self._early:
            plugin.admit(attrs, obj, old, self)

    def _admit_late(
        self, attrs: Attributes, obj: dict[str, Any] | None, old: dict[str, Any] | None
    ) -> None:
        for plugin in self._late:
            plugin.admit(attrs, obj, old, self)

    def _webhook_step(
        self,
        mutating: bool,
        attrs: Attributes,
        obj: dict[str, Any] | None,
        old: dict[str, Any] | None,
        dry_run: bool,
        extra: dict[str, Any] | None = None,
    ) -> WebhookStep | None:
        """The step to yield, or None (no webhooks of this sort: nothing to await)."""
        if not self.webhooks.active(mutating=mutating):
            return None
        request = WebhookRequest(
            attrs.operation,
            attrs.resource,
            attrs.subresource,
            attrs.namespace,
            attrs.name,
            obj,
            old,
        )
        options = operation_options(attrs.operation, dry_run=dry_run, extra=extra)
        return WebhookStep(mutating, request, dry_run, options)

    def _webhook_mutate(
        self,
        attrs: Attributes,
        obj: dict[str, Any] | None,
        old: dict[str, Any] | None,
        dry_run: bool,
        extra: dict[str, Any] | None = None,
    ) -> Generator[WebhookStep, dict[str, Any] | None, Any]:
        step = self._webhook_step(True, attrs, obj, old, dry_run, extra)
        if step is None:
            return obj
        changed = yield step
        if obj is None or changed is None:
            return obj
        # Webhooks may not move an object: name and namespace stay as requested.
        md, new_md = m.meta(obj), m.meta(changed)
        for field in ("name", "namespace"):
            if field in md:
                new_md[field] = md[field]
            else:
                new_md.pop(field, None)
        return changed

    def _webhook_validate(
        self,
        attrs: Attributes,
        obj: dict[str, Any] | None,
        old: dict[str, Any] | None,
        dry_run: bool,
        extra: dict[str, Any] | None = None,
    ) -> Generator[WebhookStep, dict[str, Any] | None, None]:
        step = self._webhook_step(False, attrs, obj, old, dry_run, extra)
        if step is not None:
            yield step

    async def _run(self, start: Callable[[], Steps[T]]) -> T:
        """Drive a write, awaiting its webhooks. A write that waited may find the
        object changed meanwhile (a conflict on the expected revision): it starts
        again from a fresh read, as upstream's GuaranteedUpdate retries."""
        for attempt in range(_WEBHOOK_RETRIES + 1):
            steps = start()
            waited = False
            try:
                step = next(steps)
                while True:
                    waited = True
                    step = steps.send(await self.webhooks.run(step))
            except StopIteration as done:
                return done.value  # type: ignore[no-any-return]
            except errors.Conflict:
                if not waited or attempt == _WEBHOOK_RETRIES:
                    raise
            except StoreError as exc:
                raise _storage_error(exc) from exc
            finally:
                steps.close()
        raise AssertionError("unreachable")

    def _admit_validate(
        self,
        attrs: Attributes,
        obj: dict[str, Any],
        old: dict[str, Any] | None,
        *,
        last: bool = False,
    ) -> None:
        """Validating admission on the defaulted, valid object, as upstream orders it:
        the built-in plugins, then (the caller) the policies and webhooks, then
        (`last`) ResourceQuota, which charges what all the others admitted."""
        for plugin in self._validating:
            if isinstance(plugin, ResourceQuotaAdmission) == last:
                plugin.validate(attrs, obj, old, self)

    def _validate(
        self,
        rt: ResourceType,
        obj: dict[str, Any],
        old: dict[str, Any] | None,
        subresource: str = "",
    ) -> None:
        group = rt.group
        if rt.custom is not None:
            problems = customresources.validate(rt, obj, old)
        elif served := request_context.served_validation(rt.api_version, rt.kind):
            group, view = served.group, served.view  # as the version the request was made in
            old_view = None if old is None else view(old)
            problems = validate(view(obj), old=old_view, subresource=subresource)
        else:
            problems = validate(obj, old=old, subresource=subresource)
        if problems:
            name = str(obj.get("metadata", {}).get("name", ""))
            raise errors.Invalid.fields(rt.kind, group, name, problems)

    def watch_start(self, rt: ResourceType, resource_version: int) -> None:
        if resource_version and resource_version < self.store.compact_revision:
            raise errors.Gone(
                f"too old resource version: {resource_version} ({self.store.compact_revision})"
            )


def _run_now(steps: Steps[T]) -> T:
    """Drive a write without webhooks: each step passes its object through unchanged."""
    try:
        step = next(steps)
        while True:
            step = steps.send(step.request.obj)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    except StoreError as exc:
        raise _storage_error(exc) from exc


def _storage_error(exc: StoreError) -> errors.StorageError:
    """A store failure no step mapped (a full disk): a 500 saying what failed."""
    log.warning("storage error: %s", exc)
    return errors.StorageError(str(exc))


def _reset_status_on_create(obj: dict[str, Any]) -> None:
    """Status is the controllers' to write; create starts it afresh, as upstream."""
    kind = obj.get("kind")
    if kind in (
        "Deployment",
        "ReplicaSet",
        "ReplicationController",
        "StatefulSet",
        "DaemonSet",
        "PodDisruptionBudget",
        "Job",
        "CronJob",
        "HorizontalPodAutoscaler",
        "ResourceQuota",
        "VolumeAttachment",
    ):
        obj["status"] = {}
    elif kind == "Pod":
        obj["status"] = {"phase": "Pending"}
        qos = _qos_class(obj.get("spec", {}))
        obj["status"]["qosClass"] = qos
    elif kind == "Namespace":
        obj["status"] = {"phase": "Active"}
    elif kind in ("PersistentVolume", "PersistentVolumeClaim"):
        obj["status"] = {"phase": "Pending"}
    elif kind in ("Service", "Ingress"):
        obj["status"] = {"loadBalancer": {}}


def _qos_class(spec: dict[str, Any]) -> str:
    """Guaranteed / Burstable / BestEffort, as `qos.GetPodQOS` decides it."""
    from kubelite.api.quantity import parse_quantity

    containers = list(spec.get("containers") or []) + list(spec.get("initContainers") or [])
    requests: dict[str, Any] = {}
    limits: dict[str, Any] = {}
    guaranteed = True
    for c in containers:
        res = c.get("resources") or {}
        req, lim = dict(res.get("requests") or {}), dict(res.get("limits") or {})
        for k, v in lim.items():
            req.setdefault(k, v)  # requests default to limits
        for name in ("cpu", "memory"):
            if name in req and parse_quantity(req[name]) != 0:
                requests[name] = True
            if name in lim and parse_quantity(lim[name]) != 0:
                limits[name] = True
        if not all(k in lim for k in ("cpu", "memory")) or any(
            parse_quantity(req[k]) != parse_quantity(lim[k]) for k in ("cpu", "memory")
        ):
            guaranteed = False
    if not requests and not limits:
        return "BestEffort"
    return "Guaranteed" if guaranteed and containers else "Burstable"


def _merge_for_subresource(
    rt: ResourceType, obj: dict[str, Any], old: dict[str, Any], subresource: str
) -> dict[str, Any]:
    """The main resource keeps the stored status; `/status` keeps everything else, and
    `pods/ephemeralcontainers` everything but `spec.ephemeralContainers`."""
    if subresource == "ephemeralcontainers":
        return _ephemeral_containers_only(obj, old)
    if subresource == "status":
        new = orjson.loads(orjson.dumps(old))
        new["status"] = obj.get("status", {})
        if rt.custom is not None and "status" not in obj:
            del new["status"]  # a custom resource's status strategy drops a missing one
        if rt.kind == "Pod" and isinstance(new["status"], dict):
            # QoS is set at creation and immutable; a write that leaves it out keeps it.
            old_qos = (old.get("status") or {}).get("qosClass")
            if not new["status"].get("qosClass") and old_qos:
                new["status"]["qosClass"] = old_qos
        md = obj.get("metadata") or {}
        if rt.kind in _STATUS_WRITES_ANNOTATIONS and "annotations" in md:
            new["metadata"]["annotations"] = md["annotations"]
        if "resourceVersion" in md:
            new["metadata"]["resourceVersion"] = md["resourceVersion"]
        if request_context.applying() and "managedFields" in md:
            # an apply's ownership, its status fields included: kept, as the status
            # strategies keep what the field manager tracked
            new["metadata"]["managedFields"] = md["managedFields"]
        return new
    has_status = rt.custom.status if rt.custom is not None else rt.kind in m.STATUS_KINDS
    if has_status and "status" in old:
        obj["status"] = old["status"]
    elif has_status:
        obj.pop("status", None)
    return obj


def _ephemeral_containers_only(obj: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """`pods/ephemeralcontainers`: the stored pod with only the new `spec.ephemeralContainers`.

    Every other change in the body is dropped, not refused, as upstream's
    ephemeralContainersStrategy does; the resourceVersion sent still guards
    the write.
    """
    new = orjson.loads(orjson.dumps(old))
    spec = new.setdefault("spec", {})
    wanted = (obj.get("spec") or {}).get("ephemeralContainers")
    if wanted:
        spec["ephemeralContainers"] = wanted
    else:
        spec.pop("ephemeralContainers", None)
    md = obj.get("metadata") or {}
    for field in ("resourceVersion", "uid"):  # a different uid is then refused as immutable
        if md.get(field):
            new["metadata"][field] = md[field]
    return new


def _delete_during_update(new: dict[str, Any], old: dict[str, Any]) -> bool:
    """An update ends a deletion only when nothing is left to wait for: no finalizers,
    and no grace period still running (a pod waits for its kubelet, which writes the
    pod's final status before it deletes it with grace 0), as upstream's
    ShouldDeleteDuringUpdate."""
    old_md = old.get("metadata") or {}
    return (
        bool(old_md.get("deletionTimestamp"))
        and not (new.get("metadata") or {}).get("finalizers")
        and not old_md.get("deletionGracePeriodSeconds")
        and _finalizable(new)
    )


_CONDITIONAL_UPDATE_KINDS = frozenset(
    {
        "CustomResourceDefinition",
        "RuntimeClass",
        "CSIDriver",
        "CSINode",
        "VolumeAttachment",
        "CSIStorageCapacity",
    }
)


def _allows_unconditional_update(rt: ResourceType) -> bool:
    """Custom resources, their definitions, RuntimeClasses and the CSI kinds of
    storage.k8s.io refuse a PUT without a resourceVersion (their strategies'
    AllowUnconditionalUpdate is false): it would overwrite blind."""
    return rt.custom is None and rt.kind not in _CONDITIONAL_UPDATE_KINDS


def check_put_target(md: dict[str, Any], name: str, namespace: str | None) -> None:
    """A PUT's body names the object of its URL (upstream's checkName and
    EnsureObjectNamespaceMatchesRequestNamespace, for objects and subresources)."""
    if md.get("name", "") != name:
        raise errors.BadRequest(
            f"the name of the object ({md.get('name', '')}) does not match the name on the "
            f"URL ({name})"
        )
    if namespace and md.get("namespace") and md["namespace"] != namespace:
        raise errors.BadRequest(
            "the namespace of the provided object does not match the namespace sent on the request"
        )


def _set_resource_version(value: Any) -> bool:
    """A resourceVersion upstream's versioner parses as a revision other than 0."""
    try:
        return isinstance(value, str) and value.isdigit() and int(value) != 0
    except ValueError:
        return False


def _finalizable(obj: dict[str, Any]) -> bool:
    return obj.get("kind") != "Namespace" or not (obj.get("spec") or {}).get("finalizers")


_GC_FINALIZERS = ("orphan", "foregroundDeletion")


def _gc_finalizers(rt: ResourceType, policy: str | None, existing: list[str]) -> list[str]:
    """The finalizers a delete leaves for the garbage collector, as upstream's
    deletionFinalizersForGarbageCollection: the request's policy first (so a second
    DELETE may swap them), then the object's own GC finalizer, then the type's default."""
    if policy is None:
        if any(f in _GC_FINALIZERS for f in existing):
            return existing
        if (rt.group, rt.kind) == ("batch", "Job"):
            policy = "Orphan"  # batch/v1's default GC policy, kept for backward compatibility
    wanted = [f for f in existing if f not in _GC_FINALIZERS]
    if policy == "Orphan":
        wanted.append("orphan")
    elif policy == "Foreground":
        wanted.append("foregroundDeletion")
    return existing if set(wanted) == set(existing) else wanted


def _dry_kv(key: str, obj: dict[str, Any]) -> KV:
    rv = int(obj.get("metadata", {}).get("resourceVersion") or 0)
    return KV(key=key, revision=rv, create_revision=rv, value=orjson.dumps(obj))


def _encode_continue(last_key: str, rev: int) -> str:
    raw = orjson.dumps({"v": "meta.k8s.io/v1", "rv": rev, "start": last_key})
    return base64.urlsafe_b64encode(raw).decode()


def _decode_continue(token: str, prefix: str) -> tuple[str, int]:
    """(the last key returned, the revision the list reads at; -1 or 0 for the latest)."""
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token.encode()))
        start = str(data["start"])
        rev = int(data.get("rv") or 0)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise errors.BadRequest(
            "continue key is not valid: illegal base64 data at input byte 0"
        ) from None
    if not start.startswith(prefix):
        raise errors.BadRequest("continue key is not valid: key does not match the list prefix")
    return start, rev


__all__ = [
    "Compacted",
    "DeleteOptions",
    "ListResult",
    "RestStorage",
    "Selectors",
]
