"""Probes: liveness, readiness and startup, with upstream's handlers, timing and messages.

`ProbeResult` is the pure threshold logic of upstream's probe worker: a
result only flips after `failureThreshold` failures or `successThreshold`
successes in a row. The handlers (httpGet, tcpSocket, exec, grpc) each
return `(ok, message)` with the text the kubelet puts in its `Unhealthy`
event ("HTTP probe failed with statuscode: 500", "dial tcp ...: connect:
connection refused", the exec command's output).
"""

from __future__ import annotations

import asyncio
import errno
import functools
import ipaddress
import os
import select
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from kubelite.api import lowports
from kubelite.kubelet import grpcprobe
from kubelite.kubelet.listeners import LISTENERS

Obj = dict[str, Any]
USER_AGENT = "kube-probe/1.32"


@dataclass(frozen=True)
class Timing:
    initial_delay: float = 0.0
    period: float = 10.0
    timeout: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3

    @classmethod
    def of(cls, probe: Obj) -> Timing:
        return cls(
            initial_delay=float(probe.get("initialDelaySeconds") or 0),
            period=float(probe.get("periodSeconds") or 10),
            timeout=float(probe.get("timeoutSeconds") or 1),
            success_threshold=int(probe.get("successThreshold") or 1),
            failure_threshold=int(probe.get("failureThreshold") or 3),
        )


class ProbeResult:
    """Upstream's worker: the reported result flips only after a threshold run."""

    def __init__(self, timing: Timing, initial: bool | None) -> None:
        self.timing = timing
        self.value = initial
        self._last: bool | None = None
        self._run = 0

    def observe(self, ok: bool) -> bool:
        """Record one attempt; True when the reported value changed."""
        if ok == self._last:
            self._run += 1
        else:
            self._last = ok
            self._run = 1
        needed = self.timing.success_threshold if ok else self.timing.failure_threshold
        if self._run < needed or self.value == ok:
            return False
        self.value = ok
        return True

    def reset_run(self) -> None:
        """After a restart the next failures count from zero."""
        self._run = 0


def resolve_port(port: Any, container: Obj) -> int:
    """A port number or a containerPort name."""
    if isinstance(port, int) or (isinstance(port, str) and port.isdigit()):
        return int(port)
    for p in container.get("ports") or []:
        if p.get("name") == port:
            return int(p["containerPort"])
    raise ValueError(f"unable to find port {port!r}: container does not declare it")


async def http_get(action: Obj, container: Obj, pod_ip: str, timeout: float) -> tuple[bool, str]:
    scheme = (action.get("scheme") or "HTTP").lower()
    host = action.get("host") or pod_ip
    try:
        port = resolve_port(action.get("port"), container)
    except ValueError as exc:
        return False, str(exc)
    path = action.get("path") or "/"
    if not path.startswith("/"):
        path = "/" + path
    url = f"{scheme}://{host}:{port}{path}"
    headers = {"Host": f"{host}:{port}", "User-Agent": USER_AGENT, "Accept": "*/*"}
    for h in action.get("httpHeaders") or []:
        headers[h["name"]] = h["value"]
    try:
        return await asyncio.wait_for(_http(scheme, host, port, path, headers), timeout)
    except TimeoutError:
        return (
            False,
            f'Get "{url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)',
        )
    except OSError as exc:
        return False, f'Get "{url}": {_dial_error(host, port, exc)}'


async def _http(
    scheme: str, host: str, port: int, path: str, headers: dict[str, str]
) -> tuple[bool, str]:
    ctx = None
    if scheme == "https":
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    reader, writer = await asyncio.open_connection(host, lowports.pod_port(host, port), ssl=ctx)
    try:
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        writer.write(f"GET {path} HTTP/1.1\r\n{head}Connection: close\r\n\r\n".encode())
        await writer.drain()
        status_line = await reader.readline()
    finally:
        writer.close()
    parts = status_line.decode(errors="replace").split()
    if len(parts) < 2 or not parts[1].isdigit():
        return False, "HTTP probe failed: malformed HTTP response"
    code = int(parts[1])
    if 200 <= code < 400:
        return True, ""
    return False, f"HTTP probe failed with statuscode: {code}"


def _dial_error(host: str, port: int, exc: OSError) -> str:
    text = {111: "connection refused", 113: "no route to host", 101: "network is unreachable"}.get(
        exc.errno or 0, (exc.strerror or str(exc)).lower()
    )
    return f"dial tcp {host}:{port}: connect: {text}"


async def tcp_socket(action: Obj, container: Obj, pod_ip: str, timeout: float) -> tuple[bool, str]:
    host = action.get("host") or pod_ip
    try:
        port = resolve_port(action.get("port"), container)
    except ValueError as exc:
        return False, str(exc)
    dial = lowports.pod_port(host, port)  # error texts name the probe's own port
    if host.startswith("127.") and LISTENERS.accepting(host, dial):
        return True, ""  # the kernel's listener table says a connect would succeed
    # A bare non-blocking connect: no streams or extra task per probe, which at
    # 100 pods probed every second is most of the node agent's idle CPU.
    loop = asyncio.get_running_loop()
    try:
        addr: tuple[Any, ...] = (host, dial)
        family = _address_family(host)
        if family is None:  # a host name: resolve it (off the loop)
            family, _, _, _, addr = (await loop.getaddrinfo(host, dial, type=socket.SOCK_STREAM))[0]
        sock = socket.socket(family, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
    except OSError as exc:
        return False, _dial_error(host, port, exc)
    try:
        code = _connect_now(sock, addr)
        if code is None:  # still in progress: wait for it on the loop
            async with asyncio.timeout(timeout):
                await loop.sock_connect(sock, addr)
        elif code:
            raise OSError(code, os.strerror(code))
    except TimeoutError:
        return False, f"dial tcp {host}:{port}: i/o timeout"
    except OSError as exc:
        return False, _dial_error(host, port, exc)
    finally:
        sock.close()
    return True, ""


def _connect_now(sock: socket.socket, addr: tuple[Any, ...]) -> int | None:
    """The connect's errno (0: connected) when it is already decided, else None.

    To a local address the kernel completes (or refuses) the handshake inside
    the connect call, so a zero-timeout poll almost always has the answer; that
    skips registering the socket with the event loop, which costs more than the
    connect itself.
    """
    code = sock.connect_ex(addr)
    if code not in (errno.EINPROGRESS, errno.EAGAIN):
        return code
    _POLLER.register(sock, select.POLLOUT)
    try:
        if not _POLLER.poll(0):
            return None
    finally:
        _POLLER.unregister(sock)
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)


_POLLER = select.poll()  # the loop's one thread polls one socket at a time on it


@functools.lru_cache(maxsize=1024)
def _address_family(host: str) -> socket.AddressFamily | None:
    """AF_INET or AF_INET6 for an IP address, None for a name; pod IPs repeat every period."""
    try:
        return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        return None


ExecRunner = Callable[[list[str], float], Awaitable[tuple[int | None, bytes]]]


async def exec_probe(action: Obj, run: ExecRunner, timeout: float) -> tuple[bool, str]:
    command = list(action.get("command") or [])
    code, output = await run(command, timeout)
    text = output.decode(errors="replace")
    if code is None:
        return False, f'command "{" ".join(command)}" timed out'
    return code == 0, text


async def grpc_probe(action: Obj, pod_ip: str, timeout: float) -> tuple[bool, str]:
    port = lowports.pod_port(pod_ip, int(action.get("port", 0)))
    return await grpcprobe.probe(pod_ip, port, action.get("service") or "", timeout, USER_AGENT)


async def run_probe(
    probe: Obj, container: Obj, pod_ip: str, exec_runner: ExecRunner
) -> tuple[bool, str]:
    timeout = float(probe.get("timeoutSeconds") or 1)
    if "httpGet" in probe:
        return await http_get(probe["httpGet"], container, pod_ip, timeout)
    if "tcpSocket" in probe:
        return await tcp_socket(probe["tcpSocket"], container, pod_ip, timeout)
    if "exec" in probe:
        return await exec_probe(probe["exec"], exec_runner, timeout)
    if "grpc" in probe:
        return await grpc_probe(probe["grpc"], pod_ip, timeout)
    return True, ""
