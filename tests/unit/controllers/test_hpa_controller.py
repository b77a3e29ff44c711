"""The HPA controller over an in-process API, with fake pod metrics and a fake clock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from ctl_builders import Harness, make_deployment, make_pod

from kubelite.controllers.hpa import HorizontalPodAutoscalerController
from kubelite.controllers.objects import timestamp

pytestmark = pytest.mark.anyio
HPA = "autoscaling/v2"


class FakeMetrics:
    """PodMetrics as metrics.k8s.io would serve them: cpu usage in millicores per pod."""

    def __init__(self, clock: Any) -> None:
        self.clock = clock
        self.cpu: dict[str, int] = {}

    async def nodes(self) -> list[dict[str, Any]]:
        return []

    async def pods(
        self, namespace: str | None, wanted: Callable[[dict[str, Any]], bool] | None = None
    ) -> list[dict[str, Any]]:
        items = [
            {
                "kind": "PodMetrics",
                "apiVersion": "metrics.k8s.io/v1beta1",
                "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
                "timestamp": timestamp(self.clock()),
                "window": "15s",
                "containers": [{"name": "app", "usage": {"cpu": f"{milli}m", "memory": "1Mi"}}],
            }
            for name, milli in self.cpu.items()
        ]
        return [m for m in items if wanted is None or wanted(m)]


def hpa(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": HPA,
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": 1,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 50},
                    },
                }
            ],
            **spec,
        },
    }


async def running_pods(h: Harness, count: int, *, cpu: str | None = "100m") -> None:
    for i in range(count):
        pod = make_pod(f"web-{i}", labels={"app": "web"})
        if cpu is not None:
            pod["spec"]["containers"][0]["resources"] = {"requests": {"cpu": cpu}}
        await h.create(pod)
        await h.set_ready(pod)
        await h.client.patch(
            "v1",
            "Pod",
            f"web-{i}",
            {"status": {"startTime": timestamp(h.clock() - 3600)}},
            "default",
            subresource="status",
        )


async def setup(h: Harness, *, pods: int, cpu: str | None = "100m") -> tuple[Any, FakeMetrics]:
    metrics = FakeMetrics(h.clock)
    h.client.metrics = metrics
    ctrl = HorizontalPodAutoscalerController(clock=h.clock, sync_period_s=15)
    h.bind(ctrl)
    await h.create(make_deployment("web", replicas=pods))
    await running_pods(h, pods, cpu=cpu)
    return ctrl, metrics


def conditions(obj: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in obj["status"].get("conditions") or []}


async def test_scales_up_and_reports(h: Harness) -> None:
    ctrl, metrics = await setup(h, pods=2)
    metrics.cpu = {"web-0": 90, "web-1": 90}
    await h.client.create(hpa())
    assert await h.sync(ctrl) == 15
    # 180m of 200m requested = 90 %; 90/50 = 1.8 -> ceil(1.8*2) = 4
    assert (await h.get("Deployment", "web"))["spec"]["replicas"] == 4
    got = await h.client.get(HPA, "HorizontalPodAutoscaler", "web", "default")
    assert got["status"]["currentReplicas"] == 2
    assert got["status"]["desiredReplicas"] == 4
    assert got["status"]["lastScaleTime"]
    assert got["status"]["currentMetrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "current": {"averageValue": "90m", "averageUtilization": 90},
            },
        }
    ]
    assert conditions(got) == {
        "AbleToScale": ("True", "SucceededRescale"),
        "ScalingActive": ("True", "ValidMetricFound"),
        "ScalingLimited": ("False", "DesiredWithinRange"),
    }
    assert await h.events("SuccessfulRescale") == [
        "New size: 4; reason: cpu resource utilization (percentage of request) above target"
    ]


async def test_scale_down_waits_for_the_stabilization_window(h: Harness) -> None:
    ctrl, metrics = await setup(h, pods=4)
    metrics.cpu = {f"web-{i}": 50 for i in range(4)}  # exactly on target: keep 4
    await h.client.create(hpa())
    await h.sync(ctrl)
    metrics.cpu = {f"web-{i}": 5 for i in range(4)}  # 5 % -> ceil(0.1*4) = 1
    h.clock.step(60)
    await h.sync(ctrl)
    assert (await h.get("Deployment", "web"))["spec"]["replicas"] == 4
    got = await h.client.get(HPA, "HorizontalPodAutoscaler", "web", "default")
    assert conditions(got)["AbleToScale"] == ("True", "ScaleDownStabilized")
    h.clock.step(300)  # the recommendation of 4 has left the 300 s window
    await h.sync(ctrl)
    assert (await h.get("Deployment", "web"))["spec"]["replicas"] == 1
    assert await h.events("SuccessfulRescale") == ["New size: 1; reason: All metrics below target"]


async def test_missing_requests_make_scaling_inactive(h: Harness) -> None:
    ctrl, metrics = await setup(h, pods=1, cpu=None)
    metrics.cpu = {"web-0": 90}
    await h.client.create(hpa())
    await h.sync(ctrl)
    got = await h.client.get(HPA, "HorizontalPodAutoscaler", "web", "default")
    assert conditions(got)["ScalingActive"] == ("False", "FailedGetResourceMetric")
    message = next(
        c["message"] for c in got["status"]["conditions"] if c["type"] == "ScalingActive"
    )
    assert message == (
        "the HPA was unable to compute the replica count: failed to get cpu utilization: "
        "missing request for cpu in container app of Pod web-0"
    )
    assert (await h.get("Deployment", "web"))["spec"]["replicas"] == 1


async def test_replicas_above_max_are_brought_down(h: Harness) -> None:
    ctrl, _ = await setup(h, pods=0)
    await h.client.patch("apps/v1", "Deployment", "web", {"spec": {"replicas": 12}}, "default")
    await h.client.create(hpa())
    await h.sync(ctrl)
    assert (await h.get("Deployment", "web"))["spec"]["replicas"] == 10
    assert await h.events("SuccessfulRescale") == [
        "New size: 10; reason: Current number of replicas above Spec.MaxReplicas"
    ]


# ---- several metrics, one failing (upstream's computeReplicasForMetrics) ----------------

PACKETS = {
    "type": "Pods",
    "pods": {
        "metric": {"name": "packets-per-second"},
        "target": {"type": "AverageValue", "averageValue": "1k"},
    },
}
CPU_50 = hpa()["spec"]["metrics"][0]
NO_CUSTOM_API = (
    "unable to get metric packets-per-second: unable to fetch metrics from custom metrics "
    "API: no custom metrics API (custom.metrics.k8s.io) registered"
)


async def test_a_failing_metric_blocks_a_scale_down(h: Harness) -> None:
    from kubelite.apiserver.tables_hpa import format_hpa_metrics

    ctrl, metrics = await setup(h, pods=4)
    metrics.cpu = {f"web-{i}": 30 for i in range(4)}  # 30 % of 50 %: cpu alone says 3
    behavior = {"scaleDown": {"stabilizationWindowSeconds": 0}}
    await h.client.create(hpa(metrics=[PACKETS, CPU_50], behavior=behavior))
    await h.sync(ctrl)
    assert (await h.get("Deployment", "web"))["spec"]["replicas"] == 4
    got = await h.client.get(HPA, "HorizontalPodAutoscaler", "web", "default")
    assert conditions(got)["ScalingActive"] == ("False", "FailedGetPodsMetric")
    assert await h.events("FailedGetPodsMetric") == [NO_CUSTOM_API]
    assert await h.events("FailedComputeMetricsReplicas") == [
        "invalid metrics (1 invalid out of 2), first error is: "
        f"failed to get pods metric value: {NO_CUSTOM_API}"
    ]
    assert await h.events("SuccessfulRescale") == []
    # One status per spec metric, the failed one empty: kubectl pairs them by index.
    current = got["status"]["currentMetrics"]
    assert current[0] == {"type": ""}
    assert current[1]["resource"]["current"]["averageUtilization"] == 30
    assert format_hpa_metrics(got["spec"]["metrics"], current) == "<unknown>/1k, cpu: 30%/50%"


async def test_a_failing_metric_does_not_block_a_scale_up(h: Harness) -> None:
    ctrl, metrics = await setup(h, pods=2)
    metrics.cpu = {"web-0": 90, "web-1": 90}  # 90/50 = 1.8 -> 4
    await h.client.create(hpa(metrics=[PACKETS, CPU_50]))
    await h.sync(ctrl)
    assert (await h.get("Deployment", "web"))["spec"]["replicas"] == 4
    got = await h.client.get(HPA, "HorizontalPodAutoscaler", "web", "default")
    assert conditions(got)["ScalingActive"] == ("True", "ValidMetricFound")
    assert await h.events("FailedGetPodsMetric") == [NO_CUSTOM_API]
    assert await h.events("FailedComputeMetricsReplicas") == []


def container_cpu(container: str, utilization: int = 50) -> dict[str, Any]:
    return {
        "type": "ContainerResource",
        "containerResource": {
            "name": "cpu",
            "container": container,
            "target": {"type": "Utilization", "averageUtilization": utilization},
        },
    }


async def test_container_resource_metrics_scale(h: Harness) -> None:
    ctrl, metrics = await setup(h, pods=2)
    metrics.cpu = {"web-0": 90, "web-1": 90}  # container app: 90m of 100m = 90 %; 1.8 -> 4
    await h.client.create(hpa(metrics=[container_cpu("app")]))
    await h.sync(ctrl)
    assert (await h.get("Deployment", "web"))["spec"]["replicas"] == 4
    got = await h.client.get(HPA, "HorizontalPodAutoscaler", "web", "default")
    assert got["status"]["currentMetrics"] == [
        {
            "type": "ContainerResource",
            "containerResource": {
                "name": "cpu",
                "container": "app",
                "current": {"averageValue": "90m", "averageUtilization": 90},
            },
        }
    ]
    assert await h.events("SuccessfulRescale") == [
        "New size: 4; reason: cpu container resource utilization (percentage of request) "
        "above target"
    ]


async def test_container_resource_metric_of_a_missing_container(h: Harness) -> None:
    ctrl, metrics = await setup(h, pods=1)
    metrics.cpu = {"web-0": 90}
    await h.client.create(hpa(metrics=[container_cpu("sidecar")]))
    await h.sync(ctrl)
    got = await h.client.get(HPA, "HorizontalPodAutoscaler", "web", "default")
    assert conditions(got)["ScalingActive"] == ("False", "FailedGetContainerResourceMetric")
    inner = (
        "failed to get cpu utilization: unable to get metrics for resource cpu: "
        "container sidecar not present in metrics for pod default/web-0"
    )
    assert await h.events("FailedComputeMetricsReplicas") == [
        "invalid metrics (1 invalid out of 1), first error is: "
        f"failed to get sidecar container metric value: {inner}"
    ]


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        # Upstream's RESTMapper is asked for the group and kind only.
        pytest.param(
            {"apiVersion": "v1", "kind": "Foo", "name": "nosuchx"},
            'no matches for kind "Foo" in group ""',
            id="unknown-kind",
        ),
        # The scale client GETs .../scale: the server's 404.
        pytest.param(
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "cm"},
            "the server could not find the requested resource",
            id="no-scale-subresource",
        ),
    ],
)
async def test_failed_get_scale_wording(h: Harness, ref: dict[str, str], message: str) -> None:
    ctrl, _ = await setup(h, pods=0)
    await h.client.create(hpa(scaleTargetRef=ref))
    await h.sync(ctrl)
    got = await h.client.get(HPA, "HorizontalPodAutoscaler", "web", "default")
    able = next(c for c in got["status"]["conditions"] if c["type"] == "AbleToScale")
    assert (able["reason"], able["message"]) == (
        "FailedGetScale",
        f"the HPA controller was unable to get the target's current scale: {message}",
    )
    assert await h.events("FailedGetScale") == [message]
