"""kubelite.mesh against a real `kubelite up`: discovery, policies, config, tracing.

Backends run as local processes on 127.0.0.x ports (the sample services in
`examples/`); the test publishes them by creating selector-less Services and
EndpointSlices itself, as an endpoints controller would. Waits poll for a
state with a generous limit; nothing asserts on elapsed time.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kubelite import mesh
from kubelite.mesh.breaker import CircuitBreakerConfig
from kubelite.mesh.discovery import Discovery, ServiceNotFoundError
from kubelite.mesh.errors import CircuitOpenError, NoEndpointsError
from kubelite.mesh.kube import connect

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Callable[[], Any], what: str, limit: float = 20.0) -> Any:
    end = time.monotonic() + limit
    while time.monotonic() < end:
        result = predicate()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


class Backend:
    """One sample service process listening on ip:port."""

    def __init__(
        self, script: Path, ip: str, env: dict[str, str], name: str, port: int | None = None
    ) -> None:
        self.ip, self.port, self.name = ip, port or free_port(ip), name
        full_env = dict(env, POD_IP=ip, PORT=str(self.port), POD_NAME=name, PYTHONUNBUFFERED="1")
        self.log = open(Path(env.get("MESH_LOG_DIR", "/tmp")) / f"{name}.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, str(script)], env=full_env, stdout=self.log, stderr=subprocess.STDOUT
        )
        wait_for(self.ready, f"{name} to listen on {ip}:{self.port}")

    def ready(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"{self.name} exited: {Path(self.log.name).read_text()[-2000:]}")
        try:
            return httpx.get(f"http://{self.ip}:{self.port}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[list[Backend]]:
    started: list[Backend] = []
    yield started
    for backend in started:
        backend.stop()


def base_env(cluster: Any, namespace: str, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "POD_"))}
    env.update(KUBECONFIG=str(cluster.kubeconfig), POD_NAMESPACE=namespace,
               MESH_LOG_DIR=str(tmp_path), KUBELITE_DRAIN_DELAY="0")  # fmt: skip
    return env


def publish(cluster: Any, namespace: str, service: str, backends: list[Backend]) -> None:
    """A selector-less Service and one EndpointSlice listing the backends as ready."""
    port = backends[0].port if backends else 8080
    docs = [
        {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": service, "namespace": namespace},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": port}]},
        },
        {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": f"{service}-manual", "namespace": namespace,
                         "labels": {"kubernetes.io/service-name": service}},
            "addressType": "IPv4",
            "ports": [{"name": "http", "port": port, "protocol": "TCP"}],
            "endpoints": [
                {"addresses": [b.ip], "conditions": {"ready": True},
                 "targetRef": {"kind": "Pod", "name": b.name, "namespace": namespace}}
                for b in backends
            ],
        },
    ]  # fmt: skip
    for doc in docs:
        cluster.kubectl("apply", "-f", "-", input=json.dumps(doc))


def discovery_for(cluster: Any) -> Discovery:
    return Discovery(connect(cluster.kubeconfig))


def pods_answering(make_client: Callable[[], httpx.AsyncClient], n: int) -> Counter[str]:
    async def main() -> Counter[str]:
        seen: Counter[str] = Counter()
        async with make_client() as client:  # a client's connections belong to one loop
            for _ in range(n):
                seen[(await client.get("/")).json()["pod"]] += 1
        return seen

    return asyncio.run(main())


def test_discovery_follows_scale_up_and_down(
    cluster: Any, namespace: str, procs: list[Backend], tmp_path: Path
) -> None:
    env = base_env(cluster, namespace, tmp_path)
    port = free_port("127.0.0.1")  # pods of a Service share the target port
    procs += [Backend(EXAMPLES / "echo.py", f"127.0.0.{i}", env, f"echo-{i}", port) for i in (2, 3)]
    publish(cluster, namespace, "echo", procs[:1])
    disc = discovery_for(cluster)

    def client() -> httpx.AsyncClient:
        return mesh.http("echo", namespace=namespace, discovery=disc, tracing=False)

    # port "http" by name on the slice; the Service port 80 maps to it too
    assert pods_answering(client, 4) == {"echo-2": 4}

    publish(cluster, namespace, "echo", procs)  # scale up
    eset = disc.endpoint_set("echo", namespace)
    wait_for(lambda: len(eset.ready()) == 2, "the second endpoint")
    assert pods_answering(client, 4) == {"echo-2": 2, "echo-3": 2}  # round robin

    publish(cluster, namespace, "echo", procs[1:])  # scale down
    wait_for(lambda: len(eset.ready()) == 1, "the first endpoint to leave")
    assert pods_answering(client, 3) == {"echo-3": 3}
    disc.close()


def test_unknown_service_and_no_endpoints_fail_fast(cluster: Any, namespace: str) -> None:
    disc = discovery_for(cluster)
    missing = mesh.http("nope", namespace=namespace, discovery=disc, tracing=False)
    with pytest.raises(ServiceNotFoundError, match=f'"nope" not found in namespace "{namespace}"'):
        asyncio.run(missing.get("/"))
    publish(cluster, namespace, "empty", [])
    empty = mesh.http("empty", namespace=namespace, discovery=disc, tracing=False)
    with pytest.raises(NoEndpointsError, match=f'"empty" in namespace "{namespace}"'):
        asyncio.run(empty.get("/"))
    disc.close()


def test_breaker_opens_on_injected_failures(
    cluster: Any, namespace: str, procs: list[Backend], tmp_path: Path
) -> None:
    procs.append(
        Backend(EXAMPLES / "echo.py", "127.0.0.4", base_env(cluster, namespace, tmp_path), "echo-4")
    )
    publish(cluster, namespace, "flaky", procs)
    breaker = CircuitBreakerConfig(sliding_window_size=5, minimum_number_of_calls=5)
    policy = mesh.CallPolicy(breaker=breaker, retry=None, outlier=None)
    client = mesh.http("flaky", namespace=namespace, policy=policy,
                       discovery=discovery_for(cluster), tracing=False)  # fmt: skip

    async def main() -> int:
        for calls in range(1, 20):
            try:
                await client.get("/status/500")
            except CircuitOpenError:
                return calls
        return -1

    assert asyncio.run(main()) == 6  # five failures fill the window; the sixth is refused


def test_deadline_propagates_across_two_hops(
    cluster: Any, namespace: str, procs: list[Backend], tmp_path: Path
) -> None:
    env = base_env(cluster, namespace, tmp_path)
    payments = Backend(EXAMPLES / "shop" / "payments.py", "127.0.0.5", env, "payments-0")
    procs.append(payments)
    publish(cluster, namespace, "payments", [payments])
    orders = Backend(EXAMPLES / "shop" / "orders.py", "127.0.0.6", env, "orders-0")
    procs.append(orders)
    reply = httpx.get(f"http://{orders.ip}:{orders.port}/orders",
                      headers={"x-kubelite-deadline-ms": "5000"}, timeout=10)  # fmt: skip
    assert reply.status_code == 200
    left = reply.json()["payments"]["deadline_ms"]
    assert 0 < left <= 5000  # payments saw what orders had left, never more


def test_config_hot_reload_and_refusal(cluster: Any, namespace: str) -> None:
    import pydantic

    class Settings(pydantic.BaseModel):
        greeting: str
        workers: int = 1

    def apply(data: dict[str, str]) -> None:
        doc = {"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "app-config", "namespace": namespace}, "data": data}  # fmt: skip
        cluster.kubectl("apply", "-f", "-", input=json.dumps(doc))

    apply({"greeting": "hello", "workers": "2"})
    config = mesh.Config("app-config", model=Settings, namespace=namespace,
                         access=connect(cluster.kubeconfig))  # fmt: skip
    seen: list[int] = []
    config.on_change(lambda new, old: seen.append(new.workers))
    assert config.value.workers == 2
    apply({"greeting": "hello", "workers": "3"})
    wait_for(lambda: config.value.workers == 3, "the change to arrive")
    apply({"greeting": "hello", "workers": "lots"})
    wait_for(lambda: config.refusals == 1, "the refusal")
    assert config.value.workers == 3

    def refused_event() -> bool:
        events = cluster.kubectl_json("get", "events", "-n", namespace)["items"]
        return any(e["reason"] == "InvalidConfig" and e["involvedObject"]["name"] == "app-config"
                   for e in events)  # fmt: skip

    wait_for(refused_event, "the InvalidConfig Event")
    assert seen[-1] == 3
    config.close()


def test_three_hop_trace_nests_in_the_collector(
    cluster: Any, namespace: str, procs: list[Backend], tmp_path: Path
) -> None:
    zipkin = cluster.status["zipkin"]
    env = base_env(cluster, namespace, tmp_path)
    env["OTEL_EXPORTER_ZIPKIN_ENDPOINT"] = f"{zipkin}/api/v2/spans"
    env["OTEL_BSP_SCHEDULE_DELAY"] = "100"
    hops = []
    for i, service in enumerate(("payments", "orders", "frontend")):
        hop_env = dict(env, OTEL_SERVICE_NAME=f"{service}-{namespace}")
        backend = Backend(
            EXAMPLES / "shop" / f"{service}.py", f"127.0.0.{7 + i}", hop_env, f"{service}-0"
        )
        procs.append(backend)
        publish(cluster, namespace, service, [backend])
        hops.append(backend)
    front = hops[-1]
    reply = httpx.get(f"http://{front.ip}:{front.port}/checkout", timeout=10)
    assert reply.status_code == 200, reply.text

    def find_trace() -> list[dict[str, Any]] | None:
        traces = httpx.get(f"{zipkin}/api/v2/traces",
                           params={"serviceName": f"frontend-{namespace}", "limit": 5}).json()  # fmt: skip
        wanted = {f"{name}-{namespace}" for name in ("frontend", "orders", "payments")}
        for spans in traces:
            # each service exports on its own schedule: wait for every server span
            servers = {
                s.get("localEndpoint", {}).get("serviceName")
                for s in spans
                if s.get("kind") == "SERVER"
            }
            if wanted <= servers and len(spans) >= 5:
                return spans
        return None

    spans = wait_for(find_trace, "the three-hop trace in the collector")
    assert len({s["traceId"] for s in spans}) == 1
    by_id = {s["id"]: s for s in spans}

    def service(span: dict[str, Any]) -> str:
        return span["localEndpoint"]["serviceName"].removesuffix(f"-{namespace}")

    servers = {service(s): s for s in spans if s.get("kind") == "SERVER"}
    assert set(servers) == {"frontend", "orders", "payments"}
    assert "parentId" not in servers["frontend"]  # the root
    for child, parent in (("orders", "frontend"), ("payments", "orders")):
        client_span = by_id[servers[child]["parentId"]]  # server's parent: the caller's client span
        assert client_span["kind"] == "CLIENT" and service(client_span) == parent
        # the client span sits inside the caller's server span (maybe via ASGI inner spans)
        ancestor = client_span
        while ancestor.get("parentId") and ancestor["id"] != servers[parent]["id"]:
            ancestor = by_id[ancestor["parentId"]]
        assert ancestor["id"] == servers[parent]["id"]
