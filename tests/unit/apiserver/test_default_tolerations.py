"""Every pod tolerates a not-ready or unreachable node for 300 s (DefaultTolerationSeconds)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.unit.apiserver.inprocess_api import api_app, call

from kubelite.apiserver.http import ApiApp

PODS = "/api/v1/namespaces/default/pods"
NOT_READY = {"key": "node.kubernetes.io/not-ready", "operator": "Exists",
             "effect": "NoExecute", "tolerationSeconds": 300}  # fmt: skip
UNREACHABLE = {**NOT_READY, "key": "node.kubernetes.io/unreachable"}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[ApiApp]:
    with api_app(tmp_path) as a:
        yield a


def pod(name: str, tolerations: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "python:3.11"}]}
    if tolerations is not None:
        spec["tolerations"] = tolerations
    return {"metadata": {"name": name}, "spec": spec}


def test_a_pod_gets_both_default_tolerations(app: ApiApp) -> None:
    made = call(app, "POST", PODS, pod("p")).json()
    assert made["spec"]["tolerations"] == [NOT_READY, UNREACHABLE]


def test_a_pod_that_tolerates_them_already_keeps_its_own(app: ApiApp) -> None:
    own = [{"key": "node.kubernetes.io/unreachable", "operator": "Exists",
            "effect": "NoExecute", "tolerationSeconds": 5}]  # fmt: skip
    made = call(app, "POST", PODS, pod("p", own)).json()
    assert made["spec"]["tolerations"] == [*own, NOT_READY]
    everything = [{"operator": "Exists"}]  # no key, no effect: every taint
    made = call(app, "POST", PODS, pod("q", everything)).json()
    assert made["spec"]["tolerations"] == everything
