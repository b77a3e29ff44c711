"""Service proxy throughput: through a Service versus straight to the pod, per proxy mode.

Starts one backend on a pod address (nginx answering a fixed body when
nginx is installed, else a small asyncio HTTP server), then measures with a
load generator in a second process (wrk when installed, else a Python
client): direct to the pod; kernel mode (kubelite's nftables DNAT, root
only); userspace mode (kubelite's asyncio relay, in its own process); and
nginx's stream proxy on the same backend as the peer. All traffic stays on
127.0.0.0/8 and each run is bounded in time.

    python benchmarks/service_proxy.py [--seconds 5] [--connections 32] [--rounds 3] [--services 1]

The targets are measured in turn, round after round (direct, kernel,
userspace, nginx, direct, ...), after a warm-up of each, and each figure is
the median over rounds: on a shared machine a single back-to-back pair is
mostly noise (one such pair once read 0.87 for kernel mode).

wrk keeps its connections open, so kernel mode's rules (one verdict-map
lookup, `--services N` puts N-1 other Services in the table) meet only a
connection's first packet. What kernel mode still costs per packet is
conntrack's address rewrite both ways and the route lookup the kernel
repeats for a locally sent packet whose destination DNAT changed: a few
percent of a loopback HTTP exchange, as kube-proxy pays it too.

Prints one JSON object on its last line. A mode that cannot run here is
null, with the reason in `notes`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from kubelite.proxy import nftables  # noqa: E402
from kubelite.proxy.servicemap import Endpoint, ServicePort  # noqa: E402

POD_IP, POD_PORT = "127.244.200.2", 18080
KERNEL_VIP, USER_VIP, NGINX_PORT, PORT = "127.96.250.1", "127.96.250.2", 18081, 8080
BODY = b"ok\n"


# ---- backends and peers ---------------------------------------------------------------


def nginx_conf(tmp: Path, *, http: bool, stream: bool) -> Path:
    modules = "/usr/lib/nginx/modules/ngx_stream_module.so"
    lines = [
        "worker_processes 1;",
        "daemon off;",
        f"pid {tmp}/nginx.pid;",
        "error_log stderr error;",
    ]
    if stream and Path(modules).exists():
        lines.insert(0, f"load_module {modules};")
    lines.append("events { worker_connections 4096; }")
    if http:
        lines.append(
            f"http {{ access_log off; server {{ listen {POD_IP}:{POD_PORT}; location / {{ return 200 'ok\n'; }} }} }}"
        )
    if stream:
        lines.append(
            f"stream {{ server {{ listen 127.0.0.1:{NGINX_PORT}; proxy_pass {POD_IP}:{POD_PORT}; }} }}"
        )
    conf = tmp / ("stream.conf" if stream else "http.conf")
    conf.write_text("\n".join(lines) + "\n")
    return conf


def start_nginx(conf: Path, tmp: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["nginx", "-p", str(tmp), "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


async def python_backend() -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        reply = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n" + BODY
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            if not head:
                break
            writer.write(reply)
            await writer.drain()

    server = await asyncio.start_server(handle, POD_IP, POD_PORT)
    async with server:
        await server.serve_forever()


def userspace_proxy_process() -> None:
    """Child process: kubelite's userspace relay for USER_VIP:PORT -> the pod."""
    import uvloop

    from kubelite.proxy.userspace import UserspaceProxy

    async def main() -> None:
        proxy = UserspaceProxy()
        started = asyncio.Event()
        sp = ServicePort(
            "bench", "web", "", "TCP", USER_VIP, PORT, endpoints=(Endpoint(POD_IP, POD_PORT),)
        )
        async with asyncio.TaskGroup() as tg:
            tg.create_task(proxy.run(started))
            await started.wait()
            await proxy.sync([sp])
            print("ready", flush=True)

    uvloop.run(main())


def other_services(count: int) -> list[ServicePort]:
    """Service ports that are not benchmarked, each with two endpoints, ahead in the table."""
    return [
        ServicePort(
            "bench",
            f"other-{i}",
            "",
            "TCP",
            f"127.96.{240 - i // 250}.{i % 250 + 1}",
            PORT,
            endpoints=(Endpoint("127.244.201.2", 80), Endpoint("127.244.201.3", 80)),
        )
        for i in range(count)
    ]


# ---- load generation ---------------------------------------------------------------------


def wait_port(ip: str, port: int, timeout: float = 10.0) -> bool:
    import socket

    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with socket.create_connection((ip, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def run_wrk(url: str, seconds: int, connections: int) -> tuple[float, float]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True, text=True, timeout=seconds + 30, check=True,
    ).stdout  # fmt: skip
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    m = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    p99 = float(m.group(1)) * scale[m.group(2)] if m else float("nan")
    return rps, p99


def run_python_client(ip: str, port: int, seconds: int, connections: int) -> tuple[float, float]:
    code = f"""
import asyncio, time, json
async def one(lat, end):
    r, w = await asyncio.open_connection({ip!r}, {port})
    while time.monotonic() < end:
        t = time.monotonic()
        w.write(b"GET / HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
        await r.readuntil(b"\\r\\n\\r\\n"); await r.readexactly(3)
        lat.append(time.monotonic() - t)
    w.close()
async def main():
    lat = []; end = time.monotonic() + {seconds}
    await asyncio.gather(*(one(lat, end) for _ in range({connections})))
    lat.sort(); print(json.dumps([len(lat) / {seconds}, lat[int(len(lat) * 0.99)] * 1000]))
asyncio.run(main())
"""
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=seconds + 30,
        check=True,
    )
    rps, p99 = json.loads(out.stdout.strip().splitlines()[-1])
    return float(rps), float(p99)


def measure(ip: str, port: int, args: argparse.Namespace) -> tuple[float, float]:
    if shutil.which("wrk"):
        return run_wrk(f"http://{ip}:{port}/", args.seconds, args.connections)
    return run_python_client(ip, port, args.seconds, args.connections)


# ---- the run --------------------------------------------------------------------------------


def main() -> None:
    if "--serve-userspace" in sys.argv:
        userspace_proxy_process()
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="each round measures every target once, in turn; figures are medians over rounds",
    )
    ap.add_argument(
        "--services",
        type=int,
        default=1,
        help="Service ports in the kernel table (the benchmarked one last), as in a "
        "cluster with that many Services",
    )
    args = ap.parse_args()
    notes: list[str] = []
    children: list[subprocess.Popen[bytes]] = []
    kernel: nftables.NftablesProxy | None = None
    targets: dict[str, tuple[str, int]] = {}
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        try:
            have_nginx = shutil.which("nginx") is not None
            if have_nginx:
                children.append(start_nginx(nginx_conf(tmp, http=True, stream=False), tmp))
            else:
                code = "import asyncio,sys; sys.path.insert(0, %r); import service_proxy as b; asyncio.run(b.python_backend())"
                children.append(
                    subprocess.Popen([sys.executable, "-c", code % str(Path(__file__).parent)])
                )
                notes.append("backend: Python asyncio HTTP server (nginx not installed)")
            if not wait_port(POD_IP, POD_PORT):
                raise RuntimeError("backend did not start")
            targets["direct"] = (POD_IP, POD_PORT)

            why = nftables.available()
            if why is None:
                kernel = nftables.NftablesProxy(f"kubelite-bench-{os.getpid()}")
                sp = ServicePort(
                    "bench",
                    "web",
                    "",
                    "TCP",
                    KERNEL_VIP,
                    PORT,
                    endpoints=(Endpoint(POD_IP, POD_PORT),),
                )
                asyncio.run(kernel.sync([*other_services(args.services - 1), sp]))
                targets["kernel"] = (KERNEL_VIP, PORT)
            else:
                notes.append(f"kernel mode: {why}")

            proxy = subprocess.Popen(
                [sys.executable, __file__, "--serve-userspace"], stdout=subprocess.PIPE
            )
            children.append(proxy)  # type: ignore[arg-type]
            assert proxy.stdout is not None
            proxy.stdout.readline()
            targets["userspace"] = (USER_VIP, PORT)

            stream_mod = Path("/usr/lib/nginx/modules/ngx_stream_module.so").exists()
            if have_nginx and stream_mod:
                stmp = tmp / "stream"
                stmp.mkdir()
                children.append(start_nginx(nginx_conf(stmp, http=False, stream=True), stmp))
                wait_port("127.0.0.1", NGINX_PORT)
                targets["nginx"] = ("127.0.0.1", NGINX_PORT)
            else:
                notes.append("nginx stream proxy: nginx or its stream module is not installed")
            rounds = run_rounds(targets, args)
        finally:
            if kernel is not None:
                kernel.remove()
            for child in children:
                child.send_signal(signal.SIGTERM)
                try:
                    child.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    child.kill()
    print(json.dumps(summary(rounds, args, notes)))


def run_rounds(
    targets: dict[str, tuple[str, int]], args: argparse.Namespace
) -> dict[str, list[tuple[float, float]]]:
    """Every target once per round, in turn, after one short warm-up each.

    Interleaving puts direct and proxied runs under the same background load
    (this is a shared machine), so their ratio compares like with like; the
    median over rounds then drops a round disturbed by something else.
    """
    warm = argparse.Namespace(seconds=1, connections=args.connections)
    for ip, port in targets.values():
        measure(ip, port, warm)
    rounds: dict[str, list[tuple[float, float]]] = {name: [] for name in targets}
    for _ in range(args.rounds):
        for name, (ip, port) in targets.items():
            rounds[name].append(measure(ip, port, args))
    return rounds


def summary(
    rounds: dict[str, list[tuple[float, float]]], args: argparse.Namespace, notes: list[str]
) -> dict[str, object]:
    rps = {name: statistics.median(r for r, _ in runs) for name, runs in rounds.items()}
    p99 = {name: statistics.median(p for _, p in runs) for name, runs in rounds.items()}
    return {
        "direct_rps": _r(rps.get("direct")),
        "kernel_rps": _r(rps.get("kernel")),
        "userspace_rps": _r(rps.get("userspace")),
        "nginx_rps": _r(rps.get("nginx")),
        "kernel_vs_direct_ratio": _ratio(rps.get("kernel"), rps.get("direct")),
        "userspace_vs_nginx_ratio": _ratio(rps.get("userspace"), rps.get("nginx")),
        "userspace_p99_ms": _r(p99.get("userspace")),
        "direct_p99_ms": _r(p99.get("direct")),
        "kernel_p99_ms": _r(p99.get("kernel")),
        "nginx_p99_ms": _r(p99.get("nginx")),
        "rounds_rps": {name: [_r(r) for r, _ in runs] for name, runs in rounds.items()},
        "load_generator": "wrk" if shutil.which("wrk") else "python",
        "seconds": args.seconds,
        "connections": args.connections,
        "rounds": args.rounds,
        "services": args.services,
        "notes": notes,
    }


def _r(value: object) -> float | None:
    return round(float(value), 2) if isinstance(value, int | float) else None  # type: ignore[arg-type]


def _ratio(a: object, b: object) -> float | None:
    if isinstance(a, int | float) and isinstance(b, int | float) and b:
        return round(a / b, 3)
    return None


if __name__ == "__main__":
    main()
