"""Field selectors: each kind's labels and refusals, as upstream's conversion functions.

Jobs select on `status.successful` (their succeeded count, 0 when unset);
kinds without a conversion function take only `metadata.name` and
`metadata.namespace`, and say so in the default function's words.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from tests.unit.apiserver.inprocess_api import api_app, call

from kubelite.apiserver.http import ApiApp

Obj = dict[str, Any]
JOBS = "/apis/batch/v1/namespaces/default/jobs"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[ApiApp]:
    with api_app(tmp_path) as app:
        yield app


def job(name: str) -> Obj:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "c", "image": "busybox"}],
                }
            }
        },
    }


def names(app: ApiApp, path: str, selector: str) -> list[str]:
    resp = call(app, "GET", f"{path}?fieldSelector={quote(selector)}")
    assert resp.status_code == 200, resp.text
    return sorted(i["metadata"]["name"] for i in resp.json()["items"])


def refusal(app: ApiApp, path: str, selector: str) -> str:
    resp = call(app, "GET", f"{path}?fieldSelector={quote(selector)}")
    assert resp.status_code == 400, resp.text
    return str(resp.json()["message"])


def test_jobs_select_on_their_succeeded_count(app: ApiApp) -> None:
    for name, succeeded in (("done", 1), ("twice", 2), ("fresh", None)):
        assert call(app, "POST", JOBS, job(name)).status_code == 201
        if succeeded is not None:
            status = {"status": {"succeeded": succeeded}}
            resp = call(
                app,
                "PATCH",
                f"{JOBS}/{name}/status",
                status,
                content_type="application/merge-patch+json",
            )
            assert resp.status_code == 200, resp.text
    assert names(app, JOBS, "status.successful=1") == ["done"]
    assert names(app, JOBS, "status.successful=0") == ["fresh"]  # unset counts as 0
    assert names(app, JOBS, "status.successful!=0") == ["done", "twice"]
    assert names(app, "/apis/batch/v1/jobs", "status.successful==2") == ["twice"]


@pytest.mark.parametrize(
    ("path", "selector", "message"),
    [
        pytest.param(
            JOBS,
            "status.succeeded=1",
            'field label "status.succeeded" not supported for batchv1.Job',
            id="job",
        ),
        pytest.param(
            "/apis/apps/v1/namespaces/default/replicasets",
            "status.replicas=0",
            '"status.replicas" is not a known field selector: '
            'only "metadata.name", "metadata.namespace"',
            id="replicaset-default-conversion",
        ),
        pytest.param(
            "/api/v1/namespaces/default/configmaps",
            "data.x=1",
            '"data.x" is not a known field selector: only "metadata.name", "metadata.namespace"',
            id="configmap-default-conversion",
        ),
        pytest.param(
            "/api/v1/nodes",
            "metadata.namespace=x",
            "field label not supported: metadata.namespace",
            id="node-has-no-namespace-label",
        ),
        pytest.param(
            "/api/v1/namespaces",
            "metadata.namespace=x",
            "field label not supported: metadata.namespace",
            id="namespace-has-no-namespace-label",
        ),
        pytest.param(
            "/api/v1/namespaces/default/pods",
            "spec.nodename=x",
            "field label not supported: spec.nodename",
            id="pod",
        ),
    ],
)
def test_unknown_labels_are_refused_in_upstreams_words(
    app: ApiApp, path: str, selector: str, message: str
) -> None:
    assert refusal(app, path, selector) == message


@pytest.mark.parametrize(
    ("path", "selector"),
    [
        pytest.param("/api/v1/namespaces/default/pods", "spec.schedulerName=x", id="pod-scheduler"),
        pytest.param("/api/v1/namespaces/default/pods", "status.podIPs=", id="pod-podips"),
        pytest.param("/api/v1/nodes", "spec.unschedulable=true", id="node-unschedulable"),
        pytest.param("/api/v1/namespaces/default/secrets", "type=Opaque", id="secret-type"),
        pytest.param("/api/v1/namespaces/default/events", "source=kubelet", id="event-source"),
        pytest.param(
            "/apis/apps/v1/namespaces/default/deployments",
            "metadata.namespace=default",
            id="default-namespace-label",
        ),
    ],
)
def test_upstreams_labels_are_accepted(app: ApiApp, path: str, selector: str) -> None:
    assert names(app, path, selector) == []
