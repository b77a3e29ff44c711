"""`kubelite demo` as a user runs it: start, deploy the shop, open the URLs, run again, stop.

One journey on one cluster (starting a cluster and three Python services is
the slow part on a small CI machine). Waits poll with generous limits;
nothing asserts on elapsed time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.polling import wait_for

pytestmark = pytest.mark.e2e
SERVICES = {"frontend", "orders", "payments"}


def printed_url(stdout: str, label: str) -> str:
    """A URL from the demo's closing list (a started cluster prints its own list first)."""
    _, found, urls = stdout.partition("The shop is ready")
    assert found, f"the demo did not say the shop is ready:\n{stdout}"
    match = re.search(rf"^\s+{label}\s+(http://\S+)$", urls, re.M)
    assert match, f"no {label} URL in:\n{stdout}"
    return match.group(1)


@pytest.fixture
def demo_cluster(tmp_path: Path) -> Iterator[Cluster]:
    cache = tmp_path / "kubectl-cache"
    cache.mkdir()
    cluster = Cluster(data_dir=tmp_path / "data", cache_dir=cache)
    try:
        yield cluster
    finally:
        cluster.kubelite("down", check=False)


def shop_snapshot(cluster: Cluster) -> dict[str, Any]:
    """What a second demo must leave exactly as it was."""

    def names(kind: str) -> list[str]:
        return sorted(i["metadata"]["name"] for i in cluster.kubectl_json("get", kind)["items"])

    deployments = cluster.kubectl_json("get", "deployments")["items"]
    services = cluster.kubectl_json("get", "services")["items"]
    return {
        "deployments": sorted(
            (d["metadata"]["name"], d["metadata"]["uid"], d["metadata"]["generation"])
            for d in deployments
        ),
        "services": sorted(
            (s["metadata"]["name"], s["spec"]["clusterIP"], json.dumps(s["spec"]["ports"]))
            for s in services
        ),
        "replicasets": names("replicasets"),
        "pods": names("pods"),
        "configmaps": names("configmaps"),
        "secrets": names("secrets"),
    }


def checkout_trace(zipkin: str) -> list[dict[str, Any]] | None:
    params = {"serviceName": "frontend", "limit": "20"}
    for spans in httpx.get(f"{zipkin}/api/v2/traces", params=params, timeout=10).json():
        servers = {
            s.get("localEndpoint", {}).get("serviceName")
            for s in spans
            if s.get("kind") == "SERVER"
        }
        if servers >= SERVICES:
            return list(spans)
    return None


def test_demo_deploys_the_shop_idempotently_until_down(demo_cluster: Cluster) -> None:
    cluster = demo_cluster
    first = cluster.kubelite("demo", "--port", "0", timeout=600)
    assert "kubelite is up" in first.stdout  # no cluster ran there: the demo started one
    frontend = printed_url(first.stdout, "frontend")
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/checkout", frontend)
    for label in ("dashboard", "traces", "zipkin"):
        httpx.get(printed_url(first.stdout, label), timeout=10).raise_for_status()
    assert f"export KUBECONFIG={cluster.kubeconfig}" in first.stdout

    # the URL it printed answers, through frontend -> orders -> payments
    reply = httpx.get(frontend, timeout=10)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["service"] == "frontend"
    assert body["orders"]["service"] == "orders"
    payments = body["orders"]["payments"]
    assert payments["service"] == "payments" and payments["charged"] is True

    # the collector holds a checkout trace with a server span from each service
    status = json.loads(cluster.kubelite("status", "-o", "json").stdout)
    spans = wait_for(lambda: checkout_trace(status["zipkin"]), "the checkout trace")
    assert len({s["traceId"] for s in spans}) == 1
    assert {s["localEndpoint"]["serviceName"] for s in spans} == SERVICES

    # a second demo uses the running cluster and changes nothing
    before = shop_snapshot(cluster)
    assert [d[0] for d in before["deployments"]] == ["frontend", "orders", "payments"]
    assert len(before["pods"]) == 3
    again = cluster.kubelite("demo", "--port", "0", timeout=600)
    assert "kubelite is up" not in again.stdout
    assert f"using the cluster running in {cluster.data_dir}" in again.stderr
    assert printed_url(again.stdout, "frontend") == frontend
    assert shop_snapshot(cluster) == before

    # `kubelite down` stops the cluster and the shop with it
    down = cluster.kubelite("down", timeout=120)
    assert "kubelite stopped" in down.stdout
    gone = cluster.kubelite("status", "-o", "json", check=False)
    assert gone.returncode == 1 and json.loads(gone.stdout)["running"] is False

    def frontend_gone() -> bool:
        try:
            httpx.get(frontend, timeout=2)
        except httpx.HTTPError:
            return True
        return False

    wait_for(frontend_gone, "the frontend to stop answering", timeout=30)
