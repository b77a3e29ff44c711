"""API server benchmark: creates, list, watch fan-out, start-up time, idle memory.

Runs a real `kubelite up` in a temp dir and a bare Starlette/uvicorn endpoint
(same TLS, same client) as the HTTP-stack floor, in the same run. Prints one
JSON object on its last line.

    python benchmarks/apiserver.py [--objects 10000] [--clients 16] [--watchers 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _http import Conn  # noqa: E402

FLOOR_APP = """
import sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

async def create(request):
    body = await request.body()
    return Response(body, status_code=201, media_type="application/json")

app = Starlette(routes=[Route("/floor", create, methods=["POST"])])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning",
            http="httptools", loop="uvloop", ssl_certfile=sys.argv[2], ssl_keyfile=sys.argv[3])
"""


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start_cluster(data: Path) -> tuple[subprocess.Popen, dict, float]:
    """Spawn `kubelite up` and time it until /readyz answers ok (interpreter start included)."""
    import ssl
    import urllib.request

    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kubelite", "up", "--port", "0", "--data-dir", str(data)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ, KUBELITE_DETACHED="1"),
    )
    state = data / "kubelite.json"
    while not state.exists():
        if proc.poll() is not None:
            raise RuntimeError("kubelite exited during start-up")
        time.sleep(0.001)
    status = json.loads(state.read_text())
    ctx = ssl.create_default_context(cafile=str(data / "tls" / "ca.crt"))
    while True:
        try:
            with urllib.request.urlopen(status["api"] + "/readyz", context=ctx) as resp:
                if resp.read() == b"ok":
                    break
        except OSError:
            time.sleep(0.001)
    return proc, status, (time.perf_counter() - t0) * 1000


async def run_creates(
    url: str, token: str | None, ca: str, path: str, n: int, clients: int, body_of
) -> tuple[float, list[float]]:
    conns = [await Conn(url, token=token, ca=ca).open() for _ in range(clients)]
    latencies: list[float] = []
    counter = iter(range(n))

    async def worker(conn: Conn) -> None:
        for i in counter:
            body = body_of(i)
            t = time.perf_counter()
            status, _ = await conn.request("POST", path, body)
            latencies.append((time.perf_counter() - t) * 1000)
            if status not in (200, 201):
                raise RuntimeError(f"create failed: {status}")

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.perf_counter() - t0
    for c in conns:
        c.close()
    return n / elapsed, latencies


async def run_list(url: str, token: str, ca: str, path: str) -> float:
    conn = await Conn(url, token=token, ca=ca).open()
    times = []
    for _ in range(5):
        t = time.perf_counter()
        status, body = await conn.request("GET", path)
        times.append((time.perf_counter() - t) * 1000)
        assert status == 200 and body
    conn.close()
    return statistics.median(times)


async def run_watch_fanout(
    url: str, token: str, ca: str, ns: str, watchers: int, writes: int
) -> float:
    writer = await Conn(url, token=token, ca=ca).open()
    status, body = await writer.request(
        "POST",
        f"/api/v1/namespaces/{ns}/configmaps",
        json.dumps({"metadata": {"name": "fanout"}, "data": {"i": "0"}}).encode(),
    )
    rv = json.loads(body)["metadata"]["resourceVersion"]
    conns = [await Conn(url, token=token, ca=ca).open() for _ in range(watchers)]
    for c in conns:
        await c.start_stream(
            f"/api/v1/namespaces/{ns}/configmaps?watch=1&resourceVersion={rv}&fieldSelector=metadata.name%3Dfanout"
        )
    sent: dict[str, float] = {}
    latencies: list[float] = []

    async def reader(conn: Conn) -> None:
        for _ in range(writes):
            line = await conn.next_line()
            now = time.perf_counter()
            value = json.loads(line)["object"]["data"]["i"]
            latencies.append((now - sent[value]) * 1000)

    tasks = [asyncio.create_task(reader(c)) for c in conns]
    await asyncio.sleep(0.2)
    for i in range(1, writes + 1):
        sent[str(i)] = time.perf_counter()
        status, _ = await writer.request(
            "PATCH",
            f"/api/v1/namespaces/{ns}/configmaps/fanout",
            json.dumps({"data": {"i": str(i)}}).encode(),
            "application/merge-patch+json",
        )
        await asyncio.sleep(0.02)
    await asyncio.wait_for(asyncio.gather(*tasks), 60)
    for c in conns:
        c.close()
    writer.close()
    return pct(latencies, 99)


def floor(tls: Path, n: int, clients: int) -> float:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            FLOOR_APP,
            str(port),
            str(tls / "server.crt"),
            str(tls / "server.key"),
        ],
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"https://127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        body = json.dumps({"metadata": {"name": "x"}, "data": {"k": "v"}}).encode()
        rps, _ = asyncio.run(
            run_creates(url, None, str(tls / "ca.crt"), "/floor", n, clients, lambda i: body)
        )
        return rps
    finally:
        proc.terminate()
        proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--watchers", type=int, default=100)
    parser.add_argument("--writes", type=int, default=50)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kubelite-bench-") as tmp:
        data = Path(tmp) / "data"
        proc, status, startup_ms = start_cluster(data)
        pid = status["pid"]
        time.sleep(2.0)
        idle = rss_mb(pid)
        url, token, ca = (
            status["api"],
            (data / "token").read_text().strip(),
            str(data / "tls" / "ca.crt"),
        )
        try:
            ns = "bench"

            async def setup() -> None:
                c = await Conn(url, token=token, ca=ca).open()
                await c.request(
                    "POST", "/api/v1/namespaces", json.dumps({"metadata": {"name": ns}}).encode()
                )
                c.close()

            asyncio.run(setup())
            path = f"/api/v1/namespaces/{ns}/configmaps"

            def cm(i: int) -> bytes:
                return json.dumps(
                    {"metadata": {"name": f"cm-{i:05d}"}, "data": {"k": "v" * 32}}
                ).encode()

            rate, lats = asyncio.run(
                run_creates(url, token, ca, path, args.objects, args.clients, cm)
            )
            list_ms = asyncio.run(run_list(url, token, ca, path))
            fanout = asyncio.run(run_watch_fanout(url, token, ca, ns, args.watchers, args.writes))
            loaded = rss_mb(pid)
        finally:
            proc.terminate()
            proc.wait(30)
        floor_rps = floor(data / "tls", args.objects, args.clients)

    result = {
        "benchmark": "apiserver",
        "machine": f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        "objects": args.objects,
        "clients": args.clients,
        "creates_per_s": round(rate, 1),
        "create_p50_ms": round(pct(lats, 50), 2),
        "create_p99_ms": round(pct(lats, 99), 2),
        "list_10k_ms": round(list_ms, 1),
        "watch_fanout_p99_ms": round(fanout, 2),
        "startup_ms": round(startup_ms, 1),
        "startup_in_process_ms": status.get("startupMs"),
        "idle_rss_mb": round(idle, 1),
        "loaded_rss_mb": round(loaded, 1),
        "floor_requests_per_s": round(floor_rps, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
