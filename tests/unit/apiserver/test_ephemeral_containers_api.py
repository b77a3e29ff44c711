"""`pods/ephemeralcontainers` over HTTP, and the 404 `Status` for what the server does not serve.

The real API app runs in process; each write goes through routing, patching,
defaults, validation and the store, as a `kubectl debug` request does.
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

from kubelite.apiserver import discovery, errors, openapi
from kubelite.apiserver.http import ApiApp
from kubelite.apiserver.rest import RestStorage
from kubelite.store import Store

Obj = dict[str, Any]
TOKEN = "t0ken"
POD = "/api/v1/namespaces/default/pods/web"
SUB = POD + "/ephemeralcontainers"
SMP = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"


@dataclass
class Api:
    storage: RestStorage
    app: ApiApp

    def call(
        self, method: str, path: str, body: Any = None, *, content_type: str = "application/json"
    ) -> httpx.Response:
        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
                return await client.request(
                    method,
                    path,
                    content=None if body is None else orjson.dumps(body),
                    headers={"authorization": f"Bearer {TOKEN}", "content-type": content_type},
                )

        return asyncio.run(go())

    def stored(self) -> Obj:
        rt = self.storage.registry.by_kind("v1", "Pod")
        assert rt is not None
        return self.storage.get(rt, "default", "web").obj()


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    store = Store(tmp_path / "db")
    storage = RestStorage(store)
    namespaces = storage.registry.by_kind("v1", "Namespace")
    assert namespaces is not None
    storage.create(
        namespaces, None, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}
    )
    a = Api(storage, ApiApp(storage, token=TOKEN))
    created = a.call(
        "POST",
        "/api/v1/namespaces/default/pods",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]},
        },
    )
    assert created.status_code == 201, created.text
    yield a
    store.close()


def debug(name: str = "dbg", **fields: Any) -> Obj:
    return {"name": name, "image": "python:3.11", "command": ["sleep", "30"], **fields}


def names(pod: Obj) -> list[str]:
    return [c["name"] for c in pod["spec"].get("ephemeralContainers") or []]


# ---- reads and writes ----------------------------------------------------------------


def test_get_answers_the_pod(api: Api) -> None:
    resp = api.call("GET", SUB)
    assert resp.status_code == 200
    assert resp.json()["kind"] == "Pod"
    assert resp.json()["metadata"]["name"] == "web"


def test_strategic_merge_patch_adds_a_container_as_kubectl_debug_does(api: Api) -> None:
    before = api.stored()
    patch = {"spec": {"ephemeralContainers": [{**debug(), "resources": {}}]}}
    resp = api.call("PATCH", SUB, patch, content_type=SMP)
    assert resp.status_code == 200, resp.text
    pod = resp.json()
    assert names(pod) == ["dbg"]
    ec = pod["spec"]["ephemeralContainers"][0]
    assert (ec["terminationMessagePath"], ec["imagePullPolicy"]) == (
        "/dev/termination-log",
        "IfNotPresent",
    )
    assert int(pod["metadata"]["resourceVersion"]) > int(before["metadata"]["resourceVersion"])
    assert api.stored() == pod


def test_the_write_is_a_modified_watch_event(api: Api) -> None:
    rt = api.storage.registry.by_kind("v1", "Pod")
    assert rt is not None
    rev = int(api.stored()["metadata"]["resourceVersion"])
    api.call("PATCH", SUB, {"spec": {"ephemeralContainers": [debug()]}}, content_type=SMP)
    events = api.storage.store.events_since(rt.key("default", "web"), rev)
    assert [(e.type, names(e.kv.obj())) for e in events] == [("MODIFIED", ["dbg"])]


@pytest.mark.parametrize(
    ("content_type", "patch"),
    [
        pytest.param(
            SMP,
            {"metadata": {"labels": {"app": "x"}}, "spec": {"ephemeralContainers": [debug()]}},
            id="strategic",
        ),
        pytest.param(
            MERGE,
            {"metadata": {"labels": {"app": "x"}}, "spec": {"ephemeralContainers": [debug()]}},
            id="merge",
        ),
        pytest.param(
            JSON_PATCH,
            [
                {"op": "replace", "path": "/metadata/labels/app", "value": "x"},
                {"op": "add", "path": "/spec/ephemeralContainers", "value": [debug()]},
            ],
            id="json",
        ),
    ],
)
def test_patches_change_only_ephemeral_containers(api: Api, content_type: str, patch: Any) -> None:
    resp = api.call("PATCH", SUB, patch, content_type=content_type)
    assert resp.status_code == 200, resp.text
    assert names(resp.json()) == ["dbg"]
    assert api.stored()["metadata"]["labels"] == {"app": "web"}  # ignored, not refused


def test_put_changes_only_ephemeral_containers(api: Api) -> None:
    pod = api.stored()
    pod["metadata"]["labels"] = {"app": "changed"}
    pod["spec"]["containers"][0]["image"] = "nginx:9"
    pod["spec"]["activeDeadlineSeconds"] = 5
    pod["spec"]["ephemeralContainers"] = [debug()]
    resp = api.call("PUT", SUB, pod)
    assert resp.status_code == 200, resp.text
    stored = api.stored()
    assert names(stored) == ["dbg"]
    assert stored["metadata"]["labels"] == {"app": "web"}
    assert stored["spec"]["containers"][0]["image"] == "nginx:1.25"
    assert "activeDeadlineSeconds" not in stored["spec"]


def test_put_with_a_stale_resource_version_conflicts(api: Api) -> None:
    pod = api.stored()
    api.call("PATCH", SUB, {"spec": {"ephemeralContainers": [debug("one")]}}, content_type=SMP)
    pod["spec"]["ephemeralContainers"] = [debug("two")]
    assert api.call("PUT", SUB, pod).status_code == 409


def test_removing_is_refused_with_upstreams_status(api: Api) -> None:
    api.call("PATCH", SUB, {"spec": {"ephemeralContainers": [debug()]}}, content_type=SMP)
    resp = api.call(
        "PATCH",
        SUB,
        [{"op": "remove", "path": "/spec/ephemeralContainers/0"}],
        content_type=JSON_PATCH,
    )
    assert resp.status_code == 422
    body = resp.json()
    assert body["message"] == (
        'Pod "web" is invalid: spec.ephemeralContainers: Forbidden: '
        'existing ephemeral containers "dbg" may not be removed\n'
    )
    assert body["details"]["causes"] == [
        {
            "reason": "FieldValueForbidden",
            "message": 'Forbidden: existing ephemeral containers "dbg" may not be removed\n',
            "field": "spec.ephemeralContainers",
        }
    ]


def test_a_duplicate_name_is_refused(api: Api) -> None:
    resp = api.call(
        "PATCH", SUB, {"spec": {"ephemeralContainers": [debug("app")]}}, content_type=SMP
    )
    assert resp.status_code == 422
    assert resp.json()["message"] == (
        'Pod "web" is invalid: spec.ephemeralContainers[0].name: Duplicate value: "app"'
    )


def test_the_pod_itself_cannot_take_them(api: Api) -> None:
    create = api.call(
        "POST",
        "/api/v1/namespaces/default/pods",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "other"},
            "spec": {
                "containers": [{"name": "app", "image": "nginx:1.25"}],
                "ephemeralContainers": [debug()],
            },
        },
    )
    assert create.status_code == 422
    assert create.json()["message"] == (
        'Pod "other" is invalid: spec.ephemeralContainers: Forbidden: cannot be set on create'
    )
    patch = api.call("PATCH", POD, {"spec": {"ephemeralContainers": [debug()]}}, content_type=SMP)
    assert patch.status_code == 422
    assert "pod updates may not change fields other than" in patch.json()["message"]


def test_only_pods_have_the_subresource(api: Api) -> None:
    resp = api.call("GET", "/api/v1/namespaces/default/services/web/ephemeralcontainers")
    assert resp.status_code == 404


# ---- discovery and OpenAPI -----------------------------------------------------------


def test_discovery_lists_the_subresource() -> None:
    listing = discovery.api_resource_list("", "v1")
    assert listing is not None
    entry = next(r for r in listing["resources"] if r["name"] == "pods/ephemeralcontainers")
    assert (entry["kind"], entry["verbs"], entry["namespaced"]) == (
        "Pod",
        ["get", "patch", "update"],
        True,
    )
    doc = discovery.aggregated_discovery(core=True, version="v2")
    pods = next(r for r in doc["items"][0]["versions"][0]["resources"] if r["resource"] == "pods")
    sub = next(s for s in pods["subresources"] if s["subresource"] == "ephemeralcontainers")
    assert sub["verbs"] == ["get", "patch", "update"]
    assert sub["responseKind"] == {"group": "", "version": "v1", "kind": "Pod"}


def test_openapi_documents_the_subresource() -> None:
    body = openapi.openapi_v3_bytes("api/v1")
    assert body is not None
    path = orjson.loads(body)["paths"][
        "/api/v1/namespaces/{namespace}/pods/{name}/ephemeralcontainers"
    ]
    assert {verb: path[verb]["operationId"] for verb in ("get", "put", "patch")} == {
        "get": "readCoreV1NamespacedPodEphemeralcontainers",
        "put": "replaceCoreV1NamespacedPodEphemeralcontainers",
        "patch": "patchCoreV1NamespacedPodEphemeralcontainers",
    }


# ---- the 404 for what is not served --------------------------------------------------

# What kube-apiserver answers for a path it has no handler for, byte for byte.
NOT_SERVED = (
    b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
    b'"message":"the server could not find the requested resource","reason":"NotFound",'
    b'"details":{},"code":404}'
)


@pytest.mark.parametrize(
    "path",
    [
        pytest.param(POD + "/nonsense", id="unknown-subresource"),
        pytest.param("/apis/nope.example.com/v1", id="unknown-group-version"),
        pytest.param("/not-an-api", id="unknown-path"),
    ],
)
def test_an_unknown_path_is_upstreams_not_found(api: Api, path: str) -> None:
    resp = api.call("PATCH", path, {}, content_type=SMP)
    assert (resp.status_code, resp.content) == (404, NOT_SERVED)


def test_a_missing_object_names_itself_in_details(api: Api) -> None:
    resp = api.call("GET", "/api/v1/namespaces/default/pods/nope/ephemeralcontainers")
    assert resp.status_code == 404
    assert resp.content == (
        b'{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",'
        b'"message":"pods \\"nope\\" not found","reason":"NotFound",'
        b'"details":{"name":"nope","kind":"pods"},"code":404}'
    )


def test_not_found_always_carries_details() -> None:
    assert errors.NotFound("gone").status()["details"] == {}
    assert errors.from_status(errors.NotFound().status()).details == {}
    assert "details" not in errors.BadRequest("bad").status()
