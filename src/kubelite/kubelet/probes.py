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
import re
import select
import socket
import ssl
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from kubelite.api import lowports
from kubelite.api.gofmt import go_quote
from kubelite.kubelet import grpcprobe
from kubelite.kubelet.listeners import LISTENERS

Obj = dict[str, Any]
USER_AGENT = "kube-probe/1.32"
LIFECYCLE_USER_AGENT = "kube-lifecycle/1.32"
# A handler's result, as upstream's probe.Result: a warning counts as a success.
SUCCESS, FAILURE, WARNING = "success", "failure", "warning"


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


_GO_INT = re.compile(r"[+-]?[0-9]+")


class ProbeError(Exception):
    """The probe could not be run at all (upstream's probe.Unknown with an error):
    the kubelet records it and keeps the previous result."""


def resolve_port(port: Any, container: Obj) -> int:
    """A port number or a containerPort name, as upstream's ResolveContainerPort:
    a name no port has is tried as a number last, and that parse's error is the
    one reported."""
    if isinstance(port, int):
        number = port
    else:
        text = str(port)
        found = [p for p in container.get("ports") or [] if p.get("name") == text]
        if found:
            number = int(found[0]["containerPort"])
        elif _GO_INT.fullmatch(text):
            number = int(text)
        else:
            raise ProbeError(f"strconv.Atoi: parsing {go_quote(text)}: invalid syntax")
    if 0 < number < 65536:
        return number
    raise ProbeError(f"invalid port number: {number}")


REDIRECTS = (301, 302, 303, 307, 308)  # the ones Go's client follows (with a Location)
MAX_BODY = 10 * 1024  # what upstream reads of a response


def canonical_key(name: str) -> str:
    """Go's CanonicalMIMEHeaderKey: `user-agent` is `User-Agent` (a name with a
    character a header name may not hold is kept as it is)."""
    if not name or any(not (c.isascii() and (c.isalnum() or c in "!#$%&'*+-.^_`|~")) for c in name):
        return name
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def _host_port(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def request_headers(action: Obj, user_agent: str) -> tuple[str, list[str]]:
    """The pod's Host header ("" for none) and the other header lines of a probe's
    (or an httpGet hook's) request, as upstream's newProbeRequest builds them:
    the pod's headers by canonical name (a repeated one sent once per value),
    its User-Agent and Accept in place of the defaults (an empty Accept sends
    none, an empty User-Agent neither)."""
    given: dict[str, list[str]] = {}
    for h in action.get("httpHeaders") or []:
        given.setdefault(canonical_key(str(h.get("name", ""))), []).append(str(h.get("value", "")))
    agent = given.pop("User-Agent", [user_agent])[0]
    if "Accept" not in given:
        given["Accept"] = ["*/*"]
    elif given["Accept"][0] == "":
        del given["Accept"]
    host = given.pop("Host", [""])[0]
    lines = [f"User-Agent: {agent}"] if agent else []
    lines += [f"{key}: {value}" for key in sorted(given) for value in given[key]]
    return host, lines


@dataclass(frozen=True)
class _Target:
    scheme: str
    netloc: str  # as the URL has it: the Host header when the pod gives none
    host: str
    port: int
    path: str

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.path}"


@dataclass(frozen=True)
class HttpAnswer:
    code: int
    body: bytes


async def http_get(action: Obj, container: Obj, pod_ip: str, timeout: float) -> tuple[str, str]:
    """An httpGet probe: (SUCCESS, ""), (WARNING, text) for a redirect it did not
    follow, or (FAILURE, the kubelet's message). ProbeError when the port is unknown."""
    answer = await _get(action, container, pod_ip, timeout, USER_AGENT)
    if isinstance(answer, str):
        return FAILURE, answer
    if 200 <= answer.code < 300:
        return SUCCESS, ""
    if 300 <= answer.code < 400:
        body = answer.body.decode(errors="replace")
        return WARNING, f"Probe terminated redirects, Response body: {body}"
    return FAILURE, f"HTTP probe failed with statuscode: {answer.code}"


async def http_hook(action: Obj, container: Obj, pod_ip: str, timeout: float) -> tuple[str, str]:
    """An httpGet lifecycle hook: (what failed or "" once any answer came, as
    upstream does not look at a hook's status code; the host:port of an HTTPS
    hook that answered in plain HTTP and was asked again so, as upstream falls
    back, or ""). ProbeError when the port is unknown."""
    answer = await _get(action, container, pod_ip, timeout, LIFECYCLE_USER_AGENT)
    plain_answer = isinstance(answer, str) and answer.endswith(_PLAIN_ANSWER)
    if plain_answer and (action.get("scheme") or "").upper() == "HTTPS":
        headers = [
            h
            for h in action.get("httpHeaders") or []
            if canonical_key(h.get("name", "")) != "Authorization"
        ]
        plain = {**action, "scheme": "HTTP", "httpHeaders": headers}
        again = await _get(plain, container, pod_ip, timeout, LIFECYCLE_USER_AGENT)
        if not isinstance(again, str):
            host = action.get("host") or pod_ip
            return "", _host_port(host, resolve_port(action.get("port"), container))
    return (answer if isinstance(answer, str) else ""), ""


async def _get(
    action: Obj, container: Obj, pod_ip: str, timeout: float, agent: str
) -> HttpAnswer | str:
    """The answer once redirects to the same host are followed (upstream's probe
    client stops at another host, and after 10 requests), or the client's error."""
    host = action.get("host") or pod_ip
    port = resolve_port(action.get("port"), container)
    path = action.get("path") or "/"
    if not path.startswith("/"):
        path = "/" + path
    scheme = (action.get("scheme") or "HTTP").lower()
    first = _Target(scheme, _host_port(host, port), host, port, path)
    custom_host, lines = request_headers(action, agent)
    sent = [first]  # the requests made, the last one's URL for the error texts
    try:
        async with asyncio.timeout(timeout):
            return await _follow(first, custom_host, lines, sent)
    except TimeoutError:
        return (
            f'Get "{sent[-1].url}": context deadline exceeded '
            "(Client.Timeout exceeded while awaiting headers)"
        )
    except ssl.SSLError as exc:
        if exc.reason == "WRONG_VERSION_NUMBER":  # what a plain HTTP answer reads as
            return f'Get "{sent[-1].url}": {_PLAIN_ANSWER}'
        return f'Get "{sent[-1].url}": {exc.reason or exc}'
    except OSError as exc:
        last = sent[-1]
        return f'Get "{last.url}": {_dial_error(last.host, last.port, exc)}'
    except _HttpError as exc:
        return f'Get "{exc.url}": {exc}'


# Go's error for a TLS request answered in plain HTTP (its client sees "HTTP/" where a
# TLS record should be).
_PLAIN_ANSWER = "http: server gave HTTP response to HTTPS client"


class _HttpError(Exception):
    def __init__(self, url: str, text: str) -> None:
        super().__init__(text)
        self.url = url


async def _follow(
    first: _Target, custom_host: str, lines: list[str], sent: list[_Target]
) -> HttpAnswer:
    target = first
    host_header = custom_host or first.netloc
    while True:
        code, headers, body = await _exchange(target, host_header, lines)
        location = headers.get("location")
        if code not in REDIRECTS or location is None:
            return HttpAnswer(code, body)
        nxt = _resolve(target, location)
        if nxt is None or nxt.host != first.host:
            return HttpAnswer(code, body)  # upstream's ErrUseLastResponse
        if len(sent) >= 10:
            raise _HttpError(location, "stopped after 10 redirects")
        relative = not urllib.parse.urlsplit(location).scheme
        keep = custom_host and custom_host != first.netloc and relative
        host_header = custom_host if keep else nxt.netloc  # as Go's client keeps a Host
        target = nxt
        sent.append(target)


def _resolve(base: _Target, location: str) -> _Target | None:
    url = urllib.parse.urlsplit(urllib.parse.urljoin(base.url, location))
    if url.scheme not in ("http", "https") or not url.hostname:
        return None
    try:
        port = url.port or (443 if url.scheme == "https" else 80)
    except ValueError:
        return None
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    return _Target(url.scheme, url.netloc, url.hostname, port, path)


async def _exchange(
    target: _Target, host_header: str, lines: list[str]
) -> tuple[int, dict[str, str], bytes]:
    """One GET: the status code, the headers (lower-cased names, first value) and
    up to 10 KiB of the body (read, as Go's client reads a redirect's)."""
    ctx = None
    if target.scheme == "https":
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    dial = lowports.pod_port(target.host, target.port)
    reader, writer = await asyncio.open_connection(target.host, dial, ssl=ctx)
    try:
        head = "".join(f"{line}\r\n" for line in lines)
        request = f"GET {target.path} HTTP/1.1\r\nHost: {host_header}\r\n{head}"
        writer.write(f"{request}Connection: close\r\n\r\n".encode())
        await writer.drain()
        status_line = await reader.readline()
        if not status_line:
            raise _HttpError(target.url, "EOF")
        parts = status_line.split()
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
            shown = go_quote(status_line.decode(errors="replace").rstrip("\r\n"))
            raise _HttpError(
                target.url,
                f"net/http: HTTP/1.x transport connection broken: malformed HTTP response {shown}",
            )
        headers: dict[str, str] = {}
        while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers.setdefault(name.strip().lower(), value.strip())
        code = int(parts[1])
        body = await _body(reader, headers)
    finally:
        writer.close()
    return code, headers, body


async def _body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    """At most MAX_BODY bytes of the body (sized, chunked, or up to the close);
    what came of a body cut short."""
    try:
        return await _read_body(reader, headers)
    except asyncio.IncompleteReadError as exc:
        return exc.partial[:MAX_BODY]
    except ValueError:  # a chunk size that is not one
        return b""


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if "chunked" in headers.get("transfer-encoding", "").lower():
        out = b""
        while len(out) < MAX_BODY:
            size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                break
            out += await reader.readexactly(size)
            await reader.readline()
        return out[:MAX_BODY]
    length = headers.get("content-length", "")
    if length.isdigit():
        return await reader.readexactly(min(int(length), MAX_BODY))
    out = b""
    while len(out) < MAX_BODY and (chunk := await reader.read(MAX_BODY - len(out))):
        out += chunk
    return out


def _dial_error(host: str, port: int, exc: OSError) -> str:
    text = {111: "connection refused", 113: "no route to host", 101: "network is unreachable"}.get(
        exc.errno or 0, (exc.strerror or str(exc)).lower()
    )
    return f"dial tcp {host}:{port}: connect: {text}"


async def tcp_socket(action: Obj, container: Obj, pod_ip: str, timeout: float) -> tuple[bool, str]:
    """ProbeError when the port is unknown."""
    host = action.get("host") or pod_ip
    port = resolve_port(action.get("port"), container)
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
) -> tuple[str, str]:
    """(SUCCESS, WARNING or FAILURE, the message); ProbeError when it could not run."""
    timeout = float(probe.get("timeoutSeconds") or 1)
    if "httpGet" in probe:
        return await http_get(probe["httpGet"], container, pod_ip, timeout)
    if "tcpSocket" in probe:
        ok, message = await tcp_socket(probe["tcpSocket"], container, pod_ip, timeout)
    elif "exec" in probe:
        ok, message = await exec_probe(probe["exec"], exec_runner, timeout)
    elif "grpc" in probe:
        ok, message = await grpc_probe(probe["grpc"], pod_ip, timeout)
    else:
        return SUCCESS, ""
    return (SUCCESS if ok else FAILURE), message
