"""The `pods/eviction` subresource: a pod delete that asks the pod's disruption budget first.

An eviction is how drains and autoscalers take a pod away without breaking
the availability an application promised through a PodDisruptionBudget.
The decision follows kube-apiserver's eviction REST, step by step:

1. Pods whose loss disrupts nothing more (Succeeded, Failed, Pending, or
   already being deleted) are deleted at once, with no budget check.
2. The budgets in the pod's namespace whose selector matches the pod are
   found; an empty selector matches nothing here. More than one is a 500;
   none means the pod is simply deleted.
3. A pod that is not Ready may go without spending the budget when the
   budget says `AlwaysAllow`, or (`IfHealthyBudget`, the default) when the
   application is healthy enough anyway; the delete then carries the pod's
   resourceVersion, so a pod that turned Ready in between is refused (429).
4. Otherwise the budget must be current (observedGeneration), allow at
   least one disruption, and not hold too many unconfirmed evictions. One
   disruption is spent and the pod recorded in `status.disruptedPods`, so
   the disruption controller counts it as gone until the pod really is.
5. The pod gets the `DisruptionTarget` condition and is deleted with the
   caller's delete options (grace period, preconditions, propagation).

Every step from reading the pod to deleting it runs without awaiting, so
the verify-and-decrement of the budget is atomic here where upstream needs
conflict retries. `?dryRun=All` (or `deleteOptions.dryRun`) checks all of
it and writes nothing.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from kubelite.api.selectors import SelectorError, selector_from_dict
from kubelite.apiserver import bodies, errors
from kubelite.apiserver import meta as m
from kubelite.apiserver.rest import DeleteOptions
from kubelite.apiserver.webhook_rules import Request as WebhookRequest

if TYPE_CHECKING:
    from kubelite.apiserver.http import Request, Response
    from kubelite.apiserver.rest import RestStorage

Obj = dict[str, Any]

EVICTION_API_VERSIONS = ("policy/v1", "policy/v1beta1")
EVICTION_KIND = ("policy", "v1", "Eviction")
DISRUPTION_BUDGET_CAUSE = "DisruptionBudget"
# Evictions the API approved that the disruption controller has not yet seen;
# beyond this many the budget refuses more until the controller catches up.
MAX_DISRUPTED_POD_SIZE = 2000
PROCESSING_RETRY_AFTER_SECONDS = 10
VIOLATION_MESSAGE = "Cannot evict pod as it would violate the pod's disruption budget."
MULTIPLE_BUDGETS_MESSAGE = (
    "This pod has more than one PodDisruptionBudget, which the eviction subresource does not "
    "support."
)
ALWAYS_ALLOW = "AlwaysAllow"
DISRUPTION_ALLOWED = "DisruptionAllowed"


class StatusFailure(errors.ApiError):
    """A failure Status the eviction answers as a value, with a code and no reason."""

    code = 500
    reason = ""

    def status(self) -> dict[str, Any]:
        body = super().status()
        body.pop("reason", None)
        return body


# ---- the HTTP entry point ------------------------------------------------------


async def handle(storage: RestStorage, req: Request, namespace: str | None, name: str) -> Response:
    """POST pods/NAME/eviction: read the Eviction, evict, answer 201 with a Success Status."""
    body = bodies.decode_object(
        await bodies.read_body(req.receive), req.headers.get("content-type")
    )
    pods = storage.registry.by_kind("v1", "Pod")
    assert pods is not None
    eviction_delete_options(body, name=name, namespace=namespace, query=req.query)
    # Webhooks get it as the policy/v1 Eviction the endpoint serves (v1beta1 is the same shape).
    body = {**body, "apiVersion": "policy/v1", "kind": "Eviction"}
    # Admission sees the Eviction (a CREATE of pods/NAME/eviction), as upstream's
    # create handler gives it: mutating webhooks first, then the Eviction's own
    # checks, then the validating webhooks and policies; only then is the pod read.
    checked: list[DeleteOptions] = []

    def check(eviction: Obj | None) -> None:
        checked[:] = [
            eviction_delete_options(eviction or {}, name=name, namespace=namespace, query=req.query)
        ]

    await storage.webhooks.admit(
        WebhookRequest("CREATE", pods, "eviction", namespace, name, body, None, kind=EVICTION_KIND),
        dry_run=bool(req.query.get("dryRun")),
        validate=check,
    )
    evict(storage, namespace, name, checked[0])
    return _success()


def _success() -> Response:
    from kubelite.apiserver.http import json_response

    return json_response(
        {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201},
        201,
    )


def eviction_delete_options(
    body: Mapping[str, Any], *, name: str, namespace: str | None, query: Mapping[str, str]
) -> DeleteOptions:
    """The Eviction's delete options, with the request's dryRun merged in (propagateDryRun)."""
    api_version = body.get("apiVersion") or EVICTION_API_VERSIONS[0]
    if api_version not in EVICTION_API_VERSIONS:
        raise errors.BadRequest(
            f"the API version in the data ({api_version}) does not match the expected API "
            f"version ({EVICTION_API_VERSIONS[0]})"
        )
    kind = body.get("kind") or "Eviction"
    if kind != "Eviction":
        raise errors.BadRequest(f"not a Eviction object: *policy.{kind}")
    md = body.get("metadata") or {}
    if md.get("namespace") and md["namespace"] != namespace:
        raise errors.BadRequest(
            "the namespace of the provided object does not match the namespace sent on the request"
        )
    if md.get("name") != name:
        raise errors.BadRequest("name in URL does not match name in Eviction object")
    raw = body.get("deleteOptions")
    if raw is not None and not isinstance(raw, dict):
        raise errors.BadRequest("deleteOptions must be an object")
    raw = dict(raw or {})
    requested = [query["dryRun"]] if query.get("dryRun") else []
    in_body = list(raw.get("dryRun") or [])
    if in_body and requested and in_body != requested:
        err = errors.ApiError(
            f"Non-matching dry-run options in request and content: "
            f"[{' '.join(requested)}] and [{' '.join(in_body)}]"
        )
        err.reason = ""  # a plain error upstream: StatusReasonUnknown, omitted
        raise err
    raw["dryRun"] = in_body or requested
    return DeleteOptions.parse(raw, {})


# ---- the decision ----------------------------------------------------------------


def evict(storage: RestStorage, namespace: str | None, name: str, options: DeleteOptions) -> None:
    """Evict one pod or raise the ApiError that says why not (429, 403, 409, 500, ...)."""
    pods = storage.registry.by_kind("v1", "Pod")
    budgets_rt = storage.registry.by_kind("policy/v1", "PodDisruptionBudget")
    assert pods is not None and budgets_rt is not None
    pod = storage.get(pods, namespace, name).obj()
    pod_rv = str(pod["metadata"].get("resourceVersion", ""))
    if can_ignore_pdb(pod):
        if should_enforce_resource_version(pod) and not _rv_precondition(options):
            options = with_resource_version(options, pod_rv)
        delete_evicted_pod(storage, namespace, name, options)
        return
    budgets = matching_budgets(
        [kv.obj() for kv in storage.list(budgets_rt, namespace).items], pod, namespace
    )
    if len(budgets) > 1:
        raise StatusFailure(MULTIPLE_BUDGETS_MESSAGE)
    if not budgets:
        delete_evicted_pod(storage, namespace, name, options)
        return
    pdb = budgets[0]
    pdb_name = str(pdb["metadata"]["name"])
    if not _ready(pod) and unhealthy_pod_may_go(pdb):
        # Not counted as healthy, so no disruption is spent; the delete must
        # still find the pod as it was, or it may have turned Ready meanwhile.
        try:
            delete_evicted_pod(storage, namespace, name, with_resource_version(options, pod_rv))
        except errors.Conflict:
            if _rv_precondition(options):
                raise
            raise still_processing(pdb_name) from None
        return
    pdb["status"] = check_and_decrement(pdb, name, now=storage.clock(), record=not options.dry_run)
    if not options.dry_run:
        storage.update(budgets_rt, namespace, pdb_name, pdb, subresource="status")
    delete_evicted_pod(storage, namespace, name, options)


def can_ignore_pdb(pod: Mapping[str, Any]) -> bool:
    """A pod whose eviction disrupts nothing more: terminal, Pending, or being deleted."""
    phase = (pod.get("status") or {}).get("phase")
    return phase in ("Succeeded", "Failed", "Pending") or _being_deleted(pod)


def should_enforce_resource_version(pod: Mapping[str, Any]) -> bool:
    """Pin the delete to the pod we looked at, unless it can no longer turn Ready."""
    phase = (pod.get("status") or {}).get("phase")
    return phase not in ("Succeeded", "Failed") and not _being_deleted(pod)


def matching_budgets(
    budgets: list[Obj], pod: Mapping[str, Any], namespace: str | None
) -> list[Obj]:
    """The budgets guarding `pod`: same namespace, a selector that is valid, not empty, matching."""
    labels = (pod.get("metadata") or {}).get("labels") or {}
    out = []
    for pdb in budgets:
        if pdb["metadata"].get("namespace") != namespace:
            continue
        try:
            selector = selector_from_dict((pdb.get("spec") or {}).get("selector"))
        except SelectorError:
            continue  # an invalid selector matches no pod
        if selector.empty or not selector.matches(labels):
            continue  # a nil or empty selector matches nothing, not everything
        out.append(pdb)
    return out


def unhealthy_pod_may_go(pdb: Mapping[str, Any]) -> bool:
    """Whether a not-Ready pod may be evicted without spending a disruption."""
    if (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy") == ALWAYS_ALLOW:
        return True
    status = pdb.get("status") or {}
    desired = int(status.get("desiredHealthy") or 0)
    return int(status.get("currentHealthy") or 0) >= desired and desired > 0


def check_and_decrement(pdb: Mapping[str, Any], pod_name: str, *, now: float, record: bool) -> Obj:
    """The budget's status after spending one disruption on `pod_name`, or the refusal.

    With `record` the pod is entered in `disruptedPods` at `now` (a dry run
    checks without recording).
    """
    md, status = pdb["metadata"], dict(pdb.get("status") or {})
    name = str(md["name"])
    if int(status.get("observedGeneration") or 0) < int(md.get("generation") or 0):
        raise still_processing(name)
    allowed = int(status.get("disruptionsAllowed") or 0)
    if allowed < 0:
        raise _forbidden(name, "pdb disruptions allowed is negative")
    if len(status.get("disruptedPods") or {}) > MAX_DISRUPTED_POD_SIZE:
        raise _forbidden(
            name, "DisruptedPods map too big - too many evictions not confirmed by PDB controller"
        )
    if allowed == 0:
        raise _too_many_requests(
            f"The disruption budget {name} needs {int(status.get('desiredHealthy') or 0)} "
            f"healthy pods and has {int(status.get('currentHealthy') or 0)} currently",
            retry_after=0,
        )
    status["disruptionsAllowed"] = allowed - 1
    if allowed - 1 == 0:
        status["conditions"] = _insufficient_pods(status, now)
    if record:
        disrupted = dict(status.get("disruptedPods") or {})
        disrupted[pod_name] = m.now_rfc3339(now)
        status["disruptedPods"] = disrupted
    return status


def _insufficient_pods(status: Mapping[str, Any], now: float) -> list[Obj]:
    """DisruptionAllowed=False/InsufficientPods, as the budget helper sets it at zero."""
    conditions = [dict(c) for c in status.get("conditions") or []]
    cond = next((c for c in conditions if c.get("type") == DISRUPTION_ALLOWED), None)
    if cond is None:
        cond = {"type": DISRUPTION_ALLOWED}
        conditions.append(cond)
    if cond.get("status") != "False" or not cond.get("lastTransitionTime"):
        cond["lastTransitionTime"] = m.now_rfc3339(now)
    cond.update(
        status="False",
        reason="InsufficientPods",
        message="",
        observedGeneration=int(status.get("observedGeneration") or 0),
    )
    return conditions


# ---- the delete ------------------------------------------------------------------


def delete_evicted_pod(
    storage: RestStorage, namespace: str | None, name: str, options: DeleteOptions
) -> None:
    """Mark the pod `DisruptionTarget` (unless a dry run), then delete it with `options`."""
    pods = storage.registry.by_kind("v1", "Pod")
    assert pods is not None
    if not options.dry_run:
        current = storage.get(pods, namespace, name).obj()
        _check_latest(current, name, options.preconditions or {})
        _set_disruption_target(current, storage.clock())
        updated = storage.update(pods, namespace, name, current, subresource="status")
        if _rv_precondition(options):
            options = with_resource_version(options, str(updated.revision))
    storage.delete(pods, namespace, name, options)


def _check_latest(pod: Mapping[str, Any], name: str, pre: Mapping[str, Any]) -> None:
    """The delete preconditions, checked before the condition write changes the pod."""
    md = pod["metadata"]
    uid, rv = pre.get("uid"), pre.get("resourceVersion")
    if uid and uid != md.get("uid"):
        raise _pod_conflict(
            name,
            f"the UID in the precondition ({uid}) does not match the UID in record "
            f"({md.get('uid')}). The object might have been deleted and then recreated",
        )
    if rv and str(rv) != str(md.get("resourceVersion")):
        raise _pod_conflict(
            name,
            f"the ResourceVersion in the precondition ({rv}) does not match the "
            f"ResourceVersion in record ({md.get('resourceVersion')}). "
            "The object might have been modified",
        )


def _set_disruption_target(pod: Obj, now: float) -> None:
    status = pod.setdefault("status", {})
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != "DisruptionTarget"]
    old = next(
        (c for c in status.get("conditions") or [] if c.get("type") == "DisruptionTarget"), None
    )
    transition = (
        old["lastTransitionTime"]
        if old and old.get("status") == "True" and old.get("lastTransitionTime")
        else m.now_rfc3339(now)
    )
    conditions.append(
        {
            "type": "DisruptionTarget",
            "status": "True",
            "lastProbeTime": None,
            "lastTransitionTime": transition,
            "reason": "EvictionByEvictionAPI",
            "message": "Eviction API: evicting",
        }
    )
    status["conditions"] = conditions


def with_resource_version(options: DeleteOptions, resource_version: str) -> DeleteOptions:
    pre = dict(options.preconditions or {})
    pre["resourceVersion"] = resource_version
    return dataclasses.replace(options, preconditions=pre)


def _rv_precondition(options: DeleteOptions) -> bool:
    return bool((options.preconditions or {}).get("resourceVersion"))


# ---- errors and small readers ----------------------------------------------------


def still_processing(pdb_name: str) -> errors.TooManyRequests:
    return _too_many_requests(
        f"The disruption budget {pdb_name} is still being processed by the server.",
        retry_after=PROCESSING_RETRY_AFTER_SECONDS,
    )


def _too_many_requests(cause: str, *, retry_after: int) -> errors.TooManyRequests:
    details: Obj = {}
    headers: dict[str, str] = {}
    if retry_after > 0:
        details["retryAfterSeconds"] = retry_after
        headers["Retry-After"] = str(retry_after)
    details["causes"] = [{"reason": DISRUPTION_BUDGET_CAUSE, "message": cause}]
    return errors.TooManyRequests(VIOLATION_MESSAGE, details=details, headers=headers)


def _forbidden(pdb_name: str, why: str) -> errors.Forbidden:
    return errors.Forbidden(
        f'poddisruptionbudget.policy "{pdb_name}" is forbidden: {why}',
        details={"name": pdb_name, "group": "policy", "kind": "poddisruptionbudget"},
    )


def _pod_conflict(name: str, why: str) -> errors.Conflict:
    return errors.Conflict(
        f'Operation cannot be fulfilled on Pod "{name}": {why}',
        details={"name": name, "kind": "Pod"},
    )


def _ready(pod: Mapping[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def _being_deleted(pod: Mapping[str, Any]) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


__all__ = [
    "can_ignore_pdb",
    "check_and_decrement",
    "eviction_delete_options",
    "evict",
    "handle",
    "matching_budgets",
]
