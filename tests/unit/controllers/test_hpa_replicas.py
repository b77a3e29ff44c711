"""The HPA replica calculator and normalization: pure, with fake metrics."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.controllers.hpa.normalize import (
    Recommendation,
    ScaleEvent,
    with_behavior,
    without_behavior,
)
from kubelite.controllers.hpa.replicas import CalculationError, PodSample, resource_replicas
from kubelite.controllers.objects import timestamp

NOW = 1_700_000_000.0
STARTED_LONG_AGO = NOW - 3600


def make_pod(
    name: str,
    *,
    cpu: str | None = "100m",
    phase: str = "Running",
    ready: bool = True,
    started: float = STARTED_LONG_AGO,
    deleting: bool = False,
) -> dict[str, Any]:
    requests = {} if cpu is None else {"cpu": cpu}
    meta: dict[str, Any] = {"name": name}
    if deleting:
        meta["deletionTimestamp"] = timestamp(NOW)
    return {
        "metadata": meta,
        "spec": {"containers": [{"name": "c", "resources": {"requests": requests}}]},
        "status": {
            "phase": phase,
            "startTime": timestamp(started),
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True" if ready else "False",
                    "lastTransitionTime": timestamp(started + 10),
                }
            ],
        },
    }


def usage(**milli: int) -> dict[str, PodSample]:
    return {name: PodSample(value, NOW, 15.0) for name, value in milli.items()}


def cpu_replicas(pods: list[dict[str, Any]], samples: dict[str, PodSample], **kw: Any) -> int:
    args: dict[str, Any] = {"current": len(pods), "resource": "cpu", "target": 50}
    args.update(kw)
    return resource_replicas(pods=pods, samples=samples, utilization=True, now=NOW, **args).replicas


@pytest.mark.parametrize(
    ("milli", "expected"),
    [
        # 3 pods at 100m request; target 50 %.
        pytest.param((90, 90, 90), 6, id="90%-of-request-doubles: ceil(1.8*3)"),
        pytest.param((52, 52, 52), 3, id="within-tolerance-keeps: |1-1.04|<=0.1"),
        pytest.param((56, 56, 56), 4, id="just-above-tolerance: ceil(1.12*3)=4"),
        pytest.param((10, 10, 10), 1, id="idle-shrinks: ceil(0.2*3)=1"),
    ],
)
def test_ratio_and_tolerance(milli: tuple[int, ...], expected: int) -> None:
    pods = [make_pod(f"p{i}") for i in range(len(milli))]
    samples = usage(**{f"p{i}": m for i, m in enumerate(milli)})
    assert cpu_replicas(pods, samples) == expected


def test_utilization_and_average_reported() -> None:
    pods = [make_pod("a"), make_pod("b")]
    proposal = resource_replicas(
        current=2,
        pods=pods,
        samples=usage(a=80, b=40),
        resource="cpu",
        target=50,
        utilization=True,
        now=NOW,
    )
    # (80+40)*100/(100+100) = 60 %; ratio 1.2 -> ceil(1.2*2) = 3; average 60m per pod
    assert (proposal.replicas, proposal.utilization, proposal.average_value) == (3, 60, 60)


def test_average_value_target() -> None:
    pods = [make_pod("a"), make_pod("b")]
    proposal = resource_replicas(
        current=2,
        pods=pods,
        samples=usage(a=300, b=300),
        resource="cpu",
        target=200,
        utilization=False,
        now=NOW,
    )
    # 600m / (200m * 2) = 1.5 -> ceil(1.5*2) = 3
    assert (proposal.replicas, proposal.utilization) == (3, None)


def test_missing_metric_counts_as_zero_when_scaling_up() -> None:
    pods = [make_pod("a"), make_pod("b"), make_pod("c")]
    # ready ratio (100+100)/200 = 100 % vs 50 % = 2.0; c missing -> 0:
    # 200*100/300 = 66 % -> 1.32 -> ceil(1.32*3) = 4
    assert cpu_replicas(pods, usage(a=100, b=100)) == 4


def test_missing_metric_counts_as_full_request_when_scaling_down() -> None:
    pods = [make_pod("a"), make_pod("b"), make_pod("c")]
    # ready ratio 10/100 = 0.2; c missing -> max(100, 50) % of 100m = 100m:
    # (10+10+100)*100/300 = 40 % -> 0.8 -> ceil(0.8*3) = 3: the missing pod holds it at 3
    assert cpu_replicas(pods, usage(a=10, b=10)) == 3


def test_missing_metric_that_flips_direction_keeps_current() -> None:
    pods = [make_pod("a"), make_pod("b")]
    # ready ratio 60/50 = 1.2 (up); b missing -> 0: 60*100/200 = 30 % -> 0.6 (down): keep 2
    assert cpu_replicas(pods, usage(a=60)) == 2


def test_unready_pods_count_as_zero_only_when_scaling_up() -> None:
    young = NOW - 60  # inside the 5 minute cpu initialization period
    pods = [make_pod("a"), make_pod("b", ready=False, started=young)]
    # a alone: 100 % -> 2.0; b unready -> 0: 100*100/200 = 50 % -> 1.0: keep 2
    assert cpu_replicas(pods, usage(a=100, b=500)) == 2
    # a alone: 20 % -> 0.4 (down): unready pods are simply left out, ceil(0.4*1) = 1
    assert cpu_replicas(pods, usage(a=20, b=500)) == 1


def test_pending_failed_and_deleting_pods() -> None:
    pods = [
        make_pod("a"),
        make_pod("b", phase="Pending"),
        make_pod("gone", deleting=True),
        make_pod("dead", phase="Failed"),
    ]
    # only a counts: 90 % -> 1.8; pending b counts as 0 for a scale-up:
    # 90*100/200 = 45 % -> 0.9 (down): the direction flipped, keep current (4)
    assert cpu_replicas(pods, usage(a=90, gone=900, dead=900)) == 4


@pytest.mark.parametrize(
    ("pods", "samples", "message"),
    [
        pytest.param(
            [],
            usage(),
            "no pods returned by selector while calculating replica count",
            id="no-pods",
        ),
        pytest.param(
            [make_pod("a")],
            usage(),
            "unable to get metrics for resource cpu: no metrics returned from resource metrics API",
            id="no-metrics",
        ),
        pytest.param(
            [make_pod("a", cpu=None)],
            usage(a=10),
            "missing request for cpu in container c of Pod a",
            id="no-request",
        ),
        pytest.param(
            [make_pod("a", phase="Pending")],
            usage(a=10),
            "did not receive metrics for targeted pods (pods might be unready)",
            id="all-unready",
        ),
    ],
)
def test_errors(pods: list[dict[str, Any]], samples: dict[str, PodSample], message: str) -> None:
    with pytest.raises(CalculationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        cpu_replicas(pods, samples, current=1)


# ---- normalization -----------------------------------------------------------------------


def test_no_behavior_scale_down_is_stabilized_by_recent_highs() -> None:
    history = [Recommendation(NOW - 200, 5), Recommendation(NOW - 400, 9)]
    decision = without_behavior(
        current=5, desired=2, min_replicas=1, max_replicas=10, history=history, now=NOW
    )
    # 9 is older than 300 s; 5 is within: max(2, 5) = 5
    assert decision.replicas == 5
    assert decision.able_reason == "ScaleDownStabilized"
    assert (decision.limited, decision.limited_reason) == (False, "DesiredWithinRange")


@pytest.mark.parametrize(
    ("current", "desired", "maximum", "expected", "reason"),
    [
        pytest.param(1, 10, 20, 4, "ScaleUpLimit", id="up-limit-max(2x1,4)=4"),
        pytest.param(3, 10, 20, 6, "ScaleUpLimit", id="up-limit-2x3=6"),
        pytest.param(3, 10, 5, 5, "TooManyReplicas", id="max-replicas"),
        pytest.param(3, 0, 5, 2, "TooFewReplicas", id="min-replicas"),
    ],
)
def test_no_behavior_limits(
    current: int, desired: int, maximum: int, expected: int, reason: str
) -> None:
    decision = without_behavior(
        current=current, desired=desired, min_replicas=2, max_replicas=maximum, history=[], now=NOW
    )
    assert (decision.replicas, decision.limited, decision.limited_reason) == (
        expected,
        True,
        reason,
    )


DEFAULT_BEHAVIOR = {
    "scaleUp": {
        "stabilizationWindowSeconds": 0,
        "selectPolicy": "Max",
        "policies": [
            {"type": "Pods", "value": 4, "periodSeconds": 15},
            {"type": "Percent", "value": 100, "periodSeconds": 15},
        ],
    },
    "scaleDown": {
        "stabilizationWindowSeconds": 300,
        "selectPolicy": "Max",
        "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
    },
}


def test_behavior_scale_up_policies() -> None:
    # current 10: Pods -> 10+4 = 14, Percent -> ceil(10*2) = 20; Max picks 20
    decision = with_behavior(
        current=10,
        desired=50,
        min_replicas=1,
        max_replicas=100,
        behavior=DEFAULT_BEHAVIOR,
        history=[],
        events=[],
        now=NOW,
    )
    assert (decision.replicas, decision.limited_reason) == (20, "ScaleUpLimit")


def test_behavior_scale_up_counts_recent_events() -> None:
    # 6 added 5 s ago: the period started at 4: Pods 4+4 = 8, Percent ceil(4*2) = 8
    decision = with_behavior(
        current=10,
        desired=50,
        min_replicas=1,
        max_replicas=100,
        behavior=DEFAULT_BEHAVIOR,
        history=[],
        events=[ScaleEvent(NOW - 5, 6)],
        now=NOW,
    )
    # the limit (8) is below current: hold at current
    assert decision.replicas == 10


def test_behavior_scale_down_window_and_disabled() -> None:
    history = [Recommendation(NOW - 100, 8)]
    decision = with_behavior(
        current=10,
        desired=2,
        min_replicas=1,
        max_replicas=100,
        behavior=DEFAULT_BEHAVIOR,
        history=history,
        events=[],
        now=NOW,
    )
    assert (decision.replicas, decision.able_reason) == (8, "ScaleDownStabilized")
    disabled = {**DEFAULT_BEHAVIOR, "scaleDown": {"selectPolicy": "Disabled", "policies": []}}
    decision = with_behavior(
        current=10,
        desired=2,
        min_replicas=1,
        max_replicas=100,
        behavior=disabled,
        history=[],
        events=[],
        now=NOW,
    )
    assert (decision.replicas, decision.limited_reason) == (10, "ScaleDownLimit")


ONE_POD_PER_5_MIN = {
    "selectPolicy": "Max",
    "stabilizationWindowSeconds": 0,
    "policies": [{"type": "Pods", "value": 1, "periodSeconds": 300}],
}
UP_DOWN_BEHAVIOR = {"scaleUp": ONE_POD_PER_5_MIN, "scaleDown": ONE_POD_PER_5_MIN}


@pytest.mark.parametrize(
    ("current", "desired", "events", "expected", "reason"),
    [
        # The QA case: 2 -> 3 (+1) then 3 -> 2 (-1) in the period. The period started at
        # 2 - 1 + 1 = 2, so one more pod is allowed: 3 (same-direction only said 2 - 1 = 1,
        # limit 2: stuck).
        pytest.param(
            2, 3, [ScaleEvent(NOW - 50, 1), ScaleEvent(NOW - 25, -1)], 3, "DesiredWithinRange",
            id="up-after-up-and-down",
        ),
        # Mirror: 3 -> 2 (-1) then 2 -> 3 (+1): the period started at 3 + 1 - 1 = 3: 2 allowed.
        pytest.param(
            3, 2, [ScaleEvent(NOW - 50, -1), ScaleEvent(NOW - 25, 1)], 2, "DesiredWithinRange",
            id="down-after-down-and-up",
        ),
        # Same-direction events still count: +1 already this period -> start 2, limit 3.
        pytest.param(3, 5, [ScaleEvent(NOW - 25, 1)], 3, "ScaleUpLimit", id="up-after-up"),
        # Events older than the period are forgotten: start 2, limit 3.
        pytest.param(2, 5, [ScaleEvent(NOW - 301, 1)], 3, "ScaleUpLimit", id="old-event"),
    ],
)  # fmt: skip
def test_behavior_rate_limits_count_both_directions(
    current: int, desired: int, events: list[ScaleEvent], expected: int, reason: str
) -> None:
    decision = with_behavior(
        current=current,
        desired=desired,
        min_replicas=1,
        max_replicas=10,
        behavior=UP_DOWN_BEHAVIOR,
        history=[],
        events=events,
        now=NOW,
    )
    assert (decision.replicas, decision.limited_reason) == (expected, reason)
