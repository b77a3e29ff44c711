"""The dashboard of a real `kubelite up`: pages, pod logs and traces, read over HTTP.

Objects are made with the real kubectl and spans are posted to the cluster's
own collector; the test then reads what a user would see in the browser.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from functools import partial

import httpx
import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.polling import wait_for as _wait_for

pytestmark = pytest.mark.e2e
PY = "{}.{}".format(*sys.version_info[:2])


wait_for = partial(_wait_for, interval=0.2)


@pytest.fixture(scope="module")
def dashboard(cluster: Cluster) -> str:
    url = cluster.status.get("dashboard")
    if not url:
        pytest.skip(
            "kubelite status reports no dashboard URL: the dashboard is not wired into `kubelite up`"
        )
    return str(url)


def get(dashboard: str, path: str, **params: str) -> httpx.Response:
    return httpx.get(dashboard + path, params=params, timeout=30)


def test_overview_and_lists(dashboard: str) -> None:
    overview = get(dashboard, "/")
    assert overview.status_code == 200
    assert "Overview" in overview.text and "nodes ready" in overview.text
    for path in ("/workloads", "/pods", "/services", "/config", "/events", "/breakers"):
        response = get(dashboard, path, ns="default")
        assert response.status_code == 200, path
        assert "Traceback" not in response.text
    assert "kubernetes" in get(dashboard, "/services").text  # the built-in Service


def test_secret_values_stay_hidden(cluster: Cluster, namespace: str, dashboard: str) -> None:
    cluster.kubectl("create", "secret", "generic", "db", "-n", namespace,
                    "--from-literal=password=e2e-hunter2-value")  # fmt: skip
    page = get(dashboard, "/config", ns=namespace).text
    assert "password" in page and "e2e-hunter2-value" not in page
    assert "ZTJlLWh1bnRlcjItdmFsdWU" not in page  # nor base64 of it


def test_pod_page_and_logs(cluster: Cluster, namespace: str, dashboard: str) -> None:
    if not cluster.status.get("nodes"):
        pytest.skip("kubelite status reports no nodes: no node agent runs pods in this build")
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "greeter", "labels": {"app": "greeter"}},
        "spec": {
            "containers": [{
                "name": "main",
                "image": f"python:{PY}",
                "command": ["python", "-u", "-c", "import time; print('hello from the dashboard test'); time.sleep(600)"],
            }],
            "terminationGracePeriodSeconds": 1,
        },
    }  # fmt: skip
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(pod))
    wait_for(lambda: "greeter" in get(dashboard, "/pods", ns=namespace).text, what="pod listed")

    def logged() -> str | None:
        response = get(
            dashboard, f"/pods/{namespace}/greeter/log", container="main", tailLines="10"
        )
        return response.text if "hello from the dashboard test" in response.text else None

    wait_for(logged, what="the pod's log line through the dashboard")
    page = get(dashboard, f"/pods/{namespace}/greeter").text
    assert "python:" in page and "Running" in page
    assert get(dashboard, f"/pods/{namespace}/no-such-pod").status_code == 404


def test_traces_from_the_collector(cluster: Cluster, dashboard: str) -> None:
    zipkin = cluster.status.get("zipkin")
    if not zipkin:
        pytest.skip("kubelite status reports no collector URL")
    trace = uuid.uuid4().hex[:16]
    now = int(time.time() * 1_000_000)
    spans = [
        {"traceId": trace, "id": "1" * 16, "name": "get /checkout", "kind": "SERVER", "timestamp": now,
         "duration": 80_000, "localEndpoint": {"serviceName": "e2e-frontend"}},
        {"traceId": trace, "id": "2" * 16, "parentId": "1" * 16, "name": "post /pay", "kind": "CLIENT",
         "timestamp": now + 5_000, "duration": 60_000, "localEndpoint": {"serviceName": "e2e-frontend"},
         "remoteEndpoint": {"serviceName": "e2e-payments"}},
        {"traceId": trace, "id": "2" * 16, "parentId": "1" * 16, "name": "post /pay", "kind": "SERVER",
         "shared": True, "timestamp": now + 6_000, "duration": 58_000,
         "localEndpoint": {"serviceName": "e2e-payments"}, "tags": {"error": "declined"}},
    ]  # fmt: skip
    posted = httpx.post(f"{zipkin}/api/v2/spans", json=spans, timeout=30)
    assert posted.status_code == 202
    listing = get(dashboard, "/traces", service="e2e-frontend").text
    assert f"/traces/{trace}" in listing and "e2e-frontend: get /checkout" in listing
    waterfall = get(dashboard, f"/traces/{trace}").text
    assert waterfall.count('class="wf-row"') == 3 and "declined" in waterfall
    graph = get(dashboard, "/dependencies").text
    assert ">e2e-frontend</text>" in graph and ">e2e-payments</text>" in graph
