"""kubelite.mesh against a real `kubelite up`: discovery, policies, config, tracing.

Backends run as local processes on 127.0.0.x ports (the sample services in
`examples/`); the test publishes them by creating selector-less Services and
EndpointSlices itself, as an endpoints controller would. Waits poll for a
state with a generous limit; nothing asserts on elapsed time.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
PY = "{}.{}".format(*sys.version_info[:2])
ECHO_IMAGE = "mesh-echo:e2e"


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


def publish(cluster: Any, namespace: str, service: str, backends: list[Any]) -> None:
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


def test_an_external_name_service_is_followed_as_a_cname(
    cluster: Any, namespace: str, procs: list[Backend], tmp_path: Path
) -> None:
    env = base_env(cluster, namespace, tmp_path)
    procs.append(Backend(EXAMPLES / "echo.py", "127.0.0.1", env, "outside"))
    procs.append(Backend(EXAMPLES / "echo.py", "127.0.0.5", env, "inside"))
    publish(cluster, namespace, "inside", procs[1:])
    for name, target in (
        ("legacy", "localhost"),
        ("alias", f"inside.{namespace}.svc.cluster.local"),
    ):
        service = {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"type": "ExternalName", "externalName": target},
        }  # fmt: skip
        cluster.kubectl("apply", "-f", "-", input=json.dumps(service))
    disc = discovery_for(cluster)

    async def main() -> tuple[Any, Any]:
        async with mesh.http("legacy", namespace=namespace, discovery=disc, tracing=False) as c:
            outside = (await c.get(f"http://legacy:{procs[0].port}/")).json()
        async with mesh.http("alias", namespace=namespace, discovery=disc, tracing=False) as c:
            inside = (await c.get("/")).json()  # through the mesh: the Service's port 80
        return outside, inside

    outside, inside = asyncio.run(main())
    assert outside["pod"] == "outside" and inside["pod"] == "inside"
    disc.close()


def test_each_balancer_spreads_calls_as_it_should(
    cluster: Any, namespace: str, procs: list[Backend], tmp_path: Path
) -> None:
    env = base_env(cluster, namespace, tmp_path)
    port = free_port("127.0.0.1")
    procs += [
        Backend(EXAMPLES / "echo.py", f"127.0.0.{i}", env, f"lb-{i}", port) for i in (11, 12, 13)
    ]
    publish(cluster, namespace, "lb", procs)
    disc = discovery_for(cluster)

    def pods(balancer: str, keys: list[str]) -> list[tuple[str, str]]:
        policy = mesh.CallPolicy(balancer=balancer, hash_header="x-user", retry=None)

        async def main() -> list[tuple[str, str]]:
            async with mesh.http("lb", namespace=namespace, discovery=disc, policy=policy,
                                 tracing=False) as client:  # fmt: skip
                return [
                    (key, (await client.get("/", headers={"x-user": key})).json()["pod"])
                    for key in keys
                ]

        return asyncio.run(main())

    every = {"lb-11", "lb-12", "lb-13"}
    assert Counter(p for _, p in pods("round_robin", ["k"] * 30)) == {p: 10 for p in every}
    for balancer in ("random", "least_request"):  # P(a pod below 10 of 90) ~ 1e-6
        spread = Counter(p for _, p in pods(balancer, ["k"] * 90))
        assert set(spread) == every and min(spread.values()) >= 10, (balancer, spread)
    sticky = pods("ring_hash", [f"user-{i % 3}" for i in range(30)])
    assert all(len({p for k, p in sticky if k == key}) == 1 for key in {k for k, _ in sticky})
    many = Counter(p for _, p in pods("ring_hash", [f"user-{i}" for i in range(60)]))
    assert set(many) == every, many  # distinct keys land on every pod
    disc.close()


def test_retry_budget_caps_amplification_end_to_end(
    cluster: Any, namespace: str, procs: list[Backend], tmp_path: Path
) -> None:
    env = base_env(cluster, namespace, tmp_path)
    procs.append(Backend(EXAMPLES / "echo.py", "127.0.0.14", env, "overloaded-0"))
    publish(cluster, namespace, "overloaded", procs)
    retry = mesh.RetryPolicy(max_attempts=5, base=0.001, cap=0.002)  # up to 4 retries a call
    policy = mesh.CallPolicy(retry=retry, retry_budget_ratio=0.2, retry_budget_min_per_s=0,
                             breaker=None, outlier=None)  # fmt: skip

    disc = discovery_for(cluster)

    async def main() -> list[int]:
        async with mesh.http("overloaded", namespace=namespace, discovery=disc,
                             policy=policy, tracing=False) as client:  # fmt: skip
            return [(await client.get("/status/503")).status_code for _ in range(50)]

    assert asyncio.run(main()) == [503] * 50
    disc.close()
    served = httpx.get(f"http://{procs[0].ip}:{procs[0].port}/stats").json()["served"]
    # without the budget 50 calls would make 250 tries; the budget allows 20 % more
    assert 50 < served <= 60, served


def test_grpc_channel_balances_and_follows_discovery(cluster: Any, namespace: str) -> None:
    import grpc

    from kubelite.mesh.balancers import Endpoint

    @dataclass
    class GrpcBackend:
        ip: str
        port: int
        name: str
        server: Any = None

    async def main() -> tuple[Counter[str], Counter[str]]:
        port = free_port("127.0.0.21")
        backends = [GrpcBackend(f"127.0.0.{i}", port, f"g-{i}") for i in (21, 22)]
        for b in backends:
            reply = b.name.encode()

            async def handle(request: bytes, context: Any, reply: bytes = reply) -> bytes:
                return reply

            b.server = grpc.aio.server()
            b.server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
                "test.Who", {"Am": grpc.unary_unary_rpc_method_handler(handle)}),))  # fmt: skip
            b.server.add_insecure_port(f"{b.ip}:{port}")
            await b.server.start()
        await asyncio.to_thread(publish, cluster, namespace, "who", backends)
        disc = discovery_for(cluster)
        channel = mesh.grpc_channel(f"who:{port}", namespace=namespace, discovery=disc)
        rpc = channel.unary_unary("/test.Who/Am")
        both = Counter([(await rpc(b"", timeout=10)).decode() for _ in range(10)])
        await asyncio.to_thread(publish, cluster, namespace, "who", backends[1:])  # scale down
        eset = disc.endpoint_set("who", namespace, port)
        await asyncio.to_thread(
            wait_for, lambda: eset.ready() == (Endpoint(backends[1].ip, port, name="g-22"),),
            "the scale-down to reach discovery",
        )  # fmt: skip
        one = Counter([(await rpc(b"", timeout=10)).decode() for _ in range(4)])
        await channel.close()
        disc.close()
        for b in backends:
            await b.server.stop(None)
        return both, one

    both, one = asyncio.run(main())
    assert both == {"g-21": 5, "g-22": 5}  # round robin across the slice's endpoints
    assert one == {"g-22": 4}


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
        # peer.service names the callee (mesh.http's host), which Zipkin's remote-service
        # search and the dependency graph read
        assert client_span.get("remoteEndpoint", {}).get("serviceName") == child
        # the client span sits inside the caller's server span (maybe via ASGI inner spans)
        ancestor = client_span
        while ancestor.get("parentId") and ancestor["id"] != servers[parent]["id"]:
            ancestor = by_id[ancestor["parentId"]]
        assert ancestor["id"] == servers[parent]["id"]


# ---- the echo as pods: built with `kubelite build`, run by Deployments -------------


@pytest.fixture(scope="module")
def echo_image(cluster: Any, tmp_path_factory: pytest.TempPathFactory) -> str:
    """examples/echo.py in an image, given this checkout's SDK as `kubelite demo` does."""
    from kubelite.cli.demo import sdk_path

    ctx = tmp_path_factory.mktemp("echo-image")
    shutil.copy(EXAMPLES / "echo.py", ctx / "echo.py")
    (ctx / "Dockerfile").write_text(
        f"FROM python:{PY}\nENV PYTHONPATH={':'.join(sdk_path())}\nWORKDIR /app\n"
        "COPY echo.py /app/\nENV PYTHONUNBUFFERED=1 PORT=8080\nEXPOSE 8080\n"
        'CMD ["python", "/app/echo.py"]\n'
    )
    code = (
        "import sys; from pathlib import Path; from kubelite.cli.build_cmd import build; "
        "build(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), quiet=True)"
    )
    subprocess.run(
        [sys.executable, "-c", code, ECHO_IMAGE, str(ctx), str(cluster.data_dir)],
        check=True,
        timeout=120,
    )
    return ECHO_IMAGE


def echo_container(image: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "echo", "image": image, "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 1},
        **extra,
    }  # fmt: skip


def deploy_echo(cluster: Any, namespace: str, name: str, image: str, replicas: int) -> None:
    """A Deployment of the echo and a ClusterIP Service selecting it."""
    docs = [
        {
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"terminationGracePeriodSeconds": 20,
                             "containers": [echo_container(image)]},
                },
            },
        },
        {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"selector": {"app": name},
                     "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
        },
    ]  # fmt: skip
    for doc in docs:
        cluster.kubectl("apply", "-f", "-", input=json.dumps(doc))
    rollout(cluster, namespace, name)


def rollout(cluster: Any, namespace: str, name: str) -> None:
    cluster.kubectl("rollout", "status", "-n", namespace, f"deployment/{name}",
                    "--timeout=180s", timeout=210)  # fmt: skip


def live_pods(cluster: Any, namespace: str, app: str) -> set[str]:
    pods = cluster.kubectl_json("get", "pods", "-n", namespace, "-l", f"app={app}")["items"]
    return {p["metadata"]["name"] for p in pods if not p["metadata"].get("deletionTimestamp")}


def all_pods(cluster: Any, namespace: str, app: str) -> set[str]:
    pods = cluster.kubectl_json("get", "pods", "-n", namespace, "-l", f"app={app}")["items"]
    return {p["metadata"]["name"] for p in pods}


class RequestStream:
    """Clients sending GET / through the mesh without pause, on a thread of their own."""

    def __init__(self, make_client: Callable[[], httpx.AsyncClient], workers: int = 6) -> None:
        self.served: Counter[str] = Counter()
        self.failures: list[str] = []
        self._make_client = make_client
        self._workers = workers
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def __enter__(self) -> RequestStream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)

    @property
    def total(self) -> int:
        return sum(self.served.values())

    async def _main(self) -> None:
        async with self._make_client() as client:
            await asyncio.gather(*(self._worker(client) for _ in range(self._workers)))

    async def _worker(self, client: httpx.AsyncClient) -> None:
        while not self._stop.is_set():
            try:
                # slow answers: SIGTERM finds requests in flight on the old pods
                reply = await client.get("/", params={"sleep_ms": "200"})
            except Exception as exc:  # every failure is a finding
                self.failures.append(f"{type(exc).__name__}: {exc}")
                continue
            if reply.status_code == 200:
                self.served[reply.json()["pod"]] += 1
            else:
                self.failures.append(f"HTTP {reply.status_code}: {reply.text[:200]}")


def test_graceful_drain_during_a_rollout_drops_nothing(
    cluster: Any, namespace: str, echo_image: str
) -> None:
    deploy_echo(cluster, namespace, "echo", echo_image, replicas=3)
    old = live_pods(cluster, namespace, "echo")
    disc = discovery_for(cluster)

    def client() -> httpx.AsyncClient:
        return mesh.http("echo", namespace=namespace, discovery=disc, tracing=False, timeout=10)

    with RequestStream(client) as stream:
        wait_for(lambda: len(stream.served) == 3, "every old pod to answer", limit=60)
        cluster.kubectl("rollout", "restart", "-n", namespace, "deployment/echo")
        rollout(cluster, namespace, "echo")
        new = live_pods(cluster, namespace, "echo")
        # keep calling until the old pods have drained and exited
        try:
            wait_for(lambda: all_pods(cluster, namespace, "echo") == new, "old pods", limit=120)
        except AssertionError:
            pods = cluster.kubectl("get", "pods", "-n", namespace, "-o", "wide").stdout
            message = f"old pods still there:\n{pods}\nfailures: {stream.failures[:5]}"
            raise AssertionError(message) from None
        before = stream.total
        wait_for(lambda: stream.total > before + 20, "requests after the rollout", limit=60)
    disc.close()
    assert stream.failures == []
    assert old.isdisjoint(new) and len(new) == 3
    assert set(stream.served) & old and set(stream.served) & new, stream.served
    assert set(stream.served) <= old | new


RESILIENCY = """\
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata: {name: caller}
spec:
  policies:
    retries:
      never: {policy: constant, duration: 10ms, maxRetries: 0}
    circuitBreakers:
      fast: {maxRequests: 1, timeout: 3s, trip: consecutiveFailures >= 5}
  targets:
    apps:
      down: {retry: never, circuitBreaker: fast}
"""


def test_breaker_state_changes_are_events_on_the_caller_pod(
    cluster: Any, namespace: str, echo_image: str
) -> None:
    deploy_echo(cluster, namespace, "down", echo_image, replicas=1)
    (down_pod,) = live_pods(cluster, namespace, "down")
    config = {"apiVersion": "v1", "kind": "ConfigMap",
              "metadata": {"name": "caller-resiliency", "namespace": namespace},
              "data": {"resiliency.yaml": RESILIENCY}}  # fmt: skip
    secret = {"apiVersion": "v1", "kind": "Secret",
              "metadata": {"name": "api-access", "namespace": namespace},
              "data": {"kubeconfig": base64.b64encode(cluster.kubeconfig.read_bytes()).decode()}}  # fmt: skip
    env = [{"name": "KUBECONFIG", "value": "/etc/kubelite/kubeconfig"},
           {"name": "MESH_RESILIENCY", "value": "caller-resiliency"}]  # fmt: skip
    mounts = [{"name": "api-access", "mountPath": "/etc/kubelite", "readOnly": True}]
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "caller", "namespace": namespace},
           "spec": {"containers": [echo_container(echo_image, env=env, volumeMounts=mounts)],
                    "volumes": [{"name": "api-access", "secret": {"secretName": "api-access"}}]}}  # fmt: skip
    for doc in (config, secret, pod):
        cluster.kubectl("apply", "-f", "-", input=json.dumps(doc))
    cluster.kubectl("wait", "-n", namespace, "--for=condition=Ready", "pod/caller",
                    "--timeout=120s", timeout=150)  # fmt: skip

    def base(name: str) -> str:
        ip = cluster.kubectl_json("get", "pod", name, "-n", namespace)["status"]["podIP"]
        return f"http://{ip}:8080"

    caller, down = base("caller"), base(down_pod)

    def call(path: str) -> dict[str, Any]:
        reply = httpx.get(f"{caller}/call/down/{path}", timeout=30)
        return {"code": reply.status_code, **reply.json()}

    outcomes = [call("status/500") for _ in range(6)]
    assert [o.get("error") for o in outcomes] == [None] * 5 + ["CircuitOpenError"], outcomes
    assert [o["code"] for o in outcomes[:5]] == [500] * 5

    # while open, calls fail fast with the typed error and never reach the downstream
    served = httpx.get(f"{down}/stats", timeout=10).json()["served"]
    costs = []
    for _ in range(20):
        start = time.perf_counter()
        assert call("status/500")["error"] == "CircuitOpenError"
        costs.append(time.perf_counter() - start)
    assert httpx.get(f"{down}/stats", timeout=10).json()["served"] == served
    costs.sort()
    print(f"caller round trip while open: p50 {costs[10] * 1000:.1f} ms, "
          f"max {costs[-1] * 1000:.1f} ms")  # fmt: skip

    def caller_events() -> dict[str, dict[str, Any]]:
        items = cluster.kubectl_json("get", "events", "-n", namespace,
                                     "--field-selector", "involvedObject.name=caller")["items"]  # fmt: skip
        return {e["reason"]: e for e in items if e["reason"].startswith("CircuitBreaker")}

    opened = wait_for(lambda: caller_events().get("CircuitBreakerOpened"), "the opened event")
    assert opened["type"] == "Warning"
    assert opened["message"] == (
        f"circuit breaker {namespace}/down: closed -> open (after 5 consecutive failures)"
    )
    assert opened["involvedObject"]["kind"] == "Pod"

    # recovery: after the open timeout one trial call succeeds and the breaker closes
    wait_for(lambda: call("").get("code") == 200, "a call to go through again", limit=30)
    events = wait_for(
        lambda: (
            (e := caller_events())
            and {"CircuitBreakerHalfOpen", "CircuitBreakerClosed"} <= set(e)
            and e
        ),
        "the half-open and closed events",
    )
    half_open, closed = events["CircuitBreakerHalfOpen"], events["CircuitBreakerClosed"]
    assert half_open["type"] == closed["type"] == "Normal"
    assert half_open["message"] == (
        f"circuit breaker {namespace}/down: open -> half_open (after 3s open, allowing 1 trial call)"
    )
    assert closed["message"] == (
        f"circuit breaker {namespace}/down: half_open -> closed (after 1 successful trial call)"
    )
    cluster.kubectl("delete", "pod", "caller", "-n", namespace, "--wait=false")
