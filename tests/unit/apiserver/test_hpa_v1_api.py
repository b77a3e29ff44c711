"""autoscaling/v1 HPAs through the real API app, in process: one object, two versions.

Every verb is sent to the v1 path and the stored object is read back through
v2 (and the other way round), so each test shows the conversion at both ends
and that resourceVersion and uid are the object's own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from tests.unit.apiserver.inprocess_api import TOKEN, api_app

from kubelite.api.registry import REGISTRY
from kubelite.apiserver import converted, discovery
from kubelite.apiserver.conversion import conversion_for
from kubelite.apiserver.http import ApiApp, Request
from kubelite.apiserver.rest import RestStorage
from kubelite.apiserver.watching import WatchEvent

Obj = dict[str, Any]
V1 = "/apis/autoscaling/v1/namespaces/default/horizontalpodautoscalers"
V2 = "/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
MERGE = "application/merge-patch+json"


@dataclass
class Api:
    storage: RestStorage
    app: ApiApp

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
                return await client.request(
                    method,
                    path,
                    content=None if body is None else orjson.dumps(body),
                    headers={
                        "authorization": f"Bearer {TOKEN}",
                        "content-type": content_type,
                        "accept": accept,
                    },
                )

        return asyncio.run(go())


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with api_app(tmp_path) as app:
        yield Api(app.storage, app)


def make_hpa(name: str = "web", *, target: int = 50, **spec: Any) -> Obj:
    return {
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "maxReplicas": 5,
            "targetCPUUtilizationPercentage": target,
            **spec,
        },
    }


def test_create_answers_v1_and_stores_v2(api: Api) -> None:
    created = api.call("POST", V1, make_hpa())
    assert created.status_code == 201
    v1 = created.json()
    assert v1["apiVersion"] == "autoscaling/v1"
    assert v1["spec"]["minReplicas"] == 1  # defaulted
    v2 = api.call("GET", f"{V2}/web").json()
    assert v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 50
    for field in ("uid", "resourceVersion", "creationTimestamp"):
        assert v1["metadata"][field] == v2["metadata"][field]
    assert api.call("GET", f"{V1}/web").json() == v1


def test_list_by_label_is_a_v1_list(api: Api) -> None:
    api.call("POST", V1, make_hpa("a"))
    api.call("POST", V1, make_hpa("b"))
    listed = api.call("GET", f"{V1}?labelSelector=app%3Db").json()
    assert (listed["kind"], listed["apiVersion"]) == (
        "HorizontalPodAutoscalerList",
        "autoscaling/v1",
    )
    assert [i["metadata"]["name"] for i in listed["items"]] == ["b"]
    assert listed["items"][0]["kind"] == "HorizontalPodAutoscaler"
    by_field = api.call("GET", f"{V1}?fieldSelector=metadata.name%3Da").json()
    assert [i["metadata"]["name"] for i in by_field["items"]] == ["a"]


def test_table_is_printed_from_v2_and_rows_carry_the_v1_object(api: Api) -> None:
    api.call("POST", V1, make_hpa())
    table = api.call("GET", f"{V1}?includeObject=Object", accept=TABLE).json()
    row = table["rows"][0]
    assert row["cells"][:5] == ["web", "Deployment/web", "cpu: <unknown>/50%", "1", 5]
    assert row["object"]["apiVersion"] == "autoscaling/v1"
    assert row["object"]["spec"]["targetCPUUtilizationPercentage"] == 50


def test_put_and_merge_patch_change_the_one_object(api: Api) -> None:
    v1 = api.call("POST", V1, make_hpa()).json()
    v1["spec"]["targetCPUUtilizationPercentage"] = 60
    replaced = api.call("PUT", f"{V1}/web", v1)
    assert replaced.status_code == 200
    assert replaced.json()["spec"]["targetCPUUtilizationPercentage"] == 60
    patched = api.call(
        "PATCH", f"{V1}/web", {"spec": {"targetCPUUtilizationPercentage": 70}}, content_type=MERGE
    ).json()
    v2 = api.call("GET", f"{V2}/web").json()
    assert v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"] == 70
    assert patched["metadata"]["resourceVersion"] == v2["metadata"]["resourceVersion"]


def test_a_stale_put_conflicts(api: Api) -> None:
    v1 = api.call("POST", V1, make_hpa()).json()
    api.call("PATCH", f"{V1}/web", {"spec": {"maxReplicas": 6}}, content_type=MERGE)
    resp = api.call("PUT", f"{V1}/web", v1)
    assert resp.status_code == 409
    assert resp.json()["reason"] == "Conflict"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param(
            {"maxReplicas": 0},
            "spec.maxReplicas: Invalid value: 0: must be greater than 0",
            id="max-0",
        ),
        pytest.param(
            {"minReplicas": 6},
            "spec.maxReplicas: Invalid value: 5: must be greater than or equal to `minReplicas`",
            id="min-above-max",
        ),
    ],
)
def test_invalid_writes_are_refused_and_change_nothing(api: Api, spec: Obj, message: str) -> None:
    before = api.call("POST", V1, make_hpa()).json()
    for method, body, content_type in (
        ("PUT", {**before, "spec": {**before["spec"], **spec}}, "application/json"),
        ("PATCH", {"spec": spec}, MERGE),
    ):
        resp = api.call(method, f"{V1}/web", body, content_type=content_type)
        assert resp.status_code == 422, resp.text
        assert resp.json()["reason"] == "Invalid"
        assert message in resp.json()["message"]
    assert api.call("GET", f"{V1}/web").json() == before
    created = api.call("POST", V1, make_hpa("other", **spec))
    assert created.status_code == 422
    assert api.call("GET", f"{V1}/other").status_code == 404


def test_a_v2_body_is_refused_on_the_v1_path(api: Api) -> None:
    resp = api.call("POST", V1, {**make_hpa(), "apiVersion": "autoscaling/v2"})
    assert resp.status_code == 400
    assert resp.json()["message"] == (
        "the API version in the data (autoscaling/v2) does not match the expected "
        "API version (autoscaling/v1)"
    )


def test_status_subresource_writes_only_status(api: Api) -> None:
    v1 = api.call("POST", V1, make_hpa()).json()
    v1["spec"]["maxReplicas"] = 9  # ignored by /status
    v1["status"] = {
        "currentReplicas": 2,
        "desiredReplicas": 3,
        "currentCPUUtilizationPercentage": 40,
    }
    written = api.call("PUT", f"{V1}/web/status", v1).json()
    assert written["status"]["currentCPUUtilizationPercentage"] == 40
    assert written["spec"]["maxReplicas"] == 5
    v2 = api.call("GET", f"{V2}/web/status").json()
    assert v2["status"]["currentMetrics"] == [
        {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 40}}}
    ]
    assert api.call("GET", f"{V1}/web/status").json()["status"] == written["status"]


def test_v2_only_fields_survive_a_v1_read_modify_write(api: Api) -> None:
    hpa = make_hpa()
    hpa["apiVersion"] = "autoscaling/v2"
    del hpa["spec"]["targetCPUUtilizationPercentage"]
    memory = {
        "type": "Resource",
        "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": "1Gi"}},
    }
    hpa["spec"]["metrics"] = [memory]
    hpa["spec"]["behavior"] = {"scaleDown": {"stabilizationWindowSeconds": 60}}
    stored = api.call("POST", V2, hpa).json()
    v1 = api.call("GET", f"{V1}/web").json()
    v1["spec"]["maxReplicas"] = 7
    api.call("PUT", f"{V1}/web", v1)
    after = api.call("GET", f"{V2}/web").json()
    assert after["spec"]["metrics"] == [memory]
    assert after["spec"]["behavior"] == stored["spec"]["behavior"]
    assert after["spec"]["maxReplicas"] == 7
    assert "annotations" not in after["metadata"]


def test_delete_and_deletecollection(api: Api) -> None:
    uid = api.call("POST", V1, make_hpa("a")).json()["metadata"]["uid"]
    api.call("POST", V1, make_hpa("b"))
    gone = api.call("DELETE", f"{V1}/a").json()
    assert gone["status"] == "Success"
    assert gone["details"] == {
        "name": "a",
        "group": "autoscaling",
        "kind": "horizontalpodautoscalers",
        "uid": uid,
    }
    deleted = api.call("DELETE", V1).json()
    assert deleted["apiVersion"] == "autoscaling/v1"
    assert [i["metadata"]["name"] for i in deleted["items"]] == ["b"]
    assert api.call("GET", V2).json()["items"] == []


def test_watch_events_are_v1(api: Api) -> None:
    first = api.call("POST", V1, make_hpa()).json()
    api.call("PATCH", f"{V1}/web", {"spec": {"maxReplicas": 8}}, content_type=MERGE)
    api.call("DELETE", f"{V1}/web")
    conv = conversion_for(api.storage.registry.by_kind("autoscaling/v1", "HorizontalPodAutoscaler"))  # type: ignore[arg-type]
    assert conv is not None
    req = _request(f"resourceVersion={int(first['metadata']['resourceVersion']) - 1}")

    async def three() -> list[Obj]:
        stream = converted._watch(api.app, req, conv, "default")
        events: list[Obj] = []
        async for chunk in stream:
            events += [orjson.loads(line) for line in chunk.splitlines()]
            if len(events) >= 3:
                break
        await stream.aclose()  # type: ignore[attr-defined]
        return events

    events = asyncio.run(three())
    assert [e["type"] for e in events] == ["ADDED", "MODIFIED", "DELETED"]
    assert {e["object"]["apiVersion"] for e in events} == {"autoscaling/v1"}
    assert events[1]["object"]["spec"]["maxReplicas"] == 8


def test_bookmarks_and_errors_in_a_v1_watch() -> None:
    conv = conversion_for(
        REGISTRY.by_kind("autoscaling/v1", "HorizontalPodAutoscaler")  # type: ignore[arg-type]
    )
    assert conv is not None
    bookmark = WatchEvent(
        "BOOKMARK",
        obj={
            "kind": "HorizontalPodAutoscaler",
            "apiVersion": "autoscaling/v2",
            "metadata": {"resourceVersion": "12"},
        },
    )
    line = orjson.loads(converted._event_line(_request(""), conv, bookmark))
    assert line["object"] == {
        "kind": "HorizontalPodAutoscaler",
        "apiVersion": "autoscaling/v1",
        "metadata": {"resourceVersion": "12"},
    }
    error = WatchEvent("ERROR", obj={"kind": "Status", "code": 410})
    assert orjson.loads(converted._event_line(_request(""), conv, error))["object"]["code"] == 410


def test_discovery_keeps_v2_preferred_and_serves_every_v1_verb() -> None:
    group = discovery.api_group("autoscaling")
    assert group is not None
    assert group["preferredVersion"]["version"] == "v2"
    resources = discovery.api_resource_list("autoscaling", "v1")
    assert resources is not None
    by_name = {r["name"]: r for r in resources["resources"]}
    assert sorted(by_name["horizontalpodautoscalers"]["verbs"]) == [
        "create",
        "delete",
        "deletecollection",
        "get",
        "list",
        "patch",
        "update",
        "watch",
    ]
    assert by_name["horizontalpodautoscalers/status"]["verbs"] == ["get", "patch", "update"]


def _request(query: str) -> Request:
    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    scope = {
        "type": "http",
        "method": "GET",
        "path": V1,
        "query_string": query.encode(),
        "headers": [],
    }
    return Request(scope, receive)
