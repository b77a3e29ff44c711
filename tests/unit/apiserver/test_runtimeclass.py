"""RuntimeClass (node.k8s.io/v1): served, validated and printed as upstream, and
pods admitted against it as upstream's RuntimeClass plugin admits them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.unit.apiserver.inprocess_api import api_app, call

from kubelite.apiserver.admission import (
    DefaultIngressClass,
    DefaultStorageClass,
    DefaultTolerationSeconds,
    StorageObjectInUseProtection,
    default_plugins,
    server_plugins,
)
from kubelite.apiserver.http import ApiApp
from kubelite.apiserver.runtimeclass_admission import (
    RuntimeClassAdmission,
    is_superset,
    merge_tolerations,
)

RC = "/apis/node.k8s.io/v1/runtimeclasses"
PODS = "/api/v1/namespaces/default/pods"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
# What DefaultTolerationSeconds gives every pod, ahead of what a class adds.
NOT_READY = {"key": "node.kubernetes.io/not-ready", "operator": "Exists",
             "effect": "NoExecute", "tolerationSeconds": 300}  # fmt: skip
UNREACHABLE = {**NOT_READY, "key": "node.kubernetes.io/unreachable"}
DNS_LABEL = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name' or '123-abc', "
    "regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)


def runtime_class(name: str = "gvisor", handler: str = "runsc", **fields: Any) -> dict:
    return {"apiVersion": "node.k8s.io/v1", "kind": "RuntimeClass",
            "metadata": {"name": name}, "handler": handler, **fields}  # fmt: skip


def pod(name: str = "p", runtime_class_name: str | None = "gvisor", **spec: Any) -> dict:
    if runtime_class_name is not None:
        spec["runtimeClassName"] = runtime_class_name
    containers = [{"name": "c", "image": "busybox"}]
    return {"metadata": {"name": name}, "spec": {"containers": containers, **spec}}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[ApiApp]:
    with api_app(tmp_path) as a:
        yield a


def create_class(app: ApiApp, **fields: Any) -> dict:
    r = call(app, "POST", RC, runtime_class(**fields))
    assert r.status_code == 201, r.text
    return r.json()


# ---- served ---------------------------------------------------------------------------


def test_discovery_serves_runtimeclasses_cluster_scoped_without_short_names(app: ApiApp) -> None:
    resources = call(app, "GET", "/apis/node.k8s.io/v1").json()["resources"]
    assert [(r["name"], r["kind"], r["namespaced"], r.get("shortNames")) for r in resources] == [
        ("runtimeclasses", "RuntimeClass", False, None)
    ]
    groups = [g["name"] for g in call(app, "GET", "/apis").json()["groups"]]
    assert "node.k8s.io" in groups


def test_a_class_is_stored_and_printed_with_its_handler(app: ApiApp) -> None:
    create_class(app, overhead={"podFixed": {"cpu": "1000m", "memory": "64Mi"}})
    got = call(app, "GET", f"{RC}/gvisor").json()
    assert got["handler"] == "runsc"
    assert got["overhead"] == {"podFixed": {"cpu": "1", "memory": "64Mi"}}  # canonical quantities
    table = call(app, "GET", RC, accept=TABLE).json()
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Handler", "Age"]
    assert table["rows"][0]["cells"][:2] == ["gvisor", "runsc"]


# ---- validation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "causes"),
    [
        ({"handler": ""}, [("handler", f'Invalid value: "": {DNS_LABEL}')]),
        ({"handler": "run.sc"}, [("handler", 'Invalid value: "run.sc": must not contain dots')]),
        ({"handler": "RunSC"}, [("handler", f'Invalid value: "RunSC": {DNS_LABEL}')]),
        ({"overhead": {"podFixed": {"foo": "1"}}},
         [("overhead.limits[foo]",
           'Invalid value: "foo": must be a standard resource type or fully qualified')]),
        ({"overhead": {"podFixed": {"cpu": "-1"}}},
         [("overhead.limits[cpu]", 'Invalid value: "-1": must be greater than or equal to 0')]),
        ({"scheduling": {"nodeSelector": {"a b": "c"}}},
         [("scheduling.nodeSelector",
           "Invalid value: \"a b\": name part must consist of alphanumeric characters, '-', '_' "
           "or '.', and must start and end with an alphanumeric character (e.g. 'MyName' or "
           "'my.name' or '123-abc', regex used for validation is "
           "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')")]),
        ({"scheduling": {"tolerations": [{"key": "k", "operator": "In"}]}},
         [("scheduling.tolerations[0].operator",
           'Unsupported value: "In": supported values: "Equal", "Exists"')]),
        ({"scheduling": {"tolerations": [{"key": "k", "operator": "Exists"},
                                         {"key": "k", "operator": "Exists", "effect": "NoSchedule"},
                                         {"key": "k", "operator": "Exists"}]}},
         [("scheduling.tolerations[2]",
           'Duplicate value: core.Toleration{Key:"k", Operator:"Exists", Value:"", Effect:"", '
           "TolerationSeconds:(*int64)(nil)}")]),
    ],
    ids=["handler-empty", "handler-dots", "handler-upper", "overhead-name", "overhead-negative",
         "node-selector", "toleration-operator", "toleration-duplicate"],
)  # fmt: skip
def test_a_bad_class_is_refused_as_upstream_refuses_it(
    app: ApiApp, fields: dict, causes: list[tuple[str, str]]
) -> None:
    r = call(app, "POST", RC, runtime_class(**fields))
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["details"]["kind"] == "RuntimeClass"
    assert body["details"]["group"] == "node.k8s.io"
    assert [(c["field"], c["message"]) for c in body["details"]["causes"]] == causes
    assert body["message"].startswith('RuntimeClass.node.k8s.io "gvisor" is invalid: ')


def test_the_handler_cannot_change(app: ApiApp) -> None:
    current = create_class(app)
    r = call(app, "PUT", f"{RC}/gvisor", {**current, "handler": "runc"})
    assert r.status_code == 422
    assert r.json()["message"] == (
        'RuntimeClass.node.k8s.io "gvisor" is invalid: '
        'handler: Invalid value: "runc": field is immutable'
    )
    scheduling = {"nodeSelector": {"sandbox": "true"}}  # the rest may change
    assert (
        call(app, "PUT", f"{RC}/gvisor", {**current, "scheduling": scheduling}).status_code == 200
    )


def test_a_put_must_name_the_version_it_replaces(app: ApiApp) -> None:
    """The strategy's AllowUnconditionalUpdate is false, as for CRDs."""
    create_class(app)
    r = call(app, "PUT", f"{RC}/gvisor", runtime_class())
    assert (r.status_code, r.json()["message"]) == (
        422,
        'runtimeclasses.node.k8s.io "gvisor" is invalid: '
        "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update",
    )


# ---- admission ------------------------------------------------------------------------


def test_a_pod_naming_a_missing_class_is_refused(app: ApiApp) -> None:
    r = call(app, "POST", PODS, pod(runtime_class_name="nope"))
    assert r.status_code == 403
    assert r.json()["reason"] == "Forbidden"
    assert (
        r.json()["message"] == 'pods "p" is forbidden: pod rejected: RuntimeClass "nope" not found'
    )


def test_a_pod_without_a_class_is_left_alone(app: ApiApp) -> None:
    r = call(app, "POST", PODS, pod(runtime_class_name=None))
    assert r.status_code == 201, r.text
    assert "overhead" not in r.json()["spec"] and "nodeSelector" not in r.json()["spec"]


def test_the_pod_takes_the_class_overhead(app: ApiApp) -> None:
    create_class(app, overhead={"podFixed": {"cpu": "250m", "memory": "64Mi"}})
    r = call(app, "POST", PODS, pod())
    assert r.status_code == 201, r.text
    assert r.json()["spec"]["overhead"] == {"cpu": "250m", "memory": "64Mi"}


def test_a_pod_stating_the_same_overhead_is_admitted(app: ApiApp) -> None:
    create_class(app, overhead={"podFixed": {"cpu": "1"}})
    r = call(app, "POST", PODS, pod(overhead={"cpu": "1000m"}))  # the same quantity
    assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    ("overhead", "runtime_class_name", "message"),
    [
        ({"cpu": "2"}, "gvisor",
         "pod rejected: Pod's Overhead doesn't match RuntimeClass's defined Overhead"),
        ({"cpu": "1"}, "plain",
         "pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead"),
        ({"cpu": "1"}, None,
         "pod rejected: Pod Overhead set without corresponding RuntimeClass defined Overhead"),
    ],
    ids=["different", "class-without-overhead", "no-class"],
)  # fmt: skip
def test_an_overhead_no_class_accounts_for_is_refused(
    app: ApiApp, overhead: dict, runtime_class_name: str | None, message: str
) -> None:
    create_class(app, overhead={"podFixed": {"cpu": "1"}})
    create_class(app, name="plain", handler="runc")
    r = call(app, "POST", PODS, pod(runtime_class_name=runtime_class_name, overhead=overhead))
    assert (r.status_code, r.json()["message"]) == (403, f'pods "p" is forbidden: {message}')


def test_the_class_scheduling_is_merged_into_the_pod(app: ApiApp) -> None:
    sandbox = {"key": "sandbox", "operator": "Exists", "effect": "NoSchedule"}
    create_class(app, scheduling={"nodeSelector": {"runtime": "gvisor"}, "tolerations": [sandbox]})
    r = call(app, "POST", PODS, pod(nodeSelector={"disk": "ssd"}))
    assert r.status_code == 201, r.text
    spec = r.json()["spec"]
    assert spec["nodeSelector"] == {"disk": "ssd", "runtime": "gvisor"}
    assert spec["tolerations"] == [NOT_READY, UNREACHABLE, sandbox]


def test_a_node_selector_conflict_is_refused(app: ApiApp) -> None:
    create_class(app, scheduling={"nodeSelector": {"runtime": "gvisor"}})
    r = call(app, "POST", PODS, pod(nodeSelector={"runtime": "kata"}))
    assert (r.status_code, r.json()["message"]) == (
        403,
        'pods "p" is forbidden: conflict: runtimeClass.scheduling.nodeSelector[runtime] = '
        "gvisor; pod.spec.nodeSelector[runtime] = kata",
    )


def test_only_creates_are_admitted(app: ApiApp) -> None:
    """A pod stays once created: deleting its class does not stop updates to it."""
    create_class(app)
    assert call(app, "POST", PODS, pod()).status_code == 201
    assert call(app, "DELETE", f"{RC}/gvisor").status_code == 200
    patch = {"metadata": {"labels": {"a": "b"}}}
    r = call(app, "PATCH", f"{PODS}/p", patch, content_type="application/merge-patch+json")
    assert r.status_code == 200, r.text


# ---- tolerations: pkg/util/tolerations -------------------------------------------------


def tol(
    key: str = "", op: str = "Equal", value: str = "", effect: str = "", seconds: Any = None
) -> dict:
    t = {"key": key, "operator": op, "value": value, "effect": effect}
    return {**t, "tolerationSeconds": seconds} if seconds is not None else t


@pytest.mark.parametrize(
    ("ss", "t", "expected"),
    [
        (tol("a", "Exists"), tol("a", "Equal", "x"), True),  # Exists covers every value
        (tol("a", "Equal", "x"), tol("a", "Exists"), False),
        (tol("", "Exists"), tol("b", "Equal", "y", "NoSchedule"), True),  # empty key: every key
        (tol("", "Equal"), tol("b", "Equal"), False),  # an empty key needs Exists
        (tol("a", "Exists", effect=""), tol("a", "Exists", effect="NoExecute"), True),
        (tol("a", "Exists", effect="NoSchedule"), tol("a", "Exists", effect="NoExecute"), False),
        # NoExecute for 60 s covers 30 s, not 90 s, nor forever
        (tol("a", "Exists", effect="NoExecute", seconds=60),
         tol("a", "Exists", effect="NoExecute", seconds=30), True),
        (tol("a", "Exists", effect="NoExecute", seconds=60),
         tol("a", "Exists", effect="NoExecute", seconds=90), False),
        (tol("a", "Exists", effect="NoExecute", seconds=60),
         tol("a", "Exists", effect="NoExecute"), False),
        (tol("a", "", "x"), tol("a", "", "x"), True),  # equal
        (tol("a", "", "x"), tol("a", "Equal", "x"), True),  # empty operator means Equal
        (tol("a", "Equal", "x"), tol("a", "", "x"), False),  # ... but only on the covering side
    ],
)  # fmt: skip
def test_is_superset(ss: dict, t: dict, expected: bool) -> None:
    assert is_superset(ss, t) is expected


@pytest.mark.parametrize(
    ("first", "second", "merged"),
    [
        ([], [], []),
        ([tol("a", "Equal", "x")], [tol("b", "Exists")],
         [tol("a", "Equal", "x"), tol("b", "Exists")]),
        # the class's wider toleration replaces the pod's narrower one
        ([tol("a", "Equal", "x")], [tol("a", "Exists")], [tol("a", "Exists")]),
        # the pod's wider one makes the class's redundant
        ([tol("a", "Exists")], [tol("a", "Equal", "x")], [tol("a", "Exists")]),
        # of two equal ones, the first stays
        ([tol("a", "Exists")], [tol("a", "Exists")], [tol("a", "Exists")]),
        ([tol("", "Exists")], [tol("a", "Exists"), tol("b", "Equal", "y")], [tol("", "Exists")]),
    ],
    ids=["empty", "disjoint", "class-wider", "pod-wider", "equal", "match-all"],
)  # fmt: skip
def test_merge_tolerations(first: list, second: list, merged: list) -> None:
    assert merge_tolerations(first, second) == merged


# ---- the plugin's place ---------------------------------------------------------------


def _index(plugins: list, kind: type) -> int:
    return next(i for i, p in enumerate(plugins) if isinstance(p, kind))


@pytest.mark.parametrize("chain", [default_plugins, server_plugins], ids=["default", "server"])
def test_the_plugin_runs_where_upstream_orders_it(chain: Any) -> None:
    """After DefaultTolerationSeconds (whose tolerations it merges with its own) and the
    storage plugins, before DefaultIngressClass, as kube-apiserver's AllOrderedPlugins."""
    plugins = chain()
    at = _index(plugins, RuntimeClassAdmission)
    assert _index(plugins, DefaultTolerationSeconds) < at
    assert _index(plugins, DefaultStorageClass) < at < _index(plugins, DefaultIngressClass)
    if chain is server_plugins:
        assert _index(plugins, StorageObjectInUseProtection) < at
