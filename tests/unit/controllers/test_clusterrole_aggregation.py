"""The ClusterRole aggregation controller: rules unioned from selected roles, kept current."""

from __future__ import annotations

from typing import Any

import pytest
from ctl_builders import Harness

from kubelite.controllers.clusterrole_aggregation import (
    ClusterRoleAggregationController,
    aggregated_rules,
    same_rules,
)

pytestmark = pytest.mark.anyio
RBAC = "rbac.authorization.k8s.io/v1"
TO_VIEW = {"rbac.authorization.k8s.io/aggregate-to-view": "true"}
TO_EDIT = {"rbac.authorization.k8s.io/aggregate-to-edit": "true"}

Obj = dict[str, Any]


def rule(resource: str, *verbs: str, group: str = "") -> Obj:
    return {"apiGroups": [group], "resources": [resource], "verbs": list(verbs or ("get",))}


def make_role(
    name: str,
    *rules: Obj,
    labels: dict[str, str] | None = None,
    selects: list[dict[str, str]] | None = None,
) -> Obj:
    role: Obj = {"apiVersion": RBAC, "kind": "ClusterRole", "metadata": {"name": name}}
    if labels:
        role["metadata"]["labels"] = labels
    if selects is not None:
        role["aggregationRule"] = {"clusterRoleSelectors": [{"matchLabels": s} for s in selects]}
    role["rules"] = list(rules)
    return role


@pytest.mark.parametrize(
    ("sources", "expected"),
    [
        # roles are taken in name order, whatever order they come in
        (
            [
                make_role("b", rule("pods"), labels=TO_VIEW),
                make_role("a", rule("secrets"), labels=TO_VIEW),
            ],
            [rule("secrets"), rule("pods")],
        ),
        # a rule both roles carry appears once, where it first appeared
        (
            [
                make_role("a", rule("pods"), rule("nodes"), labels=TO_VIEW),
                make_role("b", rule("nodes"), rule("events"), labels=TO_VIEW),
            ],
            [rule("pods"), rule("nodes"), rule("events")],
        ),
        # rules equal but for an absent vs an empty list are one rule
        (
            [
                make_role("a", {**rule("pods"), "resourceNames": []}, labels=TO_VIEW),
                make_role("b", rule("pods"), labels=TO_VIEW),
            ],
            [{**rule("pods"), "resourceNames": []}],
        ),
        # unlabelled roles and roles of another label are left out
        (
            [make_role("a", rule("pods")), make_role("b", rule("jobs"), labels=TO_EDIT)],
            [],
        ),
    ],
    ids=["name-order", "deduplicated", "semantic-equality", "not-selected"],
)
def test_aggregated_rules(sources: list[Obj], expected: list[Obj]) -> None:
    view = make_role("view", selects=[TO_VIEW])
    assert aggregated_rules(view, [view, *sources]) == expected


def test_an_aggregate_never_selects_itself() -> None:
    # view carries its own selector's label, as a user's odd role might
    view = make_role("view", rule("secrets"), labels=TO_VIEW, selects=[TO_VIEW])
    other = make_role("other", rule("pods"), labels=TO_VIEW)
    assert aggregated_rules(view, [view, other]) == [rule("pods")]


def test_any_selector_matches() -> None:
    admin = make_role("admin", selects=[TO_VIEW, TO_EDIT])
    roles = [
        make_role("e", rule("jobs"), labels=TO_EDIT),
        make_role("v", rule("pods"), labels=TO_VIEW),
    ]
    assert aggregated_rules(admin, [admin, *roles]) == [rule("jobs"), rule("pods")]


def test_same_rules_treats_null_as_empty() -> None:
    assert same_rules(None, [])
    assert not same_rules([rule("pods")], [])
    assert not same_rules([rule("pods"), rule("jobs")], [rule("jobs"), rule("pods")])


async def rules_of(h: Harness, name: str) -> Any:
    return (await h.client.get(RBAC, "ClusterRole", name)).get("rules")


async def test_view_follows_its_sources(h: Harness) -> None:
    ctl = ClusterRoleAggregationController()
    h.bind(ctl)
    await h.create(make_role("view", selects=[TO_VIEW]))
    await h.create(make_role("widgets", rule("widgets", group="example.com"), labels=TO_VIEW))
    await h.sync(ctl, "view")
    assert await rules_of(h, "view") == [rule("widgets", group="example.com")]

    widgets = await h.client.get(RBAC, "ClusterRole", "widgets")
    widgets["rules"].append(rule("gadgets", group="example.com"))
    await h.client.update(widgets)
    await h.sync(ctl, "view")
    assert await rules_of(h, "view") == [
        rule("widgets", group="example.com"),
        rule("gadgets", group="example.com"),
    ]

    await h.client.delete(RBAC, "ClusterRole", "widgets")
    await h.sync(ctl, "view")
    assert not await rules_of(h, "view")


async def test_an_unchanged_aggregate_is_not_written(h: Harness) -> None:
    ctl = ClusterRoleAggregationController()
    h.bind(ctl)
    await h.create(make_role("view", selects=[TO_VIEW]))
    await h.create(make_role("a", rule("pods"), labels=TO_VIEW))
    await h.sync(ctl, "view")
    version = (await h.client.get(RBAC, "ClusterRole", "view"))["metadata"]["resourceVersion"]
    await h.sync(ctl, "view")
    assert (await h.client.get(RBAC, "ClusterRole", "view"))["metadata"][
        "resourceVersion"
    ] == version


async def test_aggregates_chain_and_every_change_enqueues_them(h: Harness) -> None:
    ctl = ClusterRoleAggregationController()
    h.bind(ctl)
    enqueued: list[str] = []
    ctl.enqueue = enqueued.append  # type: ignore[method-assign]
    await h.create(make_role("edit", selects=[TO_EDIT]))
    await h.create(make_role("view", labels=TO_EDIT, selects=[TO_VIEW]))
    await h.informers.relist(h.client)
    enqueued.clear()
    await h.create(make_role("plain", rule("pods")))  # any change: every aggregate, no other
    await h.informers.relist(h.client)
    assert sorted(enqueued) == ["edit", "view"]

    await h.create(make_role("a", rule("pods"), labels=TO_VIEW))
    await h.sync(ctl, "view")  # view gains a's rule ...
    await h.sync(ctl, "edit")  # ... and edit gains it through view
    assert await rules_of(h, "edit") == [rule("pods")]


async def test_a_role_without_aggregation_rule_is_left_alone(h: Harness) -> None:
    ctl = ClusterRoleAggregationController()
    h.bind(ctl)
    await h.create(make_role("plain", rule("nodes")))
    await h.create(make_role("a", rule("pods"), labels=TO_VIEW))
    await h.sync(ctl, "plain")
    await h.sync(ctl, "missing")  # a deleted role is done
    assert await rules_of(h, "plain") == [rule("nodes")]
