"""Row values read as `kubectl get` prints them."""

from __future__ import annotations

from typing import Any

import pytest
from dash_builders import make_node

from kubelite.dashboard import summaries as s


@pytest.mark.parametrize(
    ("node", "status"),
    [
        (make_node(), "Ready"),
        (make_node(ready=False), "NotReady"),
        (make_node(unschedulable=True), "Ready,SchedulingDisabled"),
        ({"metadata": {"name": "n"}}, "Unknown"),
    ],
    ids=["ready", "not-ready", "cordoned", "no-conditions"],
)
def test_node_status(node: dict[str, Any], status: str) -> None:
    assert s.node_summary(node, 0).status == status


def test_node_resources_show_allocatable_over_capacity() -> None:
    summary = s.node_summary(make_node(), pods_here=3)
    assert (summary.cpu, summary.memory, summary.pods) == ("7 / 8", "15Gi / 16Gi", "3 / 110")


@pytest.mark.parametrize(
    ("ports", "text"),
    [
        ([{"port": 80}], "80/TCP"),
        (
            [{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}],
            "80:30080/TCP,53/UDP",
        ),  # fmt: skip
        ([], "<none>"),
    ],
    ids=["one", "nodeport-and-udp", "none"],
)
def test_service_ports(ports: list[dict[str, Any]], text: str) -> None:
    assert s.service_ports({"spec": {"ports": ports}}) == text


def test_endpoint_addresses_split_ready_and_not_ready() -> None:
    endpoints = {
        "subsets": [
            {
                "addresses": [{"ip": "127.244.0.2"}, {"ip": "127.244.0.3"}],
                "notReadyAddresses": [{"ip": "127.244.0.4"}],
                "ports": [{"port": 8080}],
            }
        ]
    }
    assert s.endpoint_addresses(endpoints) == (
        ["127.244.0.2:8080", "127.244.0.3:8080"],
        ["127.244.0.4:8080"],
    )
    assert s.endpoint_addresses(None) == ([], [])


def test_secret_keys_are_names_only() -> None:
    secret = {"data": {"password": "c2VjcmV0"}, "stringData": {"token": "t0ps3cret"}}
    assert s.secret_keys(secret) == ["password", "token"]


def test_deployment_counts() -> None:
    dep = {
        "spec": {"replicas": 3},
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
    }
    assert s.deployment_counts(dep) == ("2/3", 3, 2)
    assert s.deployment_counts({"spec": {}}) == ("0/1", 0, 0)


@pytest.mark.parametrize(
    ("status", "tone"),
    [
        ("Running", "ok"),
        ("Completed", "ok"),
        ("Pending", "warn"),
        ("Init:0/1", "warn"),
        ("Init:CrashLoopBackOff", "bad"),
        ("CrashLoopBackOff", "bad"),
        ("Error", "bad"),
    ],  # fmt: skip
)
def test_tone(status: str, tone: str) -> None:
    assert s.tone(status) == tone


def test_events_newest_first_with_revision_breaking_ties() -> None:
    def ev(name: str, when: str, rv: str) -> dict[str, Any]:
        return {"metadata": {"name": name, "resourceVersion": rv}, "lastTimestamp": when}

    events = [
        ev("old", "2024-01-01T00:00:00Z", "5"),
        ev("same-second-first", "2024-01-01T00:00:09Z", "7"),
        ev("same-second-later", "2024-01-01T00:00:09Z", "8"),
    ]
    assert [e["metadata"]["name"] for e in s.newest_first(events)] == [
        "same-second-later",
        "same-second-first",
        "old",
    ]
