"""StatefulSet writes through the real API app: the strategy's dropped fields.

`spec.updateStrategy.rollingUpdate.maxUnavailable` belongs to the
MaxUnavailableStatefulSet feature gate, off in Kubernetes 1.32: the server
drops it on create and on update (dropStatefulSetDisabledFields) rather than
store a field the StatefulSet controller ignores. An invalid value goes the
same way, unvalidated, as upstream.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.unit.apiserver import inprocess_api
from tests.unit.apiserver.inprocess_api import api_app

from kubelite.apiserver.http import ApiApp

STATEFULSETS = "/apis/apps/v1/namespaces/default/statefulsets"
MERGE = "application/merge-patch+json"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[ApiApp]:
    with api_app(tmp_path) as app:
        yield app


def stateful_set(**rolling: Any) -> dict[str, Any]:
    labels = {"app": "db"}
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db"},
        "spec": {
            "selector": {"matchLabels": labels},
            "serviceName": "db",
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": rolling},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "db", "image": "db:1"}]},
            },
        },
    }


@pytest.mark.parametrize("value", [2, "50%", 0], ids=["count", "percent", "invalid-zero"])
def test_max_unavailable_is_dropped_on_create(app: ApiApp, value: Any) -> None:
    created = inprocess_api.call(
        app,
        "POST",
        STATEFULSETS,
        stateful_set(maxUnavailable=value),
        content_type="application/json",
    )
    assert created.status_code == 201, created.text
    assert created.json()["spec"]["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"partition": 0},
    }


def test_max_unavailable_is_dropped_on_update(app: ApiApp) -> None:
    inprocess_api.call(app, "POST", STATEFULSETS, stateful_set(), content_type="application/json")
    patch = {"spec": {"updateStrategy": {"rollingUpdate": {"maxUnavailable": 2}}}}
    changed = inprocess_api.call(app, "PATCH", f"{STATEFULSETS}/db", patch, content_type=MERGE)
    assert changed.status_code == 200, changed.text
    assert changed.json()["spec"]["updateStrategy"]["rollingUpdate"] == {"partition": 0}
