"""The in-process API client that kubelite's own parts use.

The scheduler, controllers and node agents run inside the kubelite process;
this client skips HTTP but never the API's semantics: every call goes through
`RestStorage` (defaults, admission, validation, optimistic concurrency,
graceful deletion) exactly as a request from kubectl would. Methods are async
so a part written against it could as well run against a remote server.

Objects passed in are never kept; objects returned are fresh copies the
caller may change.
"""

from __future__ import annotations

import builtins
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import orjson

from kubelite.api.patch import json_merge_patch, json_patch, strategic_merge_patch
from kubelite.api.registry import ResourceType
from kubelite.apiserver import customresources, errors, metrics_api, request_context
from kubelite.apiserver.metrics_api import MetricsSource
from kubelite.apiserver.rest import DeleteOptions, RestStorage, Selectors
from kubelite.apiserver.serviceaccount_admission import await_service_account
from kubelite.apiserver.subresources import bind_pod, scale_of
from kubelite.apiserver.tables import to_table
from kubelite.apiserver.tokenrequest import create_token
from kubelite.apiserver.watching import WatchRequest, watch

Obj = dict[str, Any]


def _copy(value: bytes) -> Obj:
    return orjson.loads(value)


class LocalClient:
    def __init__(
        self, storage: RestStorage, *, user_agent: str = "kubelite", tokens: Any = None
    ) -> None:
        self.storage = storage
        self.user_agent = user_agent
        self.tokens = tokens  # ServiceAccountTokens: what `create_token` signs with
        # What metrics.k8s.io answers from (set when the node agents start); None: no usage.
        self.metrics: MetricsSource | None = None

    def served_types(self) -> list[ResourceType]:
        """Every type the API serves now, custom resources included: discovery, in process."""
        return list(self.storage.registry.resources)

    def find_resource(self, api_version: str, kind: str) -> ResourceType | None:
        return self.storage.registry.by_kind(api_version, kind)

    def resource(self, api_version: str, kind: str) -> ResourceType:
        rt = self.storage.registry.by_kind(api_version, kind)
        if rt is None:
            raise errors.NotFound(f'no matches for kind "{kind}" in version "{api_version}"')
        return rt

    async def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> Obj:
        return _copy(self.storage.get(self.resource(api_version, kind), namespace, name).value)

    async def get_or_none(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> Obj | None:
        try:
            return await self.get(api_version, kind, name, namespace)
        except errors.NotFound:
            return None

    async def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[Obj], str]:
        rt = self.resource(api_version, kind)
        selectors = Selectors.parse(rt, label_selector, field_selector)
        if not rt.stored and rt.group == "metrics.k8s.io":
            return await metrics_api.items_of(self.metrics, rt, namespace, selectors), ""
        result = self.storage.list(rt, namespace, selectors)
        return [_copy(kv.value) for kv in result.items], str(result.resource_version)

    async def watch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        resource_version: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> AsyncIterator[tuple[str, Obj]]:
        """(type, object) pairs; an ("ERROR", Status) pair when the revision is compacted."""
        rt = self.resource(api_version, kind)
        req = WatchRequest(
            resource=rt,
            namespace=namespace,
            selectors=Selectors.parse(rt, label_selector, field_selector),
            resource_version=resource_version,
            bookmarks=True,
        )
        async for ev in watch(self.storage, req):
            obj = ev.obj if ev.obj is not None else _copy(ev.raw or b"{}")
            yield ev.type, obj

    async def create(self, obj: Obj, namespace: str | None = None) -> Obj:
        return _copy((await self._create(obj, namespace)).value)

    async def create_only(self, obj: Obj, namespace: str | None = None) -> None:
        """`create` for a caller that does not read the stored object back (no copy)."""
        await self._create(obj, namespace)

    async def _create(self, obj: Obj, namespace: str | None) -> Any:
        rt = self.resource(obj["apiVersion"], obj["kind"])
        body = orjson.loads(orjson.dumps(obj))
        ns = namespace or body.get("metadata", {}).get("namespace")
        if rt.kind == "Pod":
            await await_service_account(self.storage, ns, body)
        return await self.storage.acreate(rt, ns if rt.namespaced else None, body)

    async def create_token(self, namespace: str, name: str, request: Obj) -> Obj:
        """POST serviceaccounts/NAME/token: a TokenRequest answered with its token."""
        if self.tokens is None:
            raise errors.ServiceUnavailable("service account token issuing is not configured")
        return create_token(self.storage, self.tokens, namespace, name, request)

    async def update(self, obj: Obj, *, subresource: str = "") -> Obj:
        rt = self.resource(obj["apiVersion"], obj["kind"])
        md = obj["metadata"]
        body = orjson.loads(orjson.dumps(obj))
        kv = await self.storage.aupdate(
            rt, md.get("namespace"), md["name"], body, subresource=subresource
        )
        return _copy(kv.value)

    async def update_status(self, obj: Obj) -> Obj:
        return await self.update(obj, subresource="status")

    async def patch(
        self,
        api_version: str,
        kind: str,
        name: str,
        patch: Any,
        namespace: str | None = None,
        *,
        patch_type: str = "merge",
        subresource: str = "",
    ) -> Obj:
        rt = self.resource(api_version, kind)
        fn: Callable[[Obj], Obj]
        if patch_type == "merge":
            fn = lambda o: json_merge_patch(o, patch)  # noqa: E731
        elif patch_type == "strategic":
            fn = lambda o: strategic_merge_patch(o, patch, kind=kind)  # noqa: E731
        elif patch_type == "json":
            fn = lambda o: json_patch(o, patch)  # noqa: E731
        else:
            raise ValueError(f"unknown patch type {patch_type!r}")
        kv = await self.storage.areplace_with(rt, namespace, name, fn, subresource=subresource)
        return _copy(kv.value)

    async def mutate(
        self,
        api_version: str,
        kind: str,
        name: str,
        fn: Callable[[Obj], Obj],
        namespace: str | None = None,
        *,
        subresource: str = "",
    ) -> Obj:
        """Read-modify-write in one step: no other write can come in between."""
        rt = self.resource(api_version, kind)
        kv = await self.storage.areplace_with(rt, namespace, name, fn, subresource=subresource)
        return _copy(kv.value)

    async def mutate_only(
        self,
        api_version: str,
        kind: str,
        name: str,
        fn: Callable[[Obj], Obj],
        namespace: str | None = None,
        *,
        subresource: str = "",
    ) -> None:
        """`mutate` for a caller that does not read the stored object back (no copy)."""
        rt = self.resource(api_version, kind)
        await self.storage.areplace_with(rt, namespace, name, fn, subresource=subresource)

    async def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        *,
        grace_period_seconds: int | None = None,
        propagation_policy: str | None = None,
        preconditions: dict[str, Any] | None = None,
    ) -> Obj:
        rt = self.resource(api_version, kind)
        options = DeleteOptions(
            grace_period_seconds=grace_period_seconds,
            propagation_policy=propagation_policy,
            preconditions=preconditions,
        )
        kv, _ = await self.storage.adelete(rt, namespace, name, options)
        return _copy(kv.value)

    async def table(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        now: datetime | None = None,
    ) -> Obj:
        """The list as `kubectl get` asks for it (`as=Table`, includeObject=Object): the
        kind's printed columns, each row carrying its object."""
        items, rv = await self.list(api_version, kind, namespace)
        return to_table(
            kind, items, include_object="Object", list_meta={"resourceVersion": rv}, now=now
        )

    async def get_scale(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> Obj:
        """GET .../NAME/scale: the autoscaling/v1 Scale of a scalable object."""
        rt = self._scalable(api_version, kind)
        obj = self.storage.get(rt, namespace, name).obj()
        # A custom resource's replicas live where its CRD's scale paths say.
        return customresources.scale_of(rt, obj) if rt.custom is not None else scale_of(obj)

    async def update_scale(
        self, api_version: str, kind: str, scale: Obj, replicas: int, namespace: str | None = None
    ) -> Obj:
        """PUT .../NAME/scale with `replicas`, conditional on the Scale's resourceVersion."""
        rt = self._scalable(api_version, kind)
        md = scale.get("metadata") or {}
        rv = md.get("resourceVersion")

        def set_replicas(obj: Obj) -> Obj:
            obj.setdefault("spec", {})["replicas"] = replicas
            if rv:
                obj["metadata"]["resourceVersion"] = rv
            return obj

        # Recorded as a /scale write (the HPA's), as upstream's managedFields show it.
        token = request_context.set_entry_subresource("scale")
        try:
            kv = self.storage.replace_with(rt, namespace, md["name"], set_replicas)
        finally:
            request_context.reset_entry_subresource(token)
        return scale_of(_copy(kv.value))

    def _scalable(self, api_version: str, kind: str) -> ResourceType:
        rt = self.resource(api_version, kind)
        if "scale" not in rt.subresources:
            raise errors.NotFound(
                f"{rt.plural}.{rt.group or 'core'} does not have a scale subresource"
            )
        return rt

    async def finalize_namespace(self, name: str, finalizers: builtins.list[str]) -> Obj:
        return _copy(self.storage.finalize_namespace(name, finalizers).value)

    def batch(self) -> AbstractContextManager[None]:
        """Writes made inside commit together (see `Store.batch`)."""
        return self.storage.store.batch()

    async def bind(self, namespace: str, name: str, node: str) -> Obj:
        return _copy(bind_pod(self.storage, namespace, name, node).value)

    async def bind_only(self, namespace: str, name: str, node: str) -> None:
        """`bind` for a caller that does not read the bound pod back (no copy)."""
        bind_pod(self.storage, namespace, name, node)
