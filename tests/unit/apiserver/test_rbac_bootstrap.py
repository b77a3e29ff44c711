"""The default RBAC objects: what a first start creates and what a later start puts back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from kubelite.apiserver import errors
from kubelite.apiserver.bootstrap import bootstrap
from kubelite.apiserver.client import LocalClient
from kubelite.apiserver.healthz import Health
from kubelite.apiserver.rbac_bootstrap import (
    AUTOUPDATE,
    HOOK,
    LABELS,
    RbacBootstrapHook,
    covers,
    default_objects,
    ensure_defaults,
    reconcile,
)
from kubelite.apiserver.rest import RestStorage
from kubelite.store import Store

RBAC = "rbac.authorization.k8s.io/v1"
Obj = dict[str, Any]


def rule(
    *verbs: str, groups: tuple[str, ...] = ("",), resources: tuple[str, ...] = (), **kw: Any
) -> Obj:
    out: Obj = {"apiGroups": list(groups), "resources": list(resources), "verbs": list(verbs)}
    out.update(kw)
    return out


def url_rule(*urls: str, verbs: tuple[str, ...] = ("get",)) -> Obj:
    return {"nonResourceURLs": list(urls), "verbs": list(verbs)}


def defaults(kind: str) -> dict[str, Obj]:
    return {
        (o["metadata"].get("namespace", "") + "/" if kind in ("Role", "RoleBinding") else "")
        + o["metadata"]["name"]: o
        for o in default_objects()
        if o["kind"] == kind
    }


def subjects(binding: Obj) -> list[tuple[str, str]]:
    return [(s["kind"], s["name"]) for s in binding.get("subjects") or []]


# ---- the data -----------------------------------------------------------------------


def test_the_well_known_cluster_roles_are_there() -> None:
    roles = defaults("ClusterRole")
    for name in (
        "cluster-admin",
        "admin",
        "edit",
        "view",
        "system:aggregate-to-admin",
        "system:aggregate-to-edit",
        "system:aggregate-to-view",
        "system:basic-user",
        "system:discovery",
        "system:public-info-viewer",
        "system:monitoring",
        "system:heapster",
        "system:node",
        "system:node-proxier",
        "system:kube-scheduler",
        "system:kube-controller-manager",
        "system:volume-scheduler",
        "system:certificates.k8s.io:kubelet-serving-approver",
        "system:controller:clusterrole-aggregation-controller",
        "system:controller:deployment-controller",
    ):
        assert name in roles, name
    assert roles["cluster-admin"]["rules"] == [
        rule("*", groups=("*",), resources=("*",)),
        url_rule("*", verbs=("*",)),
    ]


@pytest.mark.parametrize(
    ("name", "selects", "label"),
    [
        ("admin", "aggregate-to-admin", None),
        ("edit", "aggregate-to-edit", "aggregate-to-admin"),
        ("view", "aggregate-to-view", "aggregate-to-edit"),
    ],
)
def test_aggregated_roles_select_by_label_and_leave_rules_to_the_controller(
    name: str, selects: str, label: str | None
) -> None:
    role = defaults("ClusterRole")[name]
    prefix = "rbac.authorization.k8s.io/"
    assert role["aggregationRule"] == {
        "clusterRoleSelectors": [{"matchLabels": {prefix + selects: "true"}}]
    }
    assert role["rules"] is None
    if label:
        assert role["metadata"]["labels"][prefix + label] == "true"


def test_every_object_is_labelled_and_updated_automatically() -> None:
    for obj in default_objects():
        assert obj["metadata"]["labels"].items() >= LABELS.items()
        assert obj["metadata"]["annotations"] == {AUTOUPDATE: "true"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cluster-admin", [("Group", "system:masters")]),
        ("system:basic-user", [("Group", "system:authenticated")]),
        ("system:discovery", [("Group", "system:authenticated")]),
        (
            "system:public-info-viewer",
            [("Group", "system:authenticated"), ("Group", "system:unauthenticated")],
        ),
        ("system:node-proxier", [("User", "system:kube-proxy")]),
        ("system:kube-dns", [("ServiceAccount", "kube-dns")]),
        ("system:node", []),
        ("system:controller:job-controller", [("ServiceAccount", "job-controller")]),
    ],
)
def test_default_cluster_role_bindings(name: str, expected: list[tuple[str, str]]) -> None:
    binding = defaults("ClusterRoleBinding")[name]
    assert subjects(binding) == expected
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": name,
    }


def test_every_binding_refers_to_a_default_role() -> None:
    cluster_roles, roles = defaults("ClusterRole"), defaults("Role")
    for name, binding in defaults("ClusterRoleBinding").items():
        assert binding["roleRef"]["name"] in cluster_roles, name
    for key, binding in defaults("RoleBinding").items():
        namespace = key.partition("/")[0]
        assert f"{namespace}/{binding['roleRef']['name']}" in roles, key
    assert set(key.partition("/")[0] for key in roles) == {"kube-system", "kube-public"}


# ---- covers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("owned", "wanted", "covered"),
    [
        ([rule("get", "list", resources=("pods",))], rule("get", resources=("pods",)), True),
        ([rule("get", resources=("pods",))], rule("get", "list", resources=("pods",)), False),
        (
            [rule("*", groups=("*",), resources=("*",))],
            rule("delete", groups=("apps",), resources=("x",)),
            True,
        ),
        # split across two rules still covers
        (
            [rule("get", resources=("pods",)), rule("list", resources=("pods",))],
            rule("get", "list", resources=("pods",)),
            True,
        ),
        (
            [rule("get", groups=("*",), resources=("*/scale",))],
            rule("get", groups=("apps",), resources=("deployments/scale",)),
            True,
        ),
        (
            [rule("get", groups=("*",), resources=("*/scale",))],
            rule("get", groups=("apps",), resources=("deployments",)),
            False,
        ),
        # resourceNames narrow a rule: a named grant does not cover an unnamed one
        (
            [rule("get", resources=("configmaps",), resourceNames=["a"])],
            rule("get", resources=("configmaps",)),
            False,
        ),
        (
            [rule("get", resources=("configmaps",))],
            rule("get", resources=("configmaps",), resourceNames=["a"]),
            True,
        ),
        ([url_rule("/healthz/*")], url_rule("/healthz/etcd"), True),
        ([url_rule("/healthz")], url_rule("/healthz", "/livez"), False),
        ([rule("get", resources=("pods",))], url_rule("/healthz"), False),
    ],
    ids=[
        "subset-verbs",
        "missing-verb",
        "wildcards",
        "split",
        "star-subresource",
        "star-subresource-not-parent",
        "named-not-unnamed",
        "unnamed-covers-named",
        "url-prefix",
        "missing-url",
        "resource-not-url",
    ],
)
def test_covers(owned: list[Obj], wanted: Obj, covered: bool) -> None:
    assert covers(owned, wanted) is covered


# ---- reconcile ------------------------------------------------------------------------


def cluster_role(*rules: Obj, **meta: Any) -> Obj:
    metadata = {
        "name": "r",
        "labels": dict(LABELS),
        "annotations": {AUTOUPDATE: "true"},
        **meta,
    }
    return {"apiVersion": RBAC, "kind": "ClusterRole", "metadata": metadata, "rules": list(rules)}


PODS = rule("get", resources=("pods",))
NODES = rule("get", resources=("nodes",))
MINE = rule("get", groups=("example.com",), resources=("widgets",))


def test_reconcile_adds_lost_rules_and_keeps_the_users() -> None:
    result = reconcile(cluster_role(MINE), cluster_role(PODS, NODES)).obj
    assert result is not None and result["rules"] == [MINE, PODS, NODES]


def test_reconcile_leaves_a_covered_role_alone() -> None:
    wider = rule("get", "list", resources=("pods", "nodes"))
    assert reconcile(cluster_role(wider), cluster_role(PODS, NODES)).obj is None


def test_reconcile_leaves_a_protected_role_alone() -> None:
    existing = cluster_role(MINE, annotations={AUTOUPDATE: "false"}, labels={})
    assert reconcile(existing, cluster_role(PODS)).obj is None


def test_reconcile_adds_labels_and_annotations_and_keeps_the_users_values() -> None:
    existing = cluster_role(PODS, labels={"team": "a"}, annotations={"note": "x"})
    result = reconcile(existing, cluster_role(PODS)).obj
    assert result is not None
    assert result["metadata"]["labels"] == {**LABELS, "team": "a"}
    assert result["metadata"]["annotations"] == {AUTOUPDATE: "true", "note": "x"}


def test_reconcile_of_an_aggregate_restores_selectors_not_rules() -> None:
    wanted = defaults("ClusterRole")["view"]
    mine = {"matchLabels": {"team": "a"}}
    existing = {**wanted, "aggregationRule": {"clusterRoleSelectors": [mine]}, "rules": [MINE]}
    result = reconcile(existing, wanted).obj
    assert result is not None
    assert result["aggregationRule"]["clusterRoleSelectors"] == [
        mine,
        *wanted["aggregationRule"]["clusterRoleSelectors"],
    ]
    assert result["rules"] == [MINE]  # the aggregation controller's to set
    assert reconcile(wanted, wanted).obj is None


def test_reconcile_of_a_binding_adds_lost_subjects_and_keeps_the_users() -> None:
    wanted = defaults("ClusterRoleBinding")["system:public-info-viewer"]
    user = {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}
    existing = {**wanted, "subjects": [user]}
    result = reconcile(existing, wanted)
    assert result.obj is not None and not result.recreate
    assert result.obj["subjects"] == [user, *wanted["subjects"]]


def test_reconcile_of_a_binding_with_another_role_recreates_it() -> None:
    wanted = defaults("ClusterRoleBinding")["cluster-admin"]
    existing = {**wanted, "roleRef": {**wanted["roleRef"], "name": "view"}}
    result = reconcile(existing, wanted)
    assert result.recreate and result.obj is not None
    assert result.obj["roleRef"]["name"] == "cluster-admin"


# ---- against the API ----------------------------------------------------------------------


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[LocalClient]:
    store = Store(tmp_path / "db")
    c = LocalClient(RestStorage(store))
    await bootstrap(c, api_port=6443)  # the system namespaces
    yield c
    store.close()


async def names(client: LocalClient, kind: str, namespace: str | None = None) -> set[str]:
    items, _ = await client.list(RBAC, kind, namespace)
    return {o["metadata"]["name"] for o in items}


@pytest.mark.anyio
async def test_a_first_start_creates_everything_and_a_second_nothing(client: LocalClient) -> None:
    written = await ensure_defaults(client)
    assert written == len(default_objects())
    assert await names(client, "ClusterRole") == set(defaults("ClusterRole"))
    assert await names(client, "ClusterRoleBinding") == set(defaults("ClusterRoleBinding"))
    assert "extension-apiserver-authentication-reader" in await names(client, "Role", "kube-system")
    assert await names(client, "RoleBinding", "kube-public") == {
        "system:controller:bootstrap-signer"
    }
    assert await ensure_defaults(client) == 0


@pytest.mark.anyio
async def test_a_later_start_restores_and_respects(client: LocalClient) -> None:
    await ensure_defaults(client)
    # a protected edit: stays as the user left it
    edit = await client.get(RBAC, "ClusterRole", "system:discovery")
    edit["metadata"]["annotations"][AUTOUPDATE] = "false"
    edit["rules"] = [url_rule("/version")]
    await client.update(edit)
    # an unprotected edit: the lost rule comes back, the added one stays
    basic = await client.get(RBAC, "ClusterRole", "system:basic-user")
    basic["rules"] = [MINE]
    await client.update(basic)
    # a deleted default: created again
    await client.delete(RBAC, "ClusterRoleBinding", "system:monitoring")

    assert await ensure_defaults(client) == 2
    discovery = await client.get(RBAC, "ClusterRole", "system:discovery")
    assert discovery["rules"] == [url_rule("/version")]
    basic = await client.get(RBAC, "ClusterRole", "system:basic-user")
    assert basic["rules"] == [MINE, *defaults("ClusterRole")["system:basic-user"]["rules"]]
    assert "system:monitoring" in await names(client, "ClusterRoleBinding")


@pytest.mark.anyio
async def test_a_binding_pointed_elsewhere_is_recreated(client: LocalClient) -> None:
    await ensure_defaults(client)
    await client.delete(RBAC, "ClusterRoleBinding", "system:kube-dns")
    wanted = defaults("ClusterRoleBinding")["system:kube-dns"]
    await client.create({**wanted, "roleRef": {**wanted["roleRef"], "name": "view"}})
    assert await ensure_defaults(client) == 1
    binding = await client.get(RBAC, "ClusterRoleBinding", "system:kube-dns")
    assert binding["roleRef"]["name"] == "system:kube-dns"


# ---- the post-start hook ---------------------------------------------------------------------


def hook_with(ensure: Any) -> tuple[Health, RbacBootstrapHook]:
    health = Health.basic(store_closed=lambda: False, started=lambda: True)
    return health, RbacBootstrapHook(health, ensure=ensure)


@pytest.mark.anyio
async def test_the_hook_is_a_readyz_check_passing_once_done_and_before_start_up_ends() -> None:
    seen: list[str | None] = []
    health, hook = hook_with(lambda _client: asyncio.sleep(0, result=0))
    assert list(health.readyz) == ["ping", "etcd", "poststarthook/start-cluster-parts", HOOK]
    assert hook.check() is not None
    ready = asyncio.Event()
    task = asyncio.create_task(hook.run(None, ready))  # type: ignore[arg-type]
    await ready.wait()
    seen.append(hook.check())  # the cluster reports ready with the defaults in place
    await task
    assert seen == [None]


@pytest.mark.anyio
async def test_a_failing_hook_lets_start_up_go_on_and_retries() -> None:
    calls: list[int] = []

    async def ensure(_client: Any) -> int:
        calls.append(len(calls))
        if len(calls) == 1:
            raise errors.InternalError("the store hiccuped")
        return 0

    _, hook = hook_with(ensure)
    ready = asyncio.Event()
    task = asyncio.create_task(hook.run(None, ready))  # type: ignore[arg-type]
    await ready.wait()
    assert hook.check() is not None  # started, not done: /readyz fails meanwhile
    await task
    assert calls == [0, 1] and hook.check() is None
