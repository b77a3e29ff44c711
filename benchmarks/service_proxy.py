"""Service proxy throughput: through a Service versus straight to the pod, per proxy mode.

Starts one backend on a pod address (nginx answering a fixed body when
nginx is installed, else a small asyncio HTTP server), then measures with a
load generator in a second process (wrk when installed, else a Python
client): direct to the pod; kernel mode (kubelite's nftables DNAT, root
only); userspace mode (kubelite's asyncio relay, in its own process); and
nginx's stream proxy on the same backend as the peer. All traffic stays on
127.0.0.0/8 and each run is bounded in time.

    python benchmarks/service_proxy.py [--seconds 5] [--connections 32]

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
    args = ap.parse_args()
    notes: list[str] = []
    result: dict[str, object] = {}
    children: list[subprocess.Popen[bytes]] = []
    kernel: nftables.NftablesProxy | None = None
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
            result["load_generator"] = "wrk" if shutil.which("wrk") else "python"
            result["direct_rps"], result["direct_p99_ms"] = measure(POD_IP, POD_PORT, args)

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
                asyncio.run(kernel.sync([sp]))
                result["kernel_rps"], result["kernel_p99_ms"] = measure(KERNEL_VIP, PORT, args)
            else:
                result["kernel_rps"] = None
                notes.append(f"kernel mode: {why}")

            proxy = subprocess.Popen(
                [sys.executable, __file__, "--serve-userspace"], stdout=subprocess.PIPE
            )
            children.append(proxy)  # type: ignore[arg-type]
            assert proxy.stdout is not None
            proxy.stdout.readline()
            result["userspace_rps"], result["userspace_p99_ms"] = measure(USER_VIP, PORT, args)

            stream_mod = Path("/usr/lib/nginx/modules/ngx_stream_module.so").exists()
            if have_nginx and stream_mod:
                stmp = tmp / "stream"
                stmp.mkdir()
                children.append(start_nginx(nginx_conf(stmp, http=False, stream=True), stmp))
                wait_port("127.0.0.1", NGINX_PORT)
                result["nginx_rps"], result["nginx_p99_ms"] = measure("127.0.0.1", NGINX_PORT, args)
            else:
                result["nginx_rps"] = None
                notes.append("nginx stream proxy: nginx or its stream module is not installed")
        finally:
            if kernel is not None:
                kernel.remove()
            for child in children:
                child.send_signal(signal.SIGTERM)
                try:
                    child.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    child.kill()
    out = {
        "direct_rps": _r(result.get("direct_rps")),
        "kernel_rps": _r(result.get("kernel_rps")),
        "userspace_rps": _r(result.get("userspace_rps")),
        "nginx_rps": _r(result.get("nginx_rps")),
        "kernel_vs_direct_ratio": _ratio(result.get("kernel_rps"), result.get("direct_rps")),
        "userspace_vs_nginx_ratio": _ratio(result.get("userspace_rps"), result.get("nginx_rps")),
        "userspace_p99_ms": _r(result.get("userspace_p99_ms")),
        "direct_p99_ms": _r(result.get("direct_p99_ms")),
        "kernel_p99_ms": _r(result.get("kernel_p99_ms")),
        "nginx_p99_ms": _r(result.get("nginx_p99_ms")),
        "load_generator": result.get("load_generator"),
        "seconds": args.seconds,
        "connections": args.connections,
        "notes": notes,
    }
    print(json.dumps(out))


def _r(value: object) -> float | None:
    return round(float(value), 2) if isinstance(value, int | float) else None  # type: ignore[arg-type]


def _ratio(a: object, b: object) -> float | None:
    if isinstance(a, int | float) and isinstance(b, int | float) and b:
        return round(a / b, 3)
    return None


if __name__ == "__main__":
    main()
