"""The cluster pages over an in-process API: what they show and what they never show."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from dash_builders import add_pod, crashing_status, make_event, make_node, make_pod, running_status

from kubelite.apiserver.client import LocalClient
from kubelite.dashboard import Context, create_app

pytestmark = pytest.mark.anyio


def _deployment(name: str, replicas: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": "default",
            "annotations": {"deployment.kubernetes.io/revision": "4"},
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": f"{name}:v2"}]},
            },
        },
    }


async def test_overview_shows_nodes_pods_and_warnings(
    http: httpx.AsyncClient, client: LocalClient
) -> None:
    await client.create(make_node("node-1"))
    await client.create(make_node("node-2", ready=False))
    await add_pod(client, make_pod("web-1"), running_status("app"))
    crashing = await add_pod(client, make_pod("worker-1"), crashing_status())
    await client.create(make_event(crashing, reason="BackOff", message="Back-off restarting failed container",
                                   type_="Warning"))  # fmt: skip
    page = (await http.get("/")).text
    assert "nodes ready" in page and "1/2" in page
    assert "node-1" in page and "NotReady" in page and "7 / 8" in page
    assert 'href="/pods/default/worker-1"' in page and "CrashLoopBackOff" in page
    assert "Back-off restarting failed container" in page
    assert "kube-system" in page  # the namespace list


async def test_pod_list_uses_kubectl_status_and_filters(
    http: httpx.AsyncClient, client: LocalClient
) -> None:
    await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}})
    await add_pod(client, make_pod("web-1"), running_status("app", restarts=0))
    await add_pod(
        client, make_pod("cart-1", namespace="shop", labels={"app": "cart"}), crashing_status()
    )
    everything = (await http.get("/pods")).text
    assert "web-1" in everything and "cart-1" in everything and "CrashLoopBackOff" in everything
    shop = (await http.get("/pods", params={"ns": "shop"})).text
    assert "cart-1" in shop and "web-1" not in shop
    assert '<option value="shop" selected>' in shop
    selected = (await http.get("/pods", params={"selector": "app=web-1"})).text
    assert "web-1" in selected and "cart-1" not in selected


async def test_bad_selector_is_a_message(http: httpx.AsyncClient) -> None:
    response = await http.get("/pods", params={"selector": "a in ("})
    assert response.status_code == 400
    assert 'class="notice bad"' in response.text and "Traceback" not in response.text


async def test_pod_page_shows_containers_and_its_own_events(
    http: httpx.AsyncClient, client: LocalClient
) -> None:
    pod = await add_pod(
        client, make_pod("api-1", containers=("app", "sidecar")), running_status("app", "sidecar")
    )
    other = await add_pod(client, make_pod("api-2"))
    await client.create(make_event(pod, reason="Pulled", message="image app:1 is present"))
    await client.create(make_event(other, reason="Pulled", message="event of another pod"))
    page = (await http.get("/pods/default/api-1")).text
    assert "sidecar:1" in page and "127.244.0.7" in page
    assert "image app:1 is present" in page and "event of another pod" not in page
    assert 'action="/pods/default/api-1/log"' in page and '<option value="sidecar">' in page


async def test_missing_pod_is_a_short_message(http: httpx.AsyncClient) -> None:
    response = await http.get("/pods/default/nope")
    assert response.status_code == 404
    assert "not found" in response.text and "Traceback" not in response.text


async def test_workloads(http: httpx.AsyncClient, client: LocalClient) -> None:
    dep = await client.create(_deployment("shop"))
    dep["status"] = {
        "replicas": 2, "readyReplicas": 1, "updatedReplicas": 2, "availableReplicas": 1,
        "conditions": [{"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable"}],
    }  # fmt: skip
    await client.update_status(dep)
    page = (await http.get("/workloads")).text
    assert "1/2" in page and "shop:v2" in page and "MinimumReplicasUnavailable" in page
    assert 'href="/pods?ns=default&amp;selector=app%3Dshop"' in page
    assert "<td>4</td>" in page  # the revision


async def test_services_show_endpoints(http: httpx.AsyncClient, client: LocalClient) -> None:
    await client.create({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]},
    })  # fmt: skip
    await client.create({
        "apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "web", "namespace": "default"},
        "subsets": [{"addresses": [{"ip": "127.244.0.9"}], "ports": [{"port": 8080}]}],
    })  # fmt: skip
    page = (await http.get("/services")).text
    assert "80/TCP" in page and "1 ready" in page and "127.244.0.9:8080" in page
    assert "127.96." in page  # the ClusterIP


async def test_secret_values_never_reach_a_page(
    http: httpx.AsyncClient, client: LocalClient
) -> None:
    await client.create({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "default"},
        "data": {"password": "aHVudGVyMg=="}, "stringData": {"token": "t0ps3cret-value"},
    })  # fmt: skip
    await client.create({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "default"},
        "data": {"mode": "<fast>"},
    })  # fmt: skip
    pages = [
        (await http.get(p)).text
        for p in ("/config", "/", "/events", "/configmaps/default/settings")
    ]
    config = pages[0]
    assert "password" in config and "token" in config
    for text in pages:
        assert "aHVudGVyMg" not in text and "hunter2" not in text and "t0ps3cret" not in text
    assert "&lt;fast&gt;" in pages[3]  # ConfigMap values are shown, escaped


async def test_events_page_can_show_only_warnings(
    http: httpx.AsyncClient, client: LocalClient
) -> None:
    pod = await add_pod(client, make_pod("web-1"))
    await client.create(make_event(pod, reason="Started", message="started fine"))
    await client.create(
        make_event(pod, reason="Unhealthy", message="probe failed", type_="Warning")
    )
    everything = (await http.get("/events")).text
    assert "started fine" in everything and "probe failed" in everything
    warnings = (await http.get("/events", params={"type": "Warning"})).text
    assert "started fine" not in warnings and "probe failed" in warnings


async def test_breaker_page(http: httpx.AsyncClient, client: LocalClient) -> None:
    pod = await add_pod(client, make_pod("orders-1", labels={"app": "orders"}))
    await client.create(make_event(pod, reason="CircuitBreakerOpened", type_="Warning",
                                   message="circuit breaker default/payments: closed -> open (5 consecutive failures)"))  # fmt: skip
    page = (await http.get("/breakers")).text
    assert "default/payments" in page and "orders" in page and "5 consecutive failures" in page
    assert "1 breaker(s) open" in page


async def test_fragment_request_returns_only_the_live_part(http: httpx.AsyncClient) -> None:
    response = await http.get("/pods", headers={"X-Dashboard-Fragment": "1"})
    assert response.status_code == 200
    assert "<html" not in response.text and "No pods." in response.text


async def test_user_text_is_escaped(http: httpx.AsyncClient, client: LocalClient) -> None:
    pod = await add_pod(client, make_pod("web-1"))
    await client.create(make_event(pod, reason="Bad", message="<script>alert(1)</script>"))
    page = (await http.get("/events")).text
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page


async def test_unknown_page_and_writes(http: httpx.AsyncClient) -> None:
    missing = await http.get("/no/such/page")
    assert missing.status_code == 404 and "There is no such page." in missing.text
    assert (await http.post("/pods")).status_code == 405


async def test_foreign_host_names_are_refused(http: httpx.AsyncClient) -> None:
    # A page elsewhere that rebinds its name to 127.0.0.1 still sends its own Host.
    response = await http.get("/", headers={"Host": "evil.example:9090"})
    assert response.status_code == 421
    ok = await http.get("/healthz", headers={"Host": "localhost:9090"})
    assert ok.status_code == 200


async def test_security_headers(http: httpx.AsyncClient) -> None:
    response = await http.get("/")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"


class _BrokenClient:
    async def list(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internal detail")


async def test_an_unexpected_failure_is_a_generic_message(context: Context) -> None:
    ctx = Context(client=_BrokenClient(), traces=context.traces)  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=create_app(ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        response = await http.get("/pods")
    assert response.status_code == 500
    assert "could not build this page" in response.text
    assert "secret internal detail" not in response.text and "Traceback" not in response.text


def _template(name: str, restart: str = "Always") -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": name}},
        "spec": {
            "restartPolicy": restart,
            "containers": [{"name": "app", "image": f"{name}:v1"}],
        },
    }


async def test_workloads_show_daemonsets_jobs_and_cronjobs_as_kubectl_prints_them(
    http: httpx.AsyncClient, client: LocalClient
) -> None:
    await client.create({
        "apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "agent", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": _template("agent")},
    })  # fmt: skip
    job = await client.create({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate", "namespace": "default"},
        "spec": {"completions": 3, "template": _template("migrate", "Never")},
    })  # fmt: skip
    job["status"] = {"succeeded": 1, "active": 1}
    await client.update_status(job)
    await client.create({
        "apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly", "namespace": "default"},
        "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": _template("nightly", "Never")}}},
    })  # fmt: skip
    page = (await http.get("/workloads")).text
    assert "DaemonSets" in page and 'href="/pods?ns=default&amp;selector=app%3Dagent"' in page
    assert "migrate" in page and "Running" in page and "1/3" in page  # STATUS, COMPLETIONS
    assert "nightly" in page and "0 3 * * *" in page  # SCHEDULE


async def test_services_page_lists_ingresses(http: httpx.AsyncClient, client: LocalClient) -> None:
    await client.create({
        "apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "shop", "namespace": "default"},
        "spec": {"ingressClassName": "kubelite", "rules": [{"host": "shop.local", "http": {"paths": [
            {"path": "/", "pathType": "Prefix",
             "backend": {"service": {"name": "frontend", "port": {"number": 80}}}}]}}]},
    })  # fmt: skip
    page = (await http.get("/services")).text
    assert "Ingresses" in page and "shop.local" in page and "kubelite" in page
