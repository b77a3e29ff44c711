"""Server-side apply: the typed configuration, the merge's list order, optimistic locking.

The first tables pin upstream's wording of a configuration that does not fit
its type and the order structured-merge-diff gives merged lists; the rest drive
the real API app in process, as `kubectl apply --server-side` sends its PATCH.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.unit.apiserver.inprocess_api import api_app, call

from kubelite.api import gofmt
from kubelite.api.registry import Registry
from kubelite.apiserver import ssa_typed
from kubelite.apiserver.http import ApiApp
from kubelite.apiserver.ssa_merge import merge_applied

Obj = dict[str, Any]
APPLY = "application/apply-patch+yaml"
PATHS = {
    "ConfigMap": "/api/v1/namespaces/default/configmaps",
    "Service": "/api/v1/namespaces/default/services",
    "Deployment": "/apis/apps/v1/namespaces/default/deployments",
}
API_VERSIONS = {"ConfigMap": "v1", "Service": "v1", "Deployment": "apps/v1"}


def make(kind: str, name: str = "x", **fields: Any) -> Obj:
    return {"apiVersion": API_VERSIONS[kind], "kind": kind, "metadata": {"name": name}, **fields}


def pod_spec(*containers: Any) -> Obj:
    return {"spec": {"template": {"spec": {"containers": list(containers)}}}}


def deploy(*containers: Obj) -> Obj:
    obj = make("Deployment", "web", **pod_spec(*containers))
    obj["spec"]["selector"] = {"matchLabels": {"app": "web"}}
    obj["spec"]["template"]["metadata"] = {"labels": {"app": "web"}}
    return obj


def container(name: str, *env: str, **fields: Any) -> Obj:
    out: Obj = {"name": name, "image": "python:3.11", **fields}
    if env:
        out["env"] = [{"name": e, "value": e.lower()} for e in env]
    return out


def names(items: list[Obj], key: str = "name") -> list[Any]:
    return [item[key] for item in items]


# ---- the typed configuration: upstream's wording ---------------------------------------


def _problems(kind: str, obj: Obj) -> list[str]:
    rt = Registry().by_kind(API_VERSIONS[kind], kind)
    assert rt is not None
    return sorted(ssa_typed.typed_problems(rt, obj))


@pytest.mark.parametrize(
    ("kind", "fields", "problems"),
    [
        (
            "ConfigMap",
            {"data": {"x": 1}},
            [".data.x: expected string, got &value.valueUnstructured{Value:1}"],
        ),
        (
            "ConfigMap",
            {"data": {"a": 1.5, "b": True, "c": {"k": [1, "v"]}}},
            [
                ".data.a: expected string, got &value.valueUnstructured{Value:1.5}",
                ".data.b: expected string, got &value.valueUnstructured{Value:true}",
                ".data.c: expected string, got &value.valueUnstructured{Value:"
                'map[string]interface {}{"k":[]interface {}{1, "v"}}}',
            ],
        ),
        ("ConfigMap", {"data": [1, 2]}, [".data: expected map, got &{[1 2]}"]),
        ("ConfigMap", {"metadata": "x"}, [".metadata: expected map, got &{x}"]),
        ("ConfigMap", {"immutable": "yes"}, [".immutable: expected boolean, got &{yes}"]),
        ("ConfigMap", {"data": None, "binaryData": {"b": None}}, []),  # null fits any type
        (
            "ConfigMap",
            {"metadata": {"name": "x", "finalizers": ["a", "a", {"b": 1}]}},
            [
                '.metadata.finalizers: duplicate entries for key [="a"]',
                ".metadata.finalizers: element 2: associative list without keys has an "
                "element that's a map type",
            ],
        ),
        (
            "Deployment",
            {"spec": {"replicas": "3", "paused": 1}},
            [
                ".spec.paused: expected boolean, got &{1}",
                ".spec.replicas: expected numeric (int or float), got string",
            ],
        ),
        (
            # YAML 1.1 reads `name: Y` as true: the element is keyed by it all the same.
            "Deployment",
            pod_spec({"name": "a", "image": "i", "env": [{"name": True, "value": "2"}]}),
            [
                '.spec.template.spec.containers[name="a"].env[name=true].name: '
                "expected string, got &value.valueUnstructured{Value:true}"
            ],
        ),
        (
            "Deployment",
            pod_spec({"name": "a", "image": "i"}, {"image": "j"}, {"name": "a"}),
            [
                ".spec.template.spec.containers: element 1: associative list with keys has "
                'an element that omits key field "name" (and doesn\'t have default value)'
            ],
        ),
        (
            "Deployment",
            pod_spec("a", None),
            [
                ".spec.template.spec.containers: element 0: associative list with keys may "
                "not have non-map elements"
            ],
        ),
        (
            "Deployment",
            pod_spec(
                {"name": "a", "ports": [{"containerPort": 80}, {"containerPort": 80}]},
                {"name": "b", "resources": {"limits": {"cpu": 1, "memory": [1]}}},
            ),
            [
                '.spec.template.spec.containers[name="a"].ports: duplicate entries for key '
                '[containerPort=80,protocol="TCP"]',
                '.spec.template.spec.containers[name="b"].resources.limits.memory: '
                "expected any scalar, got &{[1]}",
            ],
        ),
        (
            "Service",
            {"spec": {"ports": {"port": 80}, "selector": {"a": 2e21}}},
            [
                ".spec.ports: expected list, got &{map[port:80]}",
                ".spec.selector.a: expected string, got &value.valueUnstructured{Value:2e+21}",
            ],
        ),
    ],
    ids=[
        "number-for-string",
        "float-bool-map-for-string",
        "list-for-map",
        "scalar-for-struct",
        "string-for-bool",
        "nulls",
        "set-duplicate-and-map-element",
        "string-for-int-and-number-for-bool",
        "yaml-boolean-key",
        "element-without-key",
        "scalar-element",
        "duplicate-ports-and-quantity-list",
        "map-for-list-and-exponent",
    ],
)
def test_typed_problems_as_upstream_words_them(kind: str, fields: Obj, problems: list[str]) -> None:
    obj = make(kind)
    obj.update(fields)
    assert _problems(kind, obj) == problems


@pytest.mark.parametrize(
    ("number", "text"),
    [(1, "1"), (1.5, "1.5"), (100000, "100000"), (1e6, "1e+06"), (1234567.0, "1.234567e+06")]
    + [(0.0001, "0.0001"), (0.00001, "1e-05"), (-2.5, "-2.5"), (0, "0")],
)
def test_numbers_print_as_go_prints_a_float64(number: float, text: str) -> None:
    assert gofmt.go_float(number) == text


# ---- the merge: upstream's list order ----------------------------------------------------


def _merged_containers(live: list[Obj], applied: list[Obj]) -> list[Obj]:
    merged = merge_applied(deploy(*live), deploy(*applied), kind="Deployment", model="V1Deployment")
    containers: list[Obj] = merged["spec"]["template"]["spec"]["containers"]
    return containers


@pytest.mark.parametrize(
    ("live", "applied", "order"),
    [
        # live [a], another manager applies [b]: b is appended.
        ("a", "b", "ab"),
        # live [a b c], an applier of [c a] (b is someone else's): b keeps its place,
        # the shared ones follow the configuration's order.
        ("abc", "ca", "bca"),
        ("ab", "ba", "ba"),
        # a new element sits where the configuration has it, between shared ones.
        ("ab", "anb", "anb"),
        # a new element before the first shared one: after the live ones before it.
        ("xab", "nab", "xnab"),
        ("", "ba", "ba"),
        ("ab", "", "ab"),
    ],
)
def test_list_order_follows_the_live_object(live: str, applied: str, order: str) -> None:
    merged = _merged_containers([container(c) for c in live], [container(c) for c in applied])
    assert "".join(names(merged)) == order


def test_merged_elements_keep_fields_of_both_sides() -> None:
    live = [container("a", "X", image="old")]
    merged = _merged_containers(live, [{"name": "a", "env": [{"name": "Y", "value": "y"}]}])
    assert merged == [
        {
            "name": "a",
            "image": "old",
            "env": [{"name": "X", "value": "x"}, {"name": "Y", "value": "y"}],
        }
    ]


def test_atomic_lists_and_scalars_are_the_configurations_and_null_clears() -> None:
    live = deploy(container("a", command=["sleep", "1"], workingDir="/w"))
    applied = deploy({"name": "a", "command": ["true"], "workingDir": None})
    applied["spec"]["template"]["metadata"]["labels"] = None  # content stays
    merged = merge_applied(live, applied, kind="Deployment", model="V1Deployment")
    template = merged["spec"]["template"]
    assert template["spec"]["containers"] == [
        {"name": "a", "image": "python:3.11", "command": ["true"]}
    ]
    assert template["metadata"]["labels"] == {"app": "web"}


def test_a_set_of_scalars_merges_in_the_same_order() -> None:
    live, applied = make("ConfigMap"), make("ConfigMap")
    live["metadata"]["finalizers"] = ["x/a", "x/b"]
    applied["metadata"]["finalizers"] = ["x/c", "x/a"]
    merged = merge_applied(live, applied, kind="ConfigMap", model="V1ConfigMap")
    # x/c goes before x/a, which it precedes in the configuration; x/b keeps its place after x/a.
    assert merged["metadata"]["finalizers"] == ["x/c", "x/a", "x/b"]


# ---- through the API ---------------------------------------------------------------------


class Api:
    def __init__(self, app: ApiApp) -> None:
        self.app = app

    def apply(self, obj: Obj, *, manager: str = "kubectl") -> httpx.Response:
        meta = obj["metadata"] if isinstance(obj["metadata"], dict) else {"name": "x"}
        path = f"{PATHS[obj['kind']]}/{meta['name']}?fieldManager={manager}"
        return call(self.app, "PATCH", path, obj, content_type=APPLY)

    def get(self, kind: str, name: str) -> Obj:
        resp = call(self.app, "GET", f"{PATHS[kind]}/{name}")
        assert resp.status_code == 200, resp.text
        body: Obj = resp.json()
        return body


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with api_app(tmp_path) as app:
        yield Api(app)


@pytest.mark.parametrize("exists", [False, True], ids=["create", "update"])
def test_a_wrongly_typed_value_is_upstreams_typed_patch_error_not_a_crash(
    api: Api, exists: bool
) -> None:
    if exists:
        assert api.apply(make("ConfigMap", data={"x": "1"})).status_code == 201
    resp = api.apply(make("ConfigMap", data={"x": 1}))
    assert resp.status_code == 500
    assert "reason" not in resp.json()  # StatusReasonUnknown is omitted
    assert resp.json()["message"] == (
        "failed to create typed patch object (default/x; /v1, Kind=ConfigMap): "
        ".data.x: expected string, got &value.valueUnstructured{Value:1}"
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"data": [1]},
        {"metadata": 5},
        {"metadata": {"name": "x", "labels": ["a"]}},
        {"metadata": {"name": "x", "labels": {"a": None}, "finalizers": [None]}},
        {"metadata": {"name": "x", "ownerReferences": [{"uid": 1}, "u"]}},
        {"metadata": {"name": "x", "annotations": {"a": {"b": [None]}}}},
        {"binaryData": {"a": [{"b": 1}]}, "immutable": [True]},
        {"data": {"$patch": "replace"}, "metadata": {"name": "x", "$patch": "delete"}},
    ],
    ids=[
        "list-data",
        "scalar-metadata",
        "list-labels",
        "null-label-and-finalizer",
        "bad-owner-references",
        "nested-annotation",
        "deep-lists",
        "patch-directives",
    ],
)
@pytest.mark.parametrize("exists", [False, True], ids=["create", "update"])
def test_no_bad_configuration_crashes_the_apply(api: Api, fields: Obj, exists: bool) -> None:
    if exists:
        api.apply(make("ConfigMap", data={"x": "1"}))
    obj = make("ConfigMap")
    obj.update(fields)
    resp = api.apply(obj)
    body = resp.json()
    if resp.status_code == 500:  # the typed conversion's plain error, nothing else
        assert body["message"].startswith("failed to create typed patch object"), body
    else:
        assert resp.status_code < 500, body


@pytest.mark.parametrize(
    "spec",
    [
        {"replicas": None, "template": {"spec": {"containers": [{"name": "c", "ports": None}]}}},
        {"template": {"spec": {"containers": [{"name": "c", "env": [{"name": "E"}]}] * 2}}},
        {"template": {"spec": {"containers": {"name": "c"}}}},
        {"template": {"spec": {"volumes": [{"name": "v", "emptyDir": []}]}}},
        {"template": {"spec": {"containers": [{"name": "c", "resources": {"limits": 5}}]}}},
        {"selector": {"matchExpressions": [{"values": "x"}]}},
    ],
    ids=["nulls", "duplicate-elements", "map-for-list", "list-for-struct", "bad-limits", "deep"],
)
def test_no_bad_deployment_crashes_the_apply(api: Api, spec: Obj) -> None:
    assert api.apply(deploy(container("c"))).status_code == 201
    obj = deploy(container("c"))
    obj["spec"].update(spec)
    resp = api.apply(obj)
    assert resp.status_code < 500 or resp.json()["message"].startswith(
        "failed to create typed patch object"
    ), resp.json()


def test_managed_fields_in_the_configuration_are_refused(api: Api) -> None:
    obj = make("ConfigMap", data={"a": "1"})
    obj["metadata"]["managedFields"] = []
    resp = api.apply(obj)
    assert resp.status_code == 400
    assert resp.json()["message"] == "metadata.managedFields must be nil"


def test_a_new_managers_elements_come_after_the_live_ones(api: Api) -> None:
    api.apply(deploy(container("a", "X")))
    api.apply(deploy(container("b")), manager="sidecar")
    api.apply(deploy({"name": "a", "env": [{"name": "Y", "value": "y"}]}), manager="env2")
    containers = api.get("Deployment", "web")["spec"]["template"]["spec"]["containers"]
    assert names(containers) == ["a", "b"]
    assert names(containers[0]["env"]) == ["X", "Y"]

    svc = make("Service", spec={"selector": {"app": "x"}, "ports": [{"name": "http", "port": 80}]})
    api.apply(svc)
    api.apply(make("Service", spec={"ports": [{"name": "https", "port": 443}]}), manager="m2")
    assert names(api.get("Service", "x")["spec"]["ports"]) == ["http", "https"]


def test_an_applier_reordering_its_own_elements_gets_its_order(api: Api) -> None:
    api.apply(deploy(container("a"), container("c")))
    api.apply(deploy(container("b")), manager="sidecar")
    spec = api.get("Deployment", "web")["spec"]["template"]["spec"]
    assert names(spec["containers"]) == ["a", "c", "b"]
    # a waits for c, as the configuration orders them; b, not mentioned, is passed on the way.
    api.apply(deploy(container("c"), container("a")))
    spec = api.get("Deployment", "web")["spec"]["template"]["spec"]
    assert names(spec["containers"]) == ["c", "b", "a"]


def test_a_stale_resource_version_in_the_configuration_is_a_conflict(api: Api) -> None:
    created = api.apply(make("ConfigMap", data={"a": "1"})).json()
    stale = make("ConfigMap", data={"a": "r1"})
    stale["metadata"]["resourceVersion"] = "5"
    resp = api.apply(stale)
    assert resp.status_code == 409
    assert resp.json()["reason"] == "Conflict"
    assert resp.json()["message"] == (
        'Operation cannot be fulfilled on configmaps "x": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    assert api.get("ConfigMap", "x")["data"] == {"a": "1"}

    current = make("ConfigMap", data={"a": "r2"})
    current["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
    assert api.apply(current).status_code == 200
    assert api.apply(make("ConfigMap", data={"a": "r3"})).status_code == 200  # none: no check
    assert api.get("ConfigMap", "x")["data"] == {"a": "r3"}


def test_a_resource_version_on_an_apply_that_creates_is_ignored(api: Api) -> None:
    obj = make("ConfigMap", data={"a": "1"})
    obj["metadata"]["resourceVersion"] = "5"
    assert api.apply(obj).status_code == 201


def test_an_apply_to_status_owns_its_fields_and_drops_what_it_stops_applying(api: Api) -> None:
    """As controllers publish status with SSA: the manager's status fields are tracked
    (subresource status), so a condition it no longer applies goes."""
    svc = make("Service", spec={"ports": [{"port": 80}]})
    assert api.apply(svc).status_code == 201
    url = f"{PATHS['Service']}/x/status?fieldManager=ctrl"

    def apply_status(*types: str) -> httpx.Response:
        conds = [{"type": t, "status": "True", "reason": "R", "message": "m",
                  "lastTransitionTime": "2026-01-01T00:00:00Z"} for t in types]  # fmt: skip
        body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
                "status": {"conditions": conds}}  # fmt: skip
        return call(api.app, "PATCH", url, body, content_type=APPLY)

    assert apply_status("A", "B").status_code == 200
    managers = {
        (e["manager"], e.get("subresource", "")): e
        for e in api.get("Service", "x")["metadata"]["managedFields"]
    }
    assert managers[("ctrl", "status")]["operation"] == "Apply"
    assert apply_status("A").status_code == 200
    conditions = api.get("Service", "x")["status"]["conditions"]
    assert [c["type"] for c in conditions] == ["A"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"metadata": {"name": "x"}}, "invalid object type: /, Kind="),
        ({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}},
         "invalid object type: /v1, Kind=Secret"),
        ({"apiVersion": "apps/v1", "kind": "ConfigMap", "metadata": {"name": "x"}},
         "invalid object type: apps/v1, Kind=ConfigMap"),
    ],
)  # fmt: skip
def test_an_apply_configuration_must_name_its_type(api: Api, body: Obj, message: str) -> None:
    path = f"{PATHS['ConfigMap']}/x?fieldManager=t"
    r = call(api.app, "PATCH", path, body, content_type=APPLY)
    assert (r.status_code, r.json()["message"]) == (400, message)
    assert call(api.app, "GET", f"{PATHS['ConfigMap']}/x").status_code == 404
