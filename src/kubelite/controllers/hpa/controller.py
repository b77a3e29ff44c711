"""The HorizontalPodAutoscaler controller, as upstream's pkg/controller/podautoscaler.

Every HPA is looked at once per sync period (15 s upstream's
--horizontal-pod-autoscaler-sync-period; the environment variable
KUBELITE_HPA_SYNC_PERIOD shortens it for tests) and whenever its spec
changes. A sync reads the target's scale, the pods its selector picks and
their usage from metrics.k8s.io through the API, asks `replicas` for each
metric's proposal, takes the highest, lets `normalize` stabilize and limit
it, then writes the scale and the HPA's status. Resource and
ContainerResource metrics (cpu, memory; Utilization or AverageValue) are
computed; Pods, Object and External metrics fail as on a cluster without a
custom or external metrics adapter. As upstream, a failed metric blocks a
scale-down the others propose, but not a scale-up. Recommendations and scale events live in memory, as
upstream's: a restart forgets them.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from kubelite.api.quantity import milli_value
from kubelite.apiserver import errors
from kubelite.controllers.clock import Clock, system_clock
from kubelite.controllers.controller import Controller
from kubelite.controllers.hpa import normalize, status
from kubelite.controllers.hpa.replicas import CalculationError, PodSample, resource_replicas
from kubelite.controllers.informer import Handlers, Informer
from kubelite.controllers.objects import Obj, copy, key_of, parse_time, split_key, timestamp

log = logging.getLogger(__name__)

NAME = "horizontal-pod-autoscaler"
SYNC_PERIOD_ENV = "KUBELITE_HPA_SYNC_PERIOD"
DEFAULT_SYNC_PERIOD_S = 15.0
HPA_VERSION = "autoscaling/v2"


def sync_period_from_env() -> float:
    try:
        value = float(os.environ.get(SYNC_PERIOD_ENV, "") or DEFAULT_SYNC_PERIOD_S)
    except ValueError:
        return DEFAULT_SYNC_PERIOD_S
    return value if value > 0 else DEFAULT_SYNC_PERIOD_S


@dataclass
class _History:
    recommendations: list[normalize.Recommendation] = field(default_factory=list)
    events: list[normalize.ScaleEvent] = field(default_factory=list)


class _MetricError(Exception):
    """A metric that gave no proposal: its event reason and message, and the message
    as upstream's computeReplicasForMetric wraps it (`failed to get ... value: ...`)."""

    def __init__(self, reason: str, message: str, wrapped: str) -> None:
        super().__init__(message)
        self.reason, self.message, self.wrapped = reason, message, wrapped


@dataclass(frozen=True)
class _MetricResult:
    replicas: int
    description: str
    status: Obj


class HorizontalPodAutoscalerController(Controller):
    name = NAME
    workers = 5

    def __init__(self, *, clock: Clock = system_clock, sync_period_s: float | None = None) -> None:
        super().__init__(clock=clock)
        self.sync_period_s = sync_period_from_env() if sync_period_s is None else sync_period_s
        self._history: dict[str, _History] = {}

    def setup(self) -> None:
        self.hpa_informer: Informer = self.informers.informer(
            HPA_VERSION, "HorizontalPodAutoscaler"
        )
        self.hpa_informer.add_handlers(
            Handlers(
                on_add=lambda hpa: self.enqueue(key_of(hpa)),
                on_update=self._hpa_updated,
                on_delete=lambda hpa: self.enqueue(key_of(hpa)),
            )
        )

    def _hpa_updated(self, old: Obj, new: Obj) -> None:
        # Our own status writes come back as updates: only a spec change is news.
        if old.get("spec") != new.get("spec"):
            self.enqueue(key_of(new))

    async def reconcile(self, key: str) -> float | None:
        cached = self.hpa_informer.get(key)
        if cached is None:
            self._history.pop(key, None)
            return None
        hpa = copy(cached)
        old_status = copy(hpa.get("status") or {})
        try:
            await self._sync(key, hpa)
        finally:
            if hpa.get("status") != old_status:
                await self._write_status(hpa)
        return self.sync_period_s

    async def _write_status(self, hpa: Obj) -> None:
        try:
            await self.client.update_status(hpa)
        except errors.NotFound:
            pass
        except errors.ApiError as exc:
            await self.recorder.event(hpa, "Warning", "FailedUpdateStatus", str(exc))
            raise

    # ---- one sync ------------------------------------------------------------------

    async def _sync(self, key: str, hpa: Obj) -> None:
        spec, st = hpa.get("spec") or {}, hpa.setdefault("status", {})
        now = self.clock()
        ref = spec.get("scaleTargetRef") or {}
        try:
            self._check_scalable(ref)
            scale = await self.client.get_scale(
                str(ref.get("apiVersion") or ""),
                str(ref.get("kind") or ""),
                str(ref.get("name") or ""),
                split_key(key)[0],
            )
        except errors.ApiError as exc:
            await self.recorder.event(hpa, "Warning", "FailedGetScale", str(exc))
            status.set_condition(
                st,
                status.ABLE_TO_SCALE,
                False,
                "FailedGetScale",
                f"the HPA controller was unable to get the target's current scale: {exc}",
                now=now,
            )
            return
        status.set_condition(
            st,
            status.ABLE_TO_SCALE,
            True,
            "SucceededGetScale",
            "the HPA controller was able to get the target's current scale",
            now=now,
        )
        current = int(scale["spec"]["replicas"])
        min_replicas = _min_replicas(spec)
        max_replicas = int(spec.get("maxReplicas") or 0)
        metric_statuses: list[Obj] = []
        reason = ""
        if current == 0 and min_replicas != 0:
            desired = 0
            status.set_condition(
                st,
                status.SCALING_ACTIVE,
                False,
                "ScalingDisabled",
                "scaling is disabled since the replica count of the target is zero",
                now=now,
            )
        elif current > max_replicas:
            desired, reason = max_replicas, "Current number of replicas above Spec.MaxReplicas"
        elif current < min_replicas:
            desired, reason = min_replicas, "Current number of replicas below Spec.MinReplicas"
        else:
            outcome = await self._from_metrics(hpa, scale, current, now)
            if outcome is None:
                st["currentReplicas"] = current
                return
            best, metric_statuses = outcome
            if best is None:  # no rescale; the statuses still say what was measured
                st["currentReplicas"] = current
                st["currentMetrics"] = metric_statuses or None
                return
            desired = current
            if best.replicas > desired:
                desired, reason = best.replicas, f"{best.description} above target"
            if best.replicas < current:
                desired, reason = best.replicas, "All metrics below target"
            desired = self._normalize(key, hpa, current, desired, now)
        await self._finish(hpa, scale, ref, current, desired, reason, metric_statuses, now)

    def _check_scalable(self, ref: dict[str, Any]) -> None:
        """The target's errors as upstream's controller meets them: its RESTMapper is asked
        for the group and kind only (no version in the NoKindMatchError), and the scale
        client just GETs .../scale, answered 404 for a kind without one."""
        api_version, kind = str(ref.get("apiVersion") or ""), str(ref.get("kind") or "")
        rt = self.client.find_resource(api_version, kind)
        if rt is None:
            group = api_version.rpartition("/")[0]
            raise errors.NotFound(f'no matches for kind "{kind}" in group "{group}"')
        if "scale" not in rt.subresources:
            raise errors.NotFound("the server could not find the requested resource")

    def _normalize(self, key: str, hpa: Obj, current: int, desired: int, now: float) -> int:
        spec, st = hpa.get("spec") or {}, hpa["status"]
        history = self._history.get(key)
        if history is None:  # the count found at first sight is a recommendation, as upstream
            history = self._history[key] = _History([normalize.Recommendation(now, current)])
        behavior = spec.get("behavior")
        low, high = _min_replicas(spec), int(spec.get("maxReplicas") or 0)
        if behavior is None:
            decision = normalize.without_behavior(
                current=current,
                desired=desired,
                min_replicas=low,
                max_replicas=high,
                history=history.recommendations,
                now=now,
            )
            keep = normalize.DOWNSCALE_STABILIZATION_S
        else:
            decision = normalize.with_behavior(
                current=current,
                desired=desired,
                min_replicas=low,
                max_replicas=high,
                behavior=behavior,
                history=history.recommendations,
                events=history.events,
                now=now,
            )
            keep = max(
                float((behavior.get(d) or {}).get("stabilizationWindowSeconds") or 0)
                for d in ("scaleUp", "scaleDown")
            )
        history.recommendations = [r for r in history.recommendations if r.at > now - keep] + [
            normalize.Recommendation(now, desired)
        ]
        status.set_condition(
            st, status.ABLE_TO_SCALE, True, decision.able_reason, decision.able_message, now=now
        )
        status.set_condition(
            st,
            status.SCALING_LIMITED,
            decision.limited,
            decision.limited_reason,
            decision.limited_message,
            now=now,
        )
        return decision.replicas

    async def _finish(
        self,
        hpa: Obj,
        scale: Obj,
        ref: dict[str, Any],
        current: int,
        desired: int,
        reason: str,
        metric_statuses: list[Obj],
        now: float,
    ) -> None:
        st = hpa["status"]
        namespace = hpa["metadata"].get("namespace")
        rescale = desired != current
        if rescale:
            try:
                await self.client.update_scale(
                    str(ref.get("apiVersion")), str(ref.get("kind")), scale, desired, namespace
                )
            except errors.ApiError as exc:
                message = f"New size: {desired}; reason: {reason}; error: {exc}"
                await self.recorder.event(hpa, "Warning", "FailedRescale", message)
                status.set_condition(
                    st,
                    status.ABLE_TO_SCALE,
                    False,
                    "FailedUpdateScale",
                    f"the HPA controller was unable to update the target scale: {exc}",
                    now=now,
                )
                return
            status.set_condition(
                st,
                status.ABLE_TO_SCALE,
                True,
                "SucceededRescale",
                f"the HPA controller was able to update the target scale to {desired}",
                now=now,
            )
            message = f"New size: {desired}; reason: {reason}"
            await self.recorder.event(hpa, "Normal", "SuccessfulRescale", message)
            history = self._history.setdefault(key_of(hpa), _History())
            history.events = [e for e in history.events if e.at > now - 1800] + [
                normalize.ScaleEvent(now, desired - current)
            ]
            st["lastScaleTime"] = timestamp(now)
            log.info(
                "hpa %s/%s: scaled %s/%s from %d to %d: %s",
                namespace,
                hpa["metadata"].get("name"),
                ref.get("kind"),
                ref.get("name"),
                current,
                desired,
                reason,
            )
        st["currentReplicas"] = current
        st["desiredReplicas"] = desired
        # No metric read: null, as the API serializes the unset list (no rewrite each sync).
        st["currentMetrics"] = metric_statuses or None

    # ---- metrics ---------------------------------------------------------------------

    async def _from_metrics(
        self, hpa: Obj, scale: Obj, current: int, now: float
    ) -> tuple[_MetricResult | None, list[Obj]] | None:
        """Upstream's computeReplicasForMetrics: the winning proposal and one status per
        spec metric (an empty one for a metric that failed, so each stays at its spec's
        index). No proposal when every metric failed, or when some failed and the others
        would scale down: a missing metric must not shrink the target. None when the
        pods cannot even be selected. The status conditions say why."""
        st = hpa["status"]
        selector = str((scale.get("status") or {}).get("selector") or "")
        if not selector:
            await self.recorder.event(hpa, "Warning", "SelectorRequired", "selector is required")
            status.set_condition(
                st,
                status.SCALING_ACTIVE,
                False,
                "InvalidSelector",
                "the HPA target's scale is missing a selector",
                now=now,
            )
            return None
        namespace = hpa["metadata"].get("namespace")
        try:
            pods, _ = await self.client.list("v1", "Pod", namespace, label_selector=selector)
        except errors.BadRequest as exc:
            await self.recorder.event(hpa, "Warning", "InvalidSelector", str(exc))
            status.set_condition(
                st,
                status.SCALING_ACTIVE,
                False,
                "InvalidSelector",
                f"couldn't convert selector into a corresponding internal selector object: {exc}",
                now=now,
            )
            return None
        usage, _ = await self.client.list(
            "metrics.k8s.io/v1beta1", "PodMetrics", namespace, label_selector=selector
        )
        results: list[_MetricResult] = []
        failures: list[_MetricError] = []
        statuses: list[Obj] = []
        specs = (hpa.get("spec") or {}).get("metrics") or []
        for spec in specs:
            try:
                result = _metric(spec, current, pods, usage, now, namespace=str(namespace))
            except _MetricError as exc:
                # Upstream's getUnableComputeReplicaCountCondition: an event per failure.
                await self.recorder.event(hpa, "Warning", exc.reason, exc.message)
                failures.append(exc)
                statuses.append({"type": ""})  # Go's zero MetricStatus
                continue
            results.append(result)
            statuses.append(result.status)
        best = max(results, key=lambda r: r.replicas, default=None)
        if failures and (best is None or best.replicas < current):
            first = failures[0]
            await self.recorder.event(
                hpa,
                "Warning",
                "FailedComputeMetricsReplicas",
                f"invalid metrics ({len(failures)} invalid out of {len(specs)}), "
                f"first error is: {first.wrapped}",
            )
            status.set_condition(
                st,
                status.SCALING_ACTIVE,
                False,
                first.reason,
                f"the HPA was unable to compute the replica count: {first.message}",
                now=now,
            )
            return None, statuses
        if best is None:
            return None, statuses
        status.set_condition(
            st,
            status.SCALING_ACTIVE,
            True,
            "ValidMetricFound",
            f"the HPA was able to successfully calculate a replica count from {best.description}",
            now=now,
        )
        return best, statuses


# Metrics served by adapters kubelite does not have (custom.metrics.k8s.io and
# external.metrics.k8s.io): they fail as upstream's do on a cluster without one.
_NO_CUSTOM_API = (
    "unable to fetch metrics from custom metrics API: "
    "no custom metrics API (custom.metrics.k8s.io) registered"
)
_NO_EXTERNAL_API = (
    "unable to fetch metrics from external metrics API: "
    "no external metrics API (external.metrics.k8s.io) registered"
)


def _metric(
    spec: Obj, current: int, pods: list[Obj], usage: list[Obj], now: float, *, namespace: str
) -> _MetricResult:
    """One metric's proposal (upstream's computeReplicasForMetric); `_MetricError` if none."""
    kind = spec.get("type")
    if kind == "Resource":
        return _resource_metric(spec.get("resource") or {}, "", current, pods, usage, now)
    if kind == "ContainerResource":
        source = spec.get("containerResource") or {}
        container = str(source.get("container") or "")
        return _resource_metric(source, container, current, pods, usage, now)
    if kind == "Pods":
        name = ((spec.get("pods") or {}).get("metric") or {}).get("name")
        message = f"unable to get metric {name}: {_NO_CUSTOM_API}"
        raise _MetricError(
            "FailedGetPodsMetric", message, f"failed to get pods metric value: {message}"
        )
    if kind == "Object":
        name = ((spec.get("object") or {}).get("metric") or {}).get("name")
        message = f"unable to get metric {name}: {_NO_CUSTOM_API}"
        raise _MetricError(
            "FailedGetObjectMetric", message, f"failed to get object metric value: {message}"
        )
    if kind == "External":
        name = ((spec.get("external") or {}).get("metric") or {}).get("name")
        message = f"unable to get external metric {namespace}/{name}: {_NO_EXTERNAL_API}"
        raise _MetricError(
            "FailedGetExternalMetric",
            message,
            f"failed to get {name} external metric value: {message}",
        )
    message = f'unknown metric source type "{kind}"'
    raise _MetricError("InvalidMetricSourceType", message, message)


def _resource_metric(
    source: Obj, container: str, current: int, pods: list[Obj], usage: list[Obj], now: float
) -> _MetricResult:
    """A Resource metric, or with `container` a ContainerResource one (the same
    calculation over that container's usage and request only)."""
    name = str(source.get("name"))
    target = source.get("target") or {}
    utilization = target.get("averageUtilization") is not None
    goal = (
        int(target["averageUtilization"])
        if utilization
        else milli_value(target.get("averageValue") or 0)
    )
    try:
        proposal = resource_replicas(
            current=current,
            pods=pods,
            samples=samples_of(usage, name, container),
            resource=name,
            target=goal,
            utilization=utilization,
            now=now,
            container=container,
        )
    except CalculationError as exc:
        what = "utilization" if utilization else "usage"
        message = f"failed to get {name} {what}: {exc}"
        if container:
            raise _MetricError(
                "FailedGetContainerResourceMetric",
                message,
                f"failed to get {container} container metric value: {message}",
            ) from exc
        raise _MetricError(
            "FailedGetResourceMetric",
            message,
            f"failed to get {name} resource metric value: {message}",
        ) from exc
    shown = proposal.utilization if utilization else None
    if container:
        return _MetricResult(
            proposal.replicas,
            status.metric_description(name, utilization, container=True),
            status.container_metric_status(
                name, container, utilization=shown, average_milli=proposal.average_value
            ),
        )
    return _MetricResult(
        proposal.replicas,
        status.metric_description(name, utilization),
        status.resource_metric_status(
            name, utilization=proposal.utilization, average_milli=proposal.average_value
        ),
    )


def _min_replicas(spec: dict[str, Any]) -> int:
    value = spec.get("minReplicas")
    return 1 if value is None else int(value)


def samples_of(usage: list[Obj], resource: str, container: str = "") -> dict[str, PodSample]:
    """Per pod, the summed container usage of `resource` (only `container`'s, when given);
    pods lacking it are left out. A pod whose metrics lack `container` is an error, as
    upstream's resource metrics client has it."""
    out: dict[str, PodSample] = {}
    for item in usage:
        containers = item.get("containers") or []
        if container:
            containers = [c for c in containers if c.get("name") == container]
            if not containers:
                md = item.get("metadata") or {}
                raise CalculationError(
                    f"unable to get metrics for resource {resource}: container {container} "
                    f"not present in metrics for pod {md.get('namespace')}/{md.get('name')}"
                )
        values = [(c.get("usage") or {}).get(resource) for c in containers]
        if not containers or None in values:
            continue
        out[str(item["metadata"]["name"])] = PodSample(
            value=sum(milli_value(str(v)) for v in values),
            timestamp=parse_time(item.get("timestamp")) or 0.0,
            window_s=status.parse_go_duration(item.get("window")),
        )
    return out
