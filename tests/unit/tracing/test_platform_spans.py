"""Spans for pod lives and Deployment rollouts, built from fabricated objects."""

from __future__ import annotations

from typing import Any

import pytest
from platform_builders import T0, deployment, event, pod, replica_set

from kubelite.tracing import platform_spans as ps


def by_name(spans: list[Any]) -> dict[str, Any]:
    return {span["name"]: span for span in spans}


def us(offset_s: float) -> int:
    return round((T0 + offset_s) * 1_000_000)


def test_a_ready_pod_is_one_trace_with_nested_milestones() -> None:
    events = [
        event(
            "Scheduled",
            1.25,
            message="Successfully assigned default/web-1 to node-1",
            annotations={"kubelite.io/score": "187", "kubelite.io/node": "node-1"},
        ),
        event("Pulled", 2.5, message='Container image "web:1" already present on machine'),
    ]
    spans = ps.pod_spans(pod(), events)

    names = [span["name"] for span in spans]
    assert names == ["pod default/web-1", "schedule", "pull", "start", "ready"]
    root = spans[0]
    assert "parentId" not in root
    assert {span["traceId"] for span in spans} == {ps.pod_trace_id("pod-uid-1")}
    assert all(span["parentId"] == root["id"] for span in spans[1:])
    assert root["localEndpoint"] == {"serviceName": "kubelite-control-plane"}
    assert (root["timestamp"], root["duration"]) == (us(0), 5_000_000)
    assert root["tags"]["k8s.pod.name"] == "web-1"
    assert root["tags"]["k8s.node.name"] == "node-1"
    assert root["tags"]["k8s.replicaset.name"] == "web-abc"
    assert "error" not in root["tags"]
    named = by_name(spans)
    schedule = named["schedule"]
    assert schedule["localEndpoint"] == {"serviceName": "kube-scheduler"}
    assert schedule["tags"] == {"node": "node-1", "score": "187"}
    assert (schedule["timestamp"], schedule["duration"]) == (us(0), 1_250_000)  # eventTime
    assert (named["pull"]["timestamp"], named["pull"]["duration"]) == (us(1.25), 1_250_000)
    assert named["pull"]["localEndpoint"] == {"serviceName": "kubelet"}
    assert (named["start"]["timestamp"], named["start"]["duration"]) == (us(2.5), 500_000)
    assert (named["ready"]["timestamp"], named["ready"]["duration"]) == (us(3), 2_000_000)


def test_without_events_the_conditions_time_the_spans_and_score_is_absent() -> None:
    spans = ps.pod_spans(pod())

    named = by_name(spans)
    assert "pull" not in named
    assert named["schedule"]["tags"] == {"node": "node-1"}  # no score: left out
    assert named["schedule"]["duration"] == 1_000_000  # PodScheduled at +1 s
    assert named["start"]["timestamp"] == us(1)


def test_observed_times_refine_whole_second_stamps() -> None:
    observed = ps.PodMilestones(scheduled=T0 + 1.4, started=T0 + 3.2, ready=T0 + 9.9)
    named = by_name(ps.pod_spans(pod(), (), observed))

    assert named["schedule"]["duration"] == 1_400_000  # 1.4 s lies in the stamped second
    assert named["start"]["duration"] == 1_800_000
    # 9.9 s is not within the Ready stamp's second (+5 s): the stamp wins.
    assert named["ready"]["duration"] == 1_800_000


def test_a_pod_not_ready_yet_has_no_root_and_one_that_ended_is_marked() -> None:
    waiting = pod(started=None, ready=None)
    assert [span["name"] for span in ps.pod_spans(waiting)] == ["schedule"]

    failed = pod(ready=None, phase="Failed")
    spans = ps.pod_spans(failed, ended=T0 + 7)
    root = spans[0]
    assert root["name"] == "pod default/web-1"
    assert root["duration"] == 7_000_000
    assert root["tags"]["error"] == "not ready"
    assert root["tags"]["k8s.pod.phase"] == "Failed"


def test_ids_are_derived_from_the_uid_so_a_rebuild_is_identical() -> None:
    first = ps.pod_spans(pod())
    again = ps.pod_spans(pod())
    other = ps.pod_spans(pod(uid="pod-uid-2"))

    assert [s["id"] for s in first] == [s["id"] for s in again]
    assert first[0]["traceId"] != other[0]["traceId"]
    assert len({s["id"] for s in first}) == len(first)
    assert all(len(s["traceId"]) == 32 and len(s["id"]) == 16 for s in first)


def test_out_of_order_stamps_never_give_negative_durations() -> None:
    spans = ps.pod_spans(pod(scheduled=4, started=2, ready=1))
    assert all(span["duration"] >= 1 for span in spans)
    named = by_name(spans)
    assert named["start"]["timestamp"] >= named["schedule"]["timestamp"]


def test_rollout_complete_needs_every_replica_updated_ready_and_available() -> None:
    assert ps.rollout_complete(deployment(complete_at=10)) == T0 + 10
    assert ps.rollout_complete(deployment(complete_at=None)) is None
    stale = deployment(complete_at=10)
    stale["metadata"]["generation"] = 2  # the controller has not seen the new spec yet
    assert ps.rollout_complete(stale) is None


def test_a_rollout_trace_has_one_child_per_scaling_step() -> None:
    steps = [
        event(
            "ScalingReplicaSet",
            at,
            kind="Deployment",
            involved_uid="dep-uid-1",
            message=message,
            uid=f"s{index}",
        )
        for index, (at, message) in enumerate(
            [
                (1, "Scaled up replica set web-2 to 1"),
                (4, "Scaled down replica set web-1 to 1 from 2"),
                (6, "Scaled up replica set web-2 to 2 from 1"),
                (30, "Scaled up replica set web-9 to 1"),  # after the rollout: not ours
            ]
        )
    ]
    rollout = ps.Rollout(
        deployment(revision="2"), replica_set(revision="2", created=0), "2", steps=steps
    )

    spans = ps.rollout_spans(rollout, T0 + 10)

    root = spans[0]
    assert root["name"] == "rollout default/web"
    assert root["traceId"] == ps.rollout_trace_id("dep-uid-1", "2")
    assert (root["timestamp"], root["duration"]) == (us(0), 10_000_000)
    assert root["tags"]["revision"] == "2"
    assert root["tags"]["k8s.replicaset.name"] == "web-2"
    children = spans[1:]
    assert [s["name"] for s in children] == ["scale up", "scale down", "scale up"]
    assert [s["duration"] for s in children] == [3_000_000, 2_000_000, 4_000_000]
    assert all(s["parentId"] == root["id"] for s in children)
    assert children[1]["tags"]["message"] == "Scaled down replica set web-1 to 1 from 2"
    assert {s["localEndpoint"]["serviceName"] for s in children} == {"kube-controller-manager"}


def test_an_event_name_refines_its_whole_second_timestamp() -> None:
    nanos = int((T0 + 3.25) * 1e9)
    named = event("ScalingReplicaSet", 3, micro=False)
    named["metadata"]["name"] = f"web.{nanos:x}"
    assert ps.event_time(named) == pytest.approx(T0 + 3.25, abs=1e-6)
    plain = event("ScalingReplicaSet", 3, micro=False)  # name without a time
    assert ps.event_time(plain) == T0 + 3


def test_an_old_replica_set_scaled_up_in_the_same_second_is_not_a_step() -> None:
    earlier = event(
        "ScalingReplicaSet",
        5,
        kind="Deployment",
        involved_uid="dep-uid-1",
        message="Scaled up replica set web-1 to 2",
        micro=False,
    )
    ours = event(
        "ScalingReplicaSet",
        5.5,
        kind="Deployment",
        involved_uid="dep-uid-1",
        message="Scaled up replica set web-2 to 1",
    )
    rollout = ps.Rollout(
        deployment(revision="2"),
        replica_set(revision="2", created=5),
        "2",
        steps=[earlier, ours],
        observed_start=T0 + 5.4,
    )

    spans = ps.rollout_spans(rollout, T0 + 9)

    assert spans[0]["timestamp"] == us(5.4)  # the stamped second, refined by observation
    assert [s["tags"]["message"] for s in spans[1:]] == ["Scaled up replica set web-2 to 1"]
