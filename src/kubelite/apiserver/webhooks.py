"""Dynamic admission: calling MutatingWebhookConfiguration and ValidatingWebhookConfiguration webhooks.

`RestStorage`'s write path is a generator that yields a `WebhookStep` at the
two points upstream calls webhooks (after the built-in mutating plugins, and
after validation); `RestStorage` awaits `Webhooks.run` on each step when the
write comes from the HTTP layer or the in-process client. Nothing polls: the
configurations are re-read only when the store says one was written, and
with none stored, `active()` is two dict lookups, so the write path stays as
fast as before.

Mutating webhooks run one after another, configurations by name then
webhooks in order, each JSONPatch applied before the next; those with
`reinvocationPolicy: IfNeeded` run once more when a later webhook changed the
object. Validating webhooks run in parallel. Denials and failures keep
upstream's messages (`admission webhook "NAME" denied the request: ...`,
`failed calling webhook "NAME": failed to call webhook: Post "URL": ...`).
A webhook with `matchConditions` is called only when they all hold
(`webhook_match`). ValidatingAdmissionPolicies (`admission_policy`) are
checked in the validating step, before the validating webhooks. The `scale`
and `eviction` subresources, which do not go through that write path, run the
same steps on their Scale or Eviction through `Webhooks.admit`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import orjson

from kubelite.api.patch import PatchError
from kubelite.api.registry import REGISTRY, Registry
from kubelite.apiserver import errors
from kubelite.apiserver import meta as m
from kubelite.apiserver.request_context import add_warning, user_info
from kubelite.apiserver.webhook_calls import CallFailed, WebhookClients, target_for
from kubelite.apiserver.webhook_review import (
    BadResponse,
    Verdict,
    apply_patch,
    operation_options,
    read_response,
    review_request,
)
from kubelite.apiserver.webhook_rules import (
    Request,
    namespace_selector_matches,
    needs_namespace_labels,
    object_selector_matches,
    rules_match,
)
from kubelite.store import Store

if TYPE_CHECKING:  # loaded once a policy binding exists: most clusters never need it
    from kubelite.apiserver.admission_policy import Policies

log = logging.getLogger(__name__)

Obj = dict[str, Any]
GROUP = "admissionregistration.k8s.io/v1"
NO_SIDE_EFFECTS = ("None", "NoneOnDryRun")


@dataclass
class WebhookStep:
    """A point in a write where webhooks are called; `obj` is what they see (and change)."""

    mutating: bool
    request: Request
    dry_run: bool = False
    options: Obj | None = None


@dataclass(frozen=True)
class Hook:
    configuration: str
    spec: Obj

    @property
    def name(self) -> str:
        return str(self.spec.get("name", ""))


class WebhookDenied(errors.ApiError):
    """A webhook said no: its status, with upstream's message prefix."""

    def __init__(self, hook_name: str, status: Obj) -> None:
        denied = f'admission webhook "{hook_name}" denied the request'
        if status.get("message"):
            message = f"{denied}: {status['message']}"
        elif status.get("reason"):
            message = f"{denied}: {status['reason']}"
        else:
            message = f"{denied} without explanation"
        super().__init__(message, details=status.get("details"))
        code = status.get("code")
        self.code = code if isinstance(code, int) and code >= 400 else 400
        self.reason = str(status.get("reason") or "")

    def status(self) -> Obj:
        body = super().status()
        if not self.reason:
            body.pop("reason", None)
        return body


def call_failure(hook_name: str, reason: str) -> errors.InternalError:
    text = f'failed calling webhook "{hook_name}": {reason}'
    return errors.InternalError(
        f"Internal error occurred: {text}", details={"causes": [{"message": text}]}
    )


class Webhooks:
    def __init__(
        self, store: Store, *, registry: Registry = REGISTRY, clients: WebhookClients | None = None
    ) -> None:
        self.store = store
        self.clients = clients or WebhookClients()
        self._types = [
            registry.by_kind(GROUP, "MutatingWebhookConfiguration"),
            registry.by_kind(GROUP, "ValidatingWebhookConfiguration"),
        ]
        self._namespaces = registry.by_kind("v1", "Namespace")
        self._services = registry.by_kind("v1", "Service")
        self._seen: tuple[int, ...] = ()
        self._mutating: list[Hook] = []
        self._validating: list[Hook] = []
        self._registry = registry
        self._bindings = registry.by_kind(GROUP, "ValidatingAdmissionPolicyBinding")
        self._no_bindings_at = -1  # the bindings' revision at which none were stored
        self._policies: Policies | None = None

    # ---- the configurations, re-read only after a write to them ----------------

    def _refresh(self) -> None:
        revisions = tuple(self.store.kind_revision(rt.prefix()) for rt in self._types if rt)
        if revisions == self._seen:
            return
        self._seen = revisions
        self._mutating, self._validating = (self._load(rt) for rt in self._types)

    def _load(self, rt: Any) -> list[Hook]:
        if rt is None:
            return []
        items, _, _ = self.store.list(rt.prefix())
        configs = sorted((kv.obj() for kv in items), key=lambda c: c["metadata"]["name"])
        return [
            Hook(c["metadata"]["name"], hook)
            for c in configs
            for hook in c.get("webhooks") or []
            if isinstance(hook, dict)
        ]

    def active(self, *, mutating: bool) -> bool:
        """The cheap check every write makes: is there any webhook of this sort at all?
        (Validating admission policies run in the validating step too.)"""
        self._refresh()
        if mutating:
            return bool(self._mutating)
        return bool(self._validating) or self.policies() is not None

    def policies(self) -> Policies | None:
        """The bound ValidatingAdmissionPolicies, or None while no binding is stored."""
        if self._policies is None:
            if self._bindings is None:
                return None
            revision = self.store.kind_revision(self._bindings.prefix())
            if revision == self._no_bindings_at:
                return None
            items, _, _ = self.store.list(self._bindings.prefix())
            if not items:
                self._no_bindings_at = revision
                return None
            from kubelite.apiserver.admission_policy import Policies

            self._policies = Policies(self.store, self._registry)
        return self._policies if self._policies.active() else None

    # ---- matching ---------------------------------------------------------------

    def _namespace_labels(self, namespace: str | None) -> Obj:
        if not namespace or self._namespaces is None:
            return {}
        kv = self.store.get(self._namespaces.key(None, namespace))
        return (kv.obj()["metadata"].get("labels") or {}) if kv is not None else {}

    def matching(self, hooks: list[Hook], req: Request) -> list[Hook]:
        out: list[Hook] = []
        ns_labels: Obj | None = None
        for hook in hooks:
            if not rules_match(hook.spec, req):
                continue
            if needs_namespace_labels(hook.spec, req) and ns_labels is None:
                ns_labels = self._namespace_labels(req.namespace)
            if not namespace_selector_matches(hook.spec, req, ns_labels):
                continue
            if object_selector_matches(hook.spec, req):
                out.append(hook)
        return out

    # ---- calling ----------------------------------------------------------------

    def _cluster_ip(self, namespace: str, name: str) -> str | None:
        if self._services is None:
            return None
        kv = self.store.get(self._services.key(namespace, name))
        return (kv.obj().get("spec") or {}).get("clusterIP") if kv is not None else None

    async def call(self, hook: Hook, step: WebhookStep) -> Verdict:
        """One webhook, one review; `CallFailed` or `BadResponse` when it cannot decide."""
        spec = hook.spec
        if step.dry_run and spec.get("sideEffects") not in NO_SIDE_EFFECTS:
            raise errors.BadRequest(f'admission webhook "{hook.name}" does not support dry run')
        versions = spec.get("admissionReviewVersions") or []
        if "v1" not in versions and "v1beta1" not in versions:
            raise CallFailed("webhook does not accept known AdmissionReview versions (v1, v1beta1)")
        timeout = int(spec.get("timeoutSeconds") or 10)
        config = spec.get("clientConfig") or {}
        target = target_for(config, timeout, self._cluster_ip)
        uid = m.new_uid()
        body = orjson.dumps(
            review_request(
                uid, step.request, user=user_info(), dry_run=step.dry_run, options=step.options
            )
        )
        try:
            raw = await self.clients.post(
                target, body, ca_bundle=config.get("caBundle"), timeout=timeout
            )
        except CallFailed as exc:
            raise CallFailed(f"failed to call webhook: {exc}") from None
        verdict = read_response(raw, uid, mutating=step.mutating)
        for warning in verdict.warnings:
            add_warning(warning)
        return verdict

    async def _decide(self, hook: Hook, step: WebhookStep) -> Verdict | None:
        """The verdict, or None when the webhook is skipped: its matchConditions say
        so, or the call failed and failurePolicy is Ignore."""
        if hook.spec.get("matchConditions") and not self._conditions_match(hook, step):
            return None
        try:
            return await self.call(hook, step)
        except (CallFailed, BadResponse) as exc:
            self._failed(hook, str(exc))
            return None

    def _conditions_match(self, hook: Hook, step: WebhookStep) -> bool:
        from kubelite.apiserver.webhook_match import match_conditions, refused

        outcome = match_conditions(hook.spec, step.request, _admission_request(step))
        if outcome.error:
            log.warning("webhook %s: match conditions failed, failing closed", hook.name)
            raise refused(step.request, outcome.error)
        return outcome.matches

    def _failed(self, hook: Hook, reason: str) -> None:
        if hook.spec.get("failurePolicy", "Fail") == "Ignore":
            log.warning("webhook %s failed, ignored by failurePolicy: %s", hook.name, reason)
            return None
        raise call_failure(hook.name, reason)

    async def run(self, step: WebhookStep) -> Obj | None:
        """Call the webhooks a step reaches; returns the (possibly changed) object."""
        if step.mutating:
            return await self._mutate(step)
        # Upstream's ValidatingAdmissionPolicy plugin runs before the validating webhooks.
        policies = self.policies()
        if policies is not None:
            policies.check(step.request, _admission_request(step))
        await self._validate(step)
        return step.request.obj

    async def admit(
        self,
        request: Request,
        *,
        dry_run: bool = False,
        validate: Callable[[Obj | None], object] | None = None,
    ) -> Obj | None:
        """A whole admission pass for a request not written through `RestStorage`'s
        write path (the `scale` and `eviction` subresources, whose objects are a Scale
        or an Eviction rather than the stored object): the mutating webhooks, then
        `validate` on what they left, then the policies and validating webhooks, as
        upstream orders them. Returns the (possibly changed) object."""
        options = operation_options(request.operation, dry_run=dry_run)
        if self.active(mutating=True):
            obj = await self.run(WebhookStep(True, request, dry_run, options))
            request = replace(request, obj=obj)
        if validate is not None:
            validate(request.obj)
        if self.active(mutating=False):
            await self.run(WebhookStep(False, request, dry_run, options))
        return request.obj

    async def _validate(self, step: WebhookStep) -> None:
        hooks = self.matching(self._validating, step.request)
        if not hooks:
            return
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(self._decide_quietly(h, step)) for h in hooks]
        for hook, task in zip(hooks, tasks, strict=True):
            outcome = task.result()
            if isinstance(outcome, errors.ApiError):
                raise outcome
            if outcome is not None and not outcome.allowed:
                raise WebhookDenied(hook.name, outcome.status)

    async def _decide_quietly(
        self, hook: Hook, step: WebhookStep
    ) -> Verdict | errors.ApiError | None:
        """`_decide` for the task group: an API error is returned, so one webhook's
        refusal does not cancel the others' calls mid-flight."""
        try:
            return await self._decide(hook, step)
        except errors.ApiError as exc:
            return exc

    async def _mutate(self, step: WebhookStep) -> Obj | None:
        req = step.request
        hooks = self.matching(self._mutating, req)
        if not hooks:
            return req.obj
        obj = req.obj
        after: dict[int, bytes] = {}  # index -> the object as that webhook left it
        for i, hook in enumerate(hooks):
            obj = await self._mutate_one(hook, step, obj)
            after[i] = orjson.dumps(obj)
        reinvoke = [
            i for i, hook in enumerate(hooks) if hook.spec.get("reinvocationPolicy") == "IfNeeded"
        ]
        for i in reinvoke:
            if orjson.dumps(obj) != after[i]:
                obj = await self._mutate_one(hooks[i], step, obj)
        return obj

    async def _mutate_one(self, hook: Hook, step: WebhookStep, obj: Obj | None) -> Obj | None:
        req = step.request
        current = replace(req, obj=obj)
        if not object_selector_matches(hook.spec, current):
            return obj
        verdict = await self._decide(hook, WebhookStep(True, current, step.dry_run, step.options))
        if verdict is None:
            return obj
        if not verdict.allowed:
            raise WebhookDenied(hook.name, verdict.status)
        if not verdict.patch:
            return obj
        if obj is None:
            raise errors.InternalError(
                f'admission webhook "{hook.name}" attempted to modify the object, '
                "which is not supported for this operation"
            )
        try:
            return apply_patch(obj, verdict.patch)
        except PatchError as exc:
            self._failed(hook, f"JSON Patch: {exc}")
            return obj

    async def aclose(self) -> None:
        await self.clients.aclose()


def _admission_request(step: WebhookStep) -> Obj:
    """The AdmissionRequest CEL expressions see as `request` (without the objects)."""
    review = review_request(
        "", step.request, user=user_info(), dry_run=step.dry_run, options=step.options
    )
    return {k: v for k, v in review["request"].items() if k not in ("object", "oldObject")}


__all__ = [
    "WebhookDenied",
    "WebhookStep",
    "Webhooks",
    "call_failure",
    "operation_options",
]
