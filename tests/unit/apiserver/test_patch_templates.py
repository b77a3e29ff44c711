"""Patches of pod templates through the real API app, in process.

A template's `metadata.creationTimestamp: null` cannot be removed on a real
cluster (the Go type always prints it), so the dry run `kubectl diff` sends for
an object made by `kubectl create` shows no change to it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.unit.apiserver import inprocess_api
from tests.unit.apiserver.inprocess_api import api_app

from kubelite.apiserver.http import ApiApp

DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"
CRONJOBS = "/apis/batch/v1/namespaces/default/cronjobs"
STRATEGIC = "application/strategic-merge-patch+json"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[ApiApp]:
    with api_app(tmp_path) as app:
        yield app


def call(app: ApiApp, method: str, path: str, body: Any, content_type: str) -> httpx.Response:
    return inprocess_api.call(app, method, path, body, content_type=content_type)


def pod_template(name: str, restart: str = "Always") -> dict[str, Any]:
    return {
        "metadata": {"creationTimestamp": None, "labels": {"app": name}},
        "spec": {"restartPolicy": restart, "containers": [{"name": "c", "image": "busybox"}]},
    }


def test_a_null_template_timestamp_survives_a_patch_that_deletes_it(app: ApiApp) -> None:
    deploy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"selector": {"matchLabels": {"app": "web"}}, "template": pod_template("web")},
    }
    created = call(app, "POST", DEPLOYS, deploy, "application/json")
    assert created.status_code == 201, created.text
    rv = created.json()["metadata"]["resourceVersion"]
    patch = {"metadata": {"labels": {"a": "b"}}, "spec": {"template": {"metadata": {}}}}
    patch["spec"]["template"]["metadata"]["creationTimestamp"] = None
    dry = call(app, "PATCH", f"{DEPLOYS}/web?dryRun=All", patch, STRATEGIC).json()
    assert dry["spec"]["template"]["metadata"] == {
        "creationTimestamp": None,
        "labels": {"app": "web"},
    }
    assert dry["metadata"]["labels"] == {"a": "b"}

    noop = {"spec": {"template": {"metadata": {"creationTimestamp": None}}}}
    again = call(app, "PATCH", f"{DEPLOYS}/web", noop, STRATEGIC).json()
    assert again["metadata"]["resourceVersion"] == rv


def test_a_cron_jobs_nested_templates_keep_their_null_timestamps(app: ApiApp) -> None:
    cron = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "c"},
        "spec": {
            "schedule": "*/5 * * * *",
            "jobTemplate": {"metadata": {"creationTimestamp": None}, "spec": {}},
        },
    }
    cron["spec"]["jobTemplate"]["spec"]["template"] = pod_template("c", "OnFailure")
    assert call(app, "POST", CRONJOBS, cron, "application/json").status_code == 201
    nulls = {"metadata": {"creationTimestamp": None}}
    patch = {"spec": {"jobTemplate": {**nulls, "spec": {"template": nulls}}}}
    patched = call(app, "PATCH", f"{CRONJOBS}/c", patch, STRATEGIC).json()
    job_template = patched["spec"]["jobTemplate"]
    assert job_template["metadata"] == {"creationTimestamp": None}
    assert job_template["spec"]["template"]["metadata"]["creationTimestamp"] is None
