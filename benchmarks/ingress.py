"""Ingress throughput: requests/s through the built-in ingress controller versus straight to the pod.

Starts a detached cluster (`--port 0`, a temporary data dir), runs one pod
(`python:3.11`, a small asyncio HTTP/1.1 server answering a fixed body on
its pod IP) behind a Service and a host-less Ingress, then measures with the
same keep-alive client (`_http.Conn`, `--connections` concurrent
connections for `--seconds`): direct to the pod, through the ingress
listener, and, when nginx is installed, through nginx as an HTTP reverse
proxy to the same pod (one worker, keep-alive upstream) as the peer; the
targets are taken in turn for `--rounds` rounds after a warm-up of each and
each figure is the median over rounds. All figures include this client's own
CPU, which shares the machine.

    python benchmarks/ingress.py [--seconds 3] [--connections 16] [--rounds 3]

Prints one JSON object on its last line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _http import Conn  # noqa: E402

NGINX_PORT = 18090

SERVER = """
import asyncio, os
BODY = b"ok\\n"
RESP = b"HTTP/1.1 200 OK\\r\\nContent-Length: 3\\r\\nContent-Type: text/plain\\r\\n\\r\\n" + BODY
async def serve(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\\r\\n\\r\\n")
            length = 0
            for line in head.split(b"\\r\\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            writer.write(RESP)
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
async def main():
    server = await asyncio.start_server(serve, os.environ["POD_IP"], 8080, backlog=1024)
    await server.serve_forever()
asyncio.run(main())
"""


def manifests() -> list[dict[str, Any]]:
    labels = {"app": "bench"}
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "bench"},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "terminationGracePeriodSeconds": 1,
                        "containers": [
                            {
                                "name": "app",
                                "image": "python:3.11",
                                "command": ["python", "-c", SERVER],
                                "ports": [{"containerPort": 8080}],
                                "readinessProbe": {
                                    "tcpSocket": {"port": 8080},
                                    "periodSeconds": 1,
                                },
                            }
                        ],
                    },
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "bench"},
            "spec": {"selector": labels, "ports": [{"port": 80, "targetPort": 8080}]},
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": "bench"},
            "spec": {
                "rules": [
                    {
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {
                                        "service": {"name": "bench", "port": {"number": 80}}
                                    },
                                }
                            ]
                        }
                    }
                ]
            },
        },
    ]


class Cluster:
    def __init__(self, root: Path) -> None:
        self.data = root / "data"
        self.env = dict(os.environ, KUBECONFIG=str(self.data / "kubeconfig"), HOME=str(root))

    def kubelite(self, *args: str) -> str:
        cmd = [sys.executable, "-m", "kubelite", *args, "--data-dir", str(self.data)]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, env=self.env).stdout

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        kubectl = shutil.which("kubectl") or "kubectl"
        proc = subprocess.run(
            [kubectl, *args], input=stdin, check=True, capture_output=True, text=True, env=self.env
        )
        return proc.stdout


async def load(url: str, *, seconds: float, connections: int) -> float:
    """Requests per second over `connections` keep-alive connections."""
    conns = [await Conn(url).open() for _ in range(connections)]
    done = 0
    stop_at = time.monotonic() + seconds

    async def worker(conn: Conn) -> None:
        nonlocal done
        while time.monotonic() < stop_at:
            status, body = await conn.request("GET", "/")
            if status != 200:
                raise RuntimeError(f"{url}: HTTP {status} {body[:80]!r}")
            done += 1

    started = time.monotonic()
    await asyncio.gather(*(worker(c) for c in conns))
    elapsed = time.monotonic() - started
    for c in conns:
        c.close()
    return done / elapsed


def wait_ok(url: str, timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url + "/", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} never answered 200")
        time.sleep(0.2)


def start_nginx(tmp: Path, pod: str) -> tuple[subprocess.Popen[bytes] | None, str | None]:
    """nginx as an HTTP reverse proxy to the same pod (keep-alive upstream), when installed."""
    nginx = shutil.which("nginx")
    if nginx is None:
        return None, None
    port = NGINX_PORT
    conf = tmp / "nginx.conf"
    conf.write_text(
        "worker_processes 1;\ndaemon off;\n"
        f"pid {tmp}/nginx.pid;\nerror_log stderr error;\n"
        "events { worker_connections 4096; }\n"
        "http { access_log off; keepalive_requests 10000000; "
        f"upstream pod {{ server {pod}; keepalive 64; keepalive_requests 10000000; }} "
        f"server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass http://pod; "
        'proxy_http_version 1.1; proxy_set_header Connection ""; '
        "proxy_set_header Host $host; } } }\n"
    )
    proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp)], stderr=subprocess.PIPE)
    return proc, f"http://127.0.0.1:{port}"


def measure(targets: dict[str, str], args: argparse.Namespace) -> dict[str, float]:
    """Median requests/s per target, the targets taken in turn round after round."""
    figures: dict[str, list[float]] = {name: [] for name in targets}
    for url in targets.values():  # warm-up
        asyncio.run(load(url, seconds=1.0, connections=args.connections))
    for _ in range(args.rounds):
        for name, url in targets.items():
            figures[name].append(
                asyncio.run(load(url, seconds=args.seconds, connections=args.connections))
            )
    return {name: statistics.median(values) for name, values in figures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="kubelite-ingress-bench-") as tmp:
        cluster = Cluster(Path(tmp))
        cluster.kubelite("up", "--port", "0", "--detach")
        nginx: subprocess.Popen[bytes] | None = None
        try:
            status = json.loads(cluster.kubelite("status", "-o", "json"))
            for obj in manifests():
                cluster.kubectl("apply", "-f", "-", stdin=json.dumps(obj))
            cluster.kubectl("rollout", "status", "deploy/bench", "--timeout=90s")
            pod_ip = cluster.kubectl(
                "get", "pods", "-l", "app=bench", "-o", "jsonpath={.items[0].status.podIP}"
            )
            targets = {"direct": f"http://{pod_ip}:8080", "ingress": status["ingress"]}
            nginx, nginx_url = start_nginx(Path(tmp), f"{pod_ip}:8080")
            if nginx_url is None:
                notes.append("nginx not installed: no peer figure")
            else:
                targets["nginx"] = nginx_url
            for url in targets.values():
                wait_ok(url)
            rps = measure(targets, args)
        finally:
            if nginx is not None:
                nginx.terminate()
                nginx.wait()
            cluster.kubelite("down")
    result = {
        "benchmark": "ingress",
        "connections": args.connections,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "direct_rps": round(rps["direct"]),
        "ingress_rps": round(rps["ingress"]),
        "nginx_rps": round(rps["nginx"]) if "nginx" in rps else None,
        "ingress_vs_direct": round(rps["ingress"] / rps["direct"], 3),
        "ingress_vs_nginx": round(rps["ingress"] / rps["nginx"], 3) if "nginx" in rps else None,
        "cpus": os.cpu_count(),
        "notes": notes,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
