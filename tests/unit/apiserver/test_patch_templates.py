"""Patches of pod templates through the real API app, in process.

A template's `metadata.creationTimestamp: null` cannot be removed on a real
cluster (the Go type always prints it), so the dry run `kubectl diff` sends for
an object made by `kubectl create` shows no change to it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from kubelite.apiserver.http import ApiApp
from kubelite.apiserver.rest import RestStorage
from kubelite.store import Store

TOKEN = "t0ken"
DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"
CRONJOBS = "/apis/batch/v1/namespaces/default/cronjobs"
STRATEGIC = "application/strategic-merge-patch+json"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[ApiApp]:
    store = Store(tmp_path / "db")
    storage = RestStorage(store)
    storage.create(
        storage.registry.by_kind("v1", "Namespace"),  # type: ignore[arg-type]
        None,
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}},
    )
    yield ApiApp(storage, token=TOKEN)
    store.close()


def call(app: ApiApp, method: str, path: str, body: Any, content_type: str) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            return await client.request(
                method,
                path,
                content=orjson.dumps(body),
                headers={"authorization": f"Bearer {TOKEN}", "content-type": content_type},
            )

    return asyncio.run(go())


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
