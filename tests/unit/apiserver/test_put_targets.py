"""A PUT names the object of its URL, on subresources too; a namespace's phase
follows its deletion."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.unit.apiserver.inprocess_api import TOKEN, api_app, call

from kubelite.apiserver.http import ApiApp

DEPLOY = "/apis/apps/v1/namespaces/default/deployments"
MERGE = "application/merge-patch+json"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[ApiApp]:
    with api_app(tmp_path) as a:
        container = {"name": "c", "image": "python:3.11"}
        spec = {"replicas": 3, "selector": {"matchLabels": {"a": "b"}},
                "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [container]}}}  # fmt: skip
        assert (
            call(a, "POST", DEPLOY, {"metadata": {"name": "d1"}, "spec": spec}).status_code == 201
        )
        assert (
            call(a, "POST", "/api/v1/namespaces", {"metadata": {"name": "nsx"}}).status_code == 201
        )
        yield a


def scale(
    name: Any = "d1", namespace: str = "default", api_version: str = "autoscaling/v1"
) -> dict:
    md = {"name": name, "namespace": namespace} if name is not None else {}
    return {"apiVersion": api_version, "kind": "Scale", "metadata": md, "spec": {"replicas": 1}}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (scale("zz"), "the name of the object (zz) does not match the name on the URL (d1)"),
        (scale(namespace="kube-system"),
         "the namespace of the provided object does not match the namespace sent on the request"),
        (scale(None), "the name of the object () does not match the name on the URL (d1)"),
        (scale(api_version="apps/v1"), "the API version in the data (apps/v1) does not match "
         "the expected API version (autoscaling/v1)"),
    ],
    ids=["name", "namespace", "no-name", "api-version"],
)  # fmt: skip
def test_a_scale_put_must_name_its_object(app: ApiApp, body: dict, message: str) -> None:
    r = call(app, "PUT", f"{DEPLOY}/d1/scale", body)
    assert (r.status_code, r.json()["message"]) == (400, message)
    assert call(app, "GET", f"{DEPLOY}/d1").json()["spec"]["replicas"] == 3  # unchanged
    assert call(app, "PUT", f"{DEPLOY}/d1/scale", scale()).status_code == 200


@pytest.mark.parametrize(
    ("phase", "message"),
    [
        ("Terminating", "may only be 'Active' if `deletionTimestamp` is empty"),
        ("Bogus", "may only be 'Active' if `deletionTimestamp` is empty"),
    ],
)
def test_a_live_namespaces_phase_stays_active(app: ApiApp, phase: str, message: str) -> None:
    url = "/api/v1/namespaces/nsx/status"
    r = call(app, "PATCH", url, {"status": {"phase": phase}}, content_type=MERGE)
    assert r.status_code == 422
    assert r.json()["message"] == (
        f'Namespace "nsx" is invalid: status.Phase: Invalid value: "{phase}": {message}'
    )
    assert call(app, "GET", "/api/v1/namespaces/nsx").json()["status"]["phase"] == "Active"
    cm = {"metadata": {"name": "x"}}
    assert call(app, "POST", "/api/v1/namespaces/nsx/configmaps", cm).status_code == 201


CMS = "/api/v1/namespaces/default/configmaps"


@pytest.mark.parametrize(
    ("patch", "content_type", "message"),
    [
        ([{"op": "replace", "path": "/metadata/namespace", "value": "kube-system"}],
         "application/json-patch+json",
         "the namespace of the provided object does not match the namespace sent on the request"),
        ({"metadata": {"namespace": "kube-system"}}, MERGE,
         "the namespace of the provided object does not match the namespace sent on the request"),
        ({"metadata": {"name": "other"}}, "application/strategic-merge-patch+json",
         "the name of the object (other) does not match the name on the URL (c)"),
    ],
    ids=["json-namespace", "merge-namespace", "strategic-name"],
)  # fmt: skip
def test_a_patch_cannot_move_its_object(
    app: ApiApp, patch: Any, content_type: str, message: str
) -> None:
    assert call(app, "POST", CMS, {"metadata": {"name": "c"}}).status_code == 201
    r = call(app, "PATCH", f"{CMS}/c", patch, content_type=content_type)
    assert (r.status_code, r.json()["message"]) == (400, message)
    assert call(app, "GET", f"{CMS}/c").status_code == 200


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        ({"deletionTimestamp": "2030-01-01T00:00:00Z"},
         "metadata.deletionTimestamp: Invalid value: 2030-01-01 00:00:00 +0000 UTC: "
         "field is immutable"),
        ({"deletionGracePeriodSeconds": 30},
         "metadata.deletionGracePeriodSeconds: Invalid value: 30: field is immutable"),
    ],
)  # fmt: skip
def test_an_update_cannot_start_a_deletion(app: ApiApp, meta: dict, message: str) -> None:
    assert call(app, "POST", CMS, {"metadata": {"name": "c"}}).status_code == 201
    r = call(app, "PATCH", f"{CMS}/c", {"metadata": meta}, content_type=MERGE)
    assert (r.status_code, r.json()["message"]) == (422, f'ConfigMap "c" is invalid: {message}')
    assert "deletionTimestamp" not in call(app, "GET", f"{CMS}/c").json()["metadata"]


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ({"observedGeneration": -1},
         "status.observedGeneration: Invalid value: -1: must be greater than or equal to 0"),
        ({"replicas": 1, "readyReplicas": 5},
         "status.readyReplicas: Invalid value: 5: cannot be greater than status.replicas"),
        ({"replicas": 3, "readyReplicas": 1, "availableReplicas": 2},
         "status.availableReplicas: Invalid value: 2: cannot be greater than readyReplicas"),
    ],
)  # fmt: skip
def test_a_deployment_status_that_cannot_be_true_is_refused(
    app: ApiApp, status: dict, message: str
) -> None:
    r = call(app, "PATCH", f"{DEPLOY}/d1/status", {"status": status}, content_type=MERGE)
    assert (r.status_code, r.json()["message"]) == (
        422,
        f'Deployment.apps "d1" is invalid: {message}',
    )
    ok = {"replicas": 3, "readyReplicas": 2, "availableReplicas": 2, "collisionCount": 2}
    assert (
        call(app, "PATCH", f"{DEPLOY}/d1/status", {"status": ok}, content_type=MERGE).status_code
        == 200
    )
    back = call(app, "PATCH", f"{DEPLOY}/d1/status", {"status": {"collisionCount": 1}},
                content_type=MERGE)  # fmt: skip
    assert back.json()["message"].endswith(
        "status.collisionCount: Invalid value: 1: cannot be decremented"
    )


def test_a_jobs_counters_stay_non_negative(app: ApiApp) -> None:
    jobs = "/apis/batch/v1/namespaces/default/jobs"
    spec = {"template": {"spec": {"restartPolicy": "Never",
                                  "containers": [{"name": "c", "image": "python:3.11"}]}}}  # fmt: skip
    assert call(app, "POST", jobs, {"metadata": {"name": "j"}, "spec": spec}).status_code == 201
    r = call(app, "PATCH", f"{jobs}/j/status", {"status": {"active": -1, "ready": -2}},
             content_type=MERGE)  # fmt: skip
    assert r.status_code == 422
    assert r.json()["message"] == (
        'Job.batch "j" is invalid: [status.active: Invalid value: -1: must be greater than or '
        "equal to 0, status.ready: Invalid value: -2: must be greater than or equal to 0]"
    )


def test_an_apply_to_scale_takes_a_yaml_configuration(app: ApiApp) -> None:
    body = "apiVersion: autoscaling/v1\nkind: Scale\nmetadata: {name: d1}\nspec: {replicas: 2}\n"

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            headers = {"authorization": f"Bearer {TOKEN}",
                       "content-type": "application/apply-patch+yaml"}  # fmt: skip
            return await client.patch(f"{DEPLOY}/d1/scale?fieldManager=hpa", content=body,
                                      headers=headers)  # fmt: skip

    r = asyncio.run(go())
    assert r.status_code == 200 and r.json()["spec"] == {"replicas": 2}
    assert call(app, "GET", f"{DEPLOY}/d1").json()["spec"]["replicas"] == 2


def test_a_job_cannot_be_marked_complete_without_its_times(app: ApiApp) -> None:
    jobs = "/apis/batch/v1/namespaces/default/jobs"
    spec = {"managedBy": "example.com/foo",
            "template": {"spec": {"restartPolicy": "Never",
                                  "containers": [{"name": "c", "image": "python:3.11"}]}}}  # fmt: skip
    assert call(app, "POST", jobs, {"metadata": {"name": "jm"}, "spec": spec}).status_code == 201
    done = {"type": "Complete", "status": "True", "reason": "X", "message": "m"}
    r = call(app, "PATCH", f"{jobs}/jm/status", {"status": {"conditions": [done]}},
             content_type=MERGE)  # fmt: skip
    assert r.status_code == 422
    assert r.json()["message"] == (
        'Job.batch "jm" is invalid: [status.completionTime: Required value: completionTime is '
        "required for Complete jobs, status.startTime: Required value: startTime is required "
        "for finished job]"
    )
