"""apps/v1 DaemonSet defaults and validation, with upstream's values, field paths and wording."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubelite.api.defaults import apply_defaults
from kubelite.api.validation import validate


def daemon_set(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": "default"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {
                "metadata": {"labels": {"app": "agent"}},
                "spec": {"containers": [{"name": "main", "image": "python:3.11"}]},
            },
            **spec,
        },
    }


def messages(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    apply_defaults(obj)
    return [str(e) for e in validate(obj, old=old)]


def test_defaults_as_upstream() -> None:
    spec = apply_defaults(daemon_set())["spec"]
    assert spec["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0},
    }
    assert spec["revisionHistoryLimit"] == 10
    template_spec = spec["template"]["spec"]
    assert (template_spec["restartPolicy"], template_spec["dnsPolicy"]) == (
        "Always",
        "ClusterFirst",
    )
    assert template_spec["terminationGracePeriodSeconds"] == 30
    # A template is not a Pod: no enableServiceLinks, no priority.
    assert "enableServiceLinks" not in template_spec and "priority" not in template_spec


def test_on_delete_gets_no_rolling_update() -> None:
    spec = apply_defaults(daemon_set(updateStrategy={"type": "OnDelete"}))["spec"]
    assert spec["updateStrategy"] == {"type": "OnDelete"}


def test_valid_daemon_set() -> None:
    assert messages(daemon_set()) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            {"selector": {"matchLabels": {"app": "other"}}},
            'spec.template.metadata.labels: Invalid value: {"app":"agent"}: '
            "`selector` does not match template `labels`",
            id="selector-mismatch",
        ),
        pytest.param(
            {"selector": None},
            'spec.template.metadata.labels: Invalid value: {"app":"agent"}: '
            "`selector` does not match template `labels`",
            id="selector-missing",
        ),
        pytest.param(
            {"minReadySeconds": -1},
            "spec.minReadySeconds: Invalid value: -1: must be greater than or equal to 0",
            id="min-ready-negative",
        ),
        pytest.param(
            {"revisionHistoryLimit": -2},
            "spec.revisionHistoryLimit: Invalid value: -2: must be greater than or equal to 0",
            id="history-negative",
        ),
        pytest.param(
            {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}},
            "spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: 1: "
            "may not be set when maxUnavailable is non-zero",
            id="surge-and-unavailable",
        ),
        pytest.param(
            {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0}}},
            "spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: "
            "cannot be 0 when maxSurge is 0",
            id="both-zero",
        ),
        pytest.param(
            {
                "updateStrategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxUnavailable": "120%"},
                }
            },
            'spec.updateStrategy.rollingUpdate.maxUnavailable: Invalid value: "120%": '
            "must not be greater than 100%",
            id="over-100-percent",
        ),
    ],
)
def test_spec_errors(change: dict[str, Any], expected: str) -> None:
    ds = daemon_set()
    ds["spec"].update(change)
    assert expected in messages(ds)


def test_restart_policy_must_be_always() -> None:
    ds = daemon_set()
    ds["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    assert messages(ds) == [
        'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"'
    ]


def test_empty_selector_is_invalid() -> None:
    assert messages(daemon_set(selector={})) == [
        "spec.selector: Invalid value: {}: empty selector is invalid for daemonset"
    ]


def test_percentages_are_valid() -> None:
    rolling = {"maxUnavailable": "30%", "maxSurge": 0}
    assert (
        messages(daemon_set(updateStrategy={"type": "RollingUpdate", "rollingUpdate": rolling}))
        == []
    )
    rolling = {"maxUnavailable": 0, "maxSurge": "10%"}
    assert (
        messages(daemon_set(updateStrategy={"type": "RollingUpdate", "rollingUpdate": rolling}))
        == []
    )


def test_selector_is_immutable() -> None:
    old = apply_defaults(daemon_set())
    old["metadata"].update(uid="u1", resourceVersion="5", creationTimestamp="2025-01-01T00:00:00Z")
    new = copy.deepcopy(old)
    new["spec"]["selector"] = {"matchLabels": {"app": "agent", "tier": "x"}}
    new["spec"]["template"]["metadata"]["labels"]["tier"] = "x"
    assert any(
        m.startswith("spec.selector: Invalid value: ") and m.endswith("field is immutable")
        for m in messages(new, old)
    )
