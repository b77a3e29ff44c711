"""events.k8s.io/v1 Events: one storage with core/v1 Events, each version a converted view."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.unit.apiserver.inprocess_api import api_app, call

from kubelite.api.registry import REGISTRY
from kubelite.apiserver import discovery, events_v1
from kubelite.apiserver.http import ApiApp

CORE = "/api/v1/namespaces/default/events"
EVENTS = "/apis/events.k8s.io/v1/namespaces/default/events"
Obj = dict[str, Any]


@pytest.fixture
def app(tmp_path: Path) -> Iterator[ApiApp]:
    with api_app(tmp_path) as app:
        yield app


def new_event(name: str = "scheduled", **fields: Any) -> Obj:
    """What client-go's events.k8s.io recorder (and `EventsV1Api`) writes."""
    return {
        "metadata": {"name": name},
        "eventTime": "2026-11-28T00:40:00.000000Z",
        "reportingController": "qa/ctl",
        "reportingInstance": "qa-1",
        "action": "Bind",
        "reason": "Scheduled",
        "type": "Normal",
        "regarding": {"kind": "Pod", "name": "web", "namespace": "default", "uid": "u1"},
        "note": "assigned default/web to n1",
        **fields,
    }


def legacy_event(name: str = "pulled") -> Obj:
    """What the kubelet's legacy recorder writes through core/v1."""
    return {
        "metadata": {"name": name},
        "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default"},
        "reason": "Pulled",
        "message": "image present",
        "source": {"component": "kubelet", "host": "n1"},
        "firstTimestamp": "2026-11-28T00:40:00Z",
        "lastTimestamp": "2026-11-28T00:41:00Z",
        "count": 2,
        "type": "Normal",
    }


def test_an_events_k8s_io_event_is_a_core_event(app: ApiApp) -> None:
    created = call(app, "POST", EVENTS, new_event())
    assert created.status_code == 201, created.text
    core = call(app, "GET", f"{CORE}/scheduled").json()
    # core/v1 as Go encodes it: involvedObject, source and both reporting fields are
    # always there, the unset timestamps null.
    assert {k: v for k, v in core.items() if k != "metadata"} == {
        "apiVersion": "v1",
        "kind": "Event",
        "involvedObject": {"kind": "Pod", "name": "web", "namespace": "default", "uid": "u1"},
        "reason": "Scheduled",
        "message": "assigned default/web to n1",
        "source": {},
        "firstTimestamp": None,
        "lastTimestamp": None,
        "type": "Normal",
        "eventTime": "2026-11-28T00:40:00.000000Z",
        "action": "Bind",
        "reportingComponent": "qa/ctl",
        "reportingInstance": "qa-1",
    }
    assert core["metadata"]["resourceVersion"] == created.json()["metadata"]["resourceVersion"]


def test_a_core_event_is_served_as_events_k8s_io(app: ApiApp) -> None:
    assert call(app, "POST", CORE, legacy_event()).status_code == 201
    served = call(app, "GET", f"{EVENTS}/pulled").json()
    assert {k: v for k, v in served.items() if k != "metadata"} == {
        "kind": "Event",
        "apiVersion": "events.k8s.io/v1",
        "eventTime": None,  # a legacy Event has none: null, as upstream serves it
        "reason": "Pulled",
        "regarding": {"kind": "Pod", "name": "web", "namespace": "default"},
        "note": "image present",
        "type": "Normal",
        "deprecatedSource": {"component": "kubelet", "host": "n1"},
        "deprecatedFirstTimestamp": "2026-11-28T00:40:00Z",
        "deprecatedLastTimestamp": "2026-11-28T00:41:00Z",
        "deprecatedCount": 2,
    }


def test_both_versions_list_and_watch_the_same_events(app: ApiApp) -> None:
    call(app, "POST", CORE, legacy_event())
    call(app, "POST", EVENTS, new_event())
    core = call(app, "GET", CORE).json()
    served = call(app, "GET", EVENTS).json()
    assert served["kind"] == "EventList" and served["apiVersion"] == "events.k8s.io/v1"
    versions = [(i["metadata"]["name"], i["metadata"]["resourceVersion"]) for i in core["items"]]
    assert [(i["metadata"]["name"], i["metadata"]["resourceVersion"]) for i in served["items"]] == (
        versions
    )
    watched = call(app, "GET", f"{CORE}?watch=1&resourceVersion=0&timeoutSeconds=1")
    lines = [orjson.loads(line) for line in watched.text.splitlines()]
    assert {(e["type"], e["object"]["metadata"]["name"]) for e in lines} == {
        ("ADDED", "pulled"),
        ("ADDED", "scheduled"),
    }
    watched = call(app, "GET", f"{EVENTS}?watch=1&resourceVersion=0&timeoutSeconds=1")
    objects = [orjson.loads(line)["object"] for line in watched.text.splitlines()]
    assert {o["apiVersion"] for o in objects} == {"events.k8s.io/v1"}
    assert {o["metadata"]["name"] for o in objects} == {"pulled", "scheduled"}


@pytest.mark.parametrize(
    ("path", "selector", "names"),
    [
        (EVENTS, "regarding.name=web", ["pulled", "scheduled"]),
        (EVENTS, "reportingController=qa/ctl", ["scheduled"]),
        (EVENTS, "source=kubelet", ["pulled"]),
        (EVENTS, "source=qa/ctl", ["scheduled"]),  # no source: the reporting controller
        (EVENTS, "regarding.uid=u1,type=Normal", ["scheduled"]),
        (CORE, "involvedObject.name=web,reason=Pulled", ["pulled"]),
        (CORE, "reportingComponent=qa/ctl", ["scheduled"]),
    ],
)
def test_field_selectors_of_each_version(
    app: ApiApp, path: str, selector: str, names: list[str]
) -> None:
    call(app, "POST", CORE, legacy_event())
    call(app, "POST", EVENTS, new_event())
    got = call(app, "GET", f"{path}?fieldSelector={selector}").json()
    assert [i["metadata"]["name"] for i in got["items"]] == names


@pytest.mark.parametrize(
    ("path", "label"),
    [(EVENTS, "involvedObject.name"), (EVENTS, "reportingComponent"), (CORE, "regarding.name")],
)
def test_a_label_of_the_other_version_is_refused(app: ApiApp, path: str, label: str) -> None:
    got = call(app, "GET", f"{path}?fieldSelector={label}=x")
    assert got.status_code == 400
    assert got.json()["message"] == f"field label not supported: {label}"


def test_events_k8s_io_writes_are_validated_as_events_k8s_io(app: ApiApp) -> None:
    missing = new_event("bad")
    del missing["eventTime"]
    got = call(app, "POST", EVENTS, missing)
    assert got.status_code == 422
    assert (
        got.json()["message"] == 'Event.events.k8s.io "bad" is invalid: eventTime: Required value'
    )
    assert call(app, "GET", f"{CORE}/bad").status_code == 404
    # A legacy Event needs no eventTime through core/v1.
    assert call(app, "POST", CORE, legacy_event()).status_code == 201
    # events.k8s.io makes an Event's note immutable; core/v1 does not.
    call(app, "POST", EVENTS, new_event())
    merge = {"content_type": "application/merge-patch+json"}
    got = call(app, "PATCH", f"{EVENTS}/scheduled", {"note": "changed"}, **merge)
    assert got.status_code == 422
    assert "message: Invalid value" in got.json()["message"]
    got = call(app, "PATCH", f"{CORE}/scheduled", {"message": "changed"}, **merge)
    assert got.status_code == 200, got.text
    assert call(app, "GET", f"{EVENTS}/scheduled").json()["note"] == "changed"


def test_one_storage_for_both_in_discovery() -> None:
    served = REGISTRY.by_kind("events.k8s.io/v1", "Event")
    core = REGISTRY.by_kind("v1", "Event")
    assert served is not None and core is not None
    assert not served.stored and served.storage_api_version == "v1"
    # Upstream's hashes: both are r2yiGXH7wu8=, the hash of core/v1 Event.
    assert discovery.storage_version_hash(served) == discovery.storage_version_hash(core)
    assert discovery.storage_version_hash(core) == "r2yiGXH7wu8="


def test_conversion_round_trips() -> None:
    event = new_event(series={"count": 3, "lastObservedTime": "2026-11-28T00:45:00.000000Z"})
    event["related"] = {"kind": "Node", "name": "n1"}
    core = events_v1.to_core({"apiVersion": "events.k8s.io/v1", "kind": "Event", **event})
    assert core["series"] == {"count": 3, "lastObservedTime": "2026-11-28T00:45:00.000000Z"}
    back = events_v1.to_events(core)
    assert {k: v for k, v in back.items() if not k.startswith("deprecated")} == {
        "kind": "Event",
        "apiVersion": "events.k8s.io/v1",
        **event,
    }
