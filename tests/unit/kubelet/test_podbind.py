"""Pods bind and connect from their pod IP, and reach their own servers on localhost:
the address rules, and real containers' binds and connections."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import struct
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import pytest

from kubelite.api import lowports
from kubelite.kubelet import podbind, process
from kubelite.kubelet.listeners import Listeners

POD_IP = "127.244.9.2"


def sockaddr_in(host: str, port: int) -> bytes:
    return (
        struct.pack("=H", socket.AF_INET)
        + struct.pack("!H", port)
        + socket.inet_aton(host)
        + bytes(8)
    )


def sockaddr_in6(host: str, port: int, scope: int = 0) -> bytes:
    packed = socket.inet_pton(socket.AF_INET6, host)
    return (
        struct.pack("=H", socket.AF_INET6)
        + struct.pack("!HI", port, 0)
        + packed
        + struct.pack("=I", scope)
    )


def always(answer: bool):  # type: ignore[no-untyped-def]
    return lambda: answer


def test_an_ipv4_wildcard_with_a_port_goes_to_the_pod_ip() -> None:
    assert podbind.target(sockaddr_in("0.0.0.0", 8080), POD_IP, always(True)) == (POD_IP, 8080)


def test_the_pods_localhost_with_a_port_goes_to_the_pod_ip() -> None:
    # private to the pod on a cluster; here replicas would collide on it
    assert podbind.target(sockaddr_in("127.0.0.1", 9090), POD_IP, always(True)) == (POD_IP, 9090)


@pytest.mark.parametrize(
    "host, port",
    [
        (POD_IP, 8080),  # the pod's own address: already its own
        ("127.0.0.2", 8080),  # the rest of 127/8 is the machine's (pods, Services, DNS)
        ("127.0.0.1", 0),  # any free port: nothing to collide on
        ("0.0.0.0", 0),
    ],
    ids=["pod-ip", "other-loopback", "localhost-port-0", "wildcard-port-0"],
)
def test_a_named_address_or_port_0_is_left_alone(host: str, port: int) -> None:
    assert podbind.target(sockaddr_in(host, port), POD_IP, always(True)) is None


@pytest.mark.parametrize("host", ["::", "::1", "::ffff:127.0.0.1"])
def test_an_ipv6_wildcard_or_localhost_goes_to_the_mapped_pod_ip_on_a_dual_stack_socket(
    host: str,
) -> None:
    raw = sockaddr_in6(host, 50051)
    assert podbind.target(raw, POD_IP, always(True)) == (f"::ffff:{POD_IP}", 50051, 0, 0)
    # an IPV6_V6ONLY socket cannot take an IPv4 address: its bind is its own
    assert podbind.target(raw, POD_IP, always(False)) is None
    assert podbind.target(sockaddr_in6(host, 0), POD_IP, always(True)) is None
    assert podbind.target(sockaddr_in6("2001:db8::1", 50051), POD_IP, always(True)) is None


def test_other_families_and_short_addresses_are_left_alone() -> None:
    unix = struct.pack("=H", socket.AF_UNIX) + b"/tmp/sock".ljust(14, b"\0")
    assert podbind.target(unix, POD_IP, always(True)) is None
    assert podbind.target(b"\x02", POD_IP, always(True)) is None
    assert podbind.target(sockaddr_in("0.0.0.0", 80)[:8], POD_IP, always(True)) is None


def test_the_filter_stops_only_binds_and_connects_of_an_inet_sized_address() -> None:
    code = podbind.program(0xC000003E, 49, 42)
    ops = [struct.unpack("=HBBI", code[i : i + 8]) for i in range(0, len(code), 8)]
    assert ops[-2] == (podbind.BPF_RET_K, 0, 0, podbind.SECCOMP_RET_USER_NOTIF)
    assert ops[-1] == (podbind.BPF_RET_K, 0, 0, podbind.SECCOMP_RET_ALLOW)
    compared = {k for code_, _, _, k in ops if code_ == podbind.BPF_JEQ_K}
    assert compared == {0xC000003E, 49, 42, 16, 28}
    # every jump lands inside the program
    for i, (code_, jt, jf, _) in enumerate(ops):
        if code_ == podbind.BPF_JEQ_K:
            assert i + 1 + max(jt, jf) < len(ops)


def test_a_connection_to_this_machine_comes_from_the_pod_ip() -> None:
    assert podbind.source(sockaddr_in("127.244.0.7", 80), POD_IP, always(True)) == (POD_IP, 0)
    assert podbind.source(sockaddr_in("127.0.0.1", 6443), POD_IP, always(True)) == (POD_IP, 0)
    mapped = sockaddr_in6("::ffff:127.96.0.10", 80)
    assert podbind.source(mapped, POD_IP, always(True)) == (f"::ffff:{POD_IP}", 0, 0, 0)
    assert podbind.source(mapped, POD_IP, always(False)) is None


def test_a_connection_elsewhere_is_left_to_the_kernel() -> None:
    assert podbind.source(sockaddr_in("10.1.2.3", 443), POD_IP, always(True)) is None
    assert podbind.source(sockaddr_in6("::1", 80), POD_IP, always(True)) is None
    assert podbind.source(sockaddr_in6("2001:db8::1", 80), POD_IP, always(True)) is None
    unspec = struct.pack("=H", socket.AF_UNSPEC) + bytes(14)  # a UDP socket's disconnect
    assert podbind.source(unspec, POD_IP, always(True)) is None


def listening_on(*where: tuple[str, int]):  # type: ignore[no-untyped-def]
    return lambda ip, port: (ip, port) in where


SVC_IP = "127.96.250.7"
MAPPED_POD_IP = f"::ffff:{POD_IP}"


@pytest.mark.parametrize(
    "dialled, dual_stack, expected",
    [
        (sockaddr_in("127.0.0.1", 8080), True, (POD_IP, 8080)),
        (sockaddr_in6("::1", 8080), True, (MAPPED_POD_IP, 8080, 0, 0)),
        (sockaddr_in6("::ffff:127.0.0.1", 8080), True, (MAPPED_POD_IP, 8080, 0, 0)),
        # an IPv6-only socket cannot dial the (IPv4) pod IP: it dials ::1 as asked
        (sockaddr_in6("::1", 8080), False, None),
        # a port the pod does not serve: the machine's localhost answers, as before
        (sockaddr_in("127.0.0.1", 6443), True, None),
        # not the pod's localhost: the rest of 127/8, Services, other pods, elsewhere
        (sockaddr_in("127.0.0.2", 8080), True, None),
        (sockaddr_in(SVC_IP, 8080), True, None),
        (sockaddr_in("127.244.0.7", 8080), True, None),
        (sockaddr_in("10.1.2.3", 8080), True, None),
        (sockaddr_in6("2001:db8::1", 8080), True, None),
        (sockaddr_in("127.0.0.1", 0), True, None),
        (struct.pack("=H", socket.AF_UNSPEC) + bytes(14), True, None),
    ],
    ids=[
        "localhost",
        "ipv6-localhost",
        "mapped-localhost",
        "ipv6-only-socket",
        "port-not-served",
        "other-loopback",
        "service",
        "other-pod",
        "other-machine",
        "ipv6-elsewhere",
        "port-0",
        "disconnect",
    ],
)
def test_a_connect_to_the_pods_localhost_goes_to_its_own_listener(
    dialled: bytes, dual_stack: bool, expected: tuple[object, ...] | None
) -> None:
    serving = listening_on((POD_IP, 8080))
    assert podbind.to_self(dialled, POD_IP, serving, always(dual_stack)) == expected


@pytest.mark.parametrize("port", [80, 8080])
def test_the_pods_listener_is_dialled_where_its_bind_took_it(
    monkeypatch: pytest.MonkeyPatch, port: int
) -> None:
    # without the right to bind port 80 the pod's bind of it took the stand-in
    monkeypatch.setattr(lowports, "may_bind", lambda p: p >= 1024)
    at = lowports.listen_port(port)  # 80 -> 64592, 8080 -> 8080
    raw = sockaddr_in("127.0.0.1", port)
    assert podbind.to_self(raw, POD_IP, listening_on((POD_IP, at)), always(True)) == (POD_IP, at)
    assert podbind.to_self(raw, POD_IP, listening_on((POD_IP, port + 1)), always(True)) is None


@pytest.fixture
def unprivileged(monkeypatch: pytest.MonkeyPatch) -> None:
    """As kubelite without root: ports below 1024 are not its to bind."""
    monkeypatch.setattr(lowports, "may_bind", lambda port: port >= 1024)


@pytest.mark.usefixtures("unprivileged")
def test_a_privileged_port_nobody_listens_on_goes_to_its_stand_in() -> None:
    up = listening_on((SVC_IP, 64592))
    assert podbind.stand_in(sockaddr_in(SVC_IP, 80), up, always(True)) == (SVC_IP, 64592)
    mapped = sockaddr_in6(f"::ffff:{SVC_IP}", 80)
    assert podbind.stand_in(mapped, up, always(True)) == (f"::ffff:{SVC_IP}", 64592, 0, 0)
    assert podbind.stand_in(mapped, up, always(False)) is None  # an IPv6-only socket


@pytest.mark.usefixtures("unprivileged")
def test_a_port_that_listens_itself_or_has_no_stand_in_is_left_alone() -> None:
    both = listening_on((SVC_IP, 80), (SVC_IP, 64592))
    assert podbind.stand_in(sockaddr_in(SVC_IP, 80), both, always(True)) is None
    assert podbind.stand_in(sockaddr_in(SVC_IP, 80), listening_on(), always(True)) is None
    # unprivileged ports, other machines and IPv6 proper are never redirected
    everything = lambda ip, port: True  # noqa: E731
    assert podbind.stand_in(sockaddr_in(SVC_IP, 8080), listening_on(), always(True)) is None
    assert podbind.stand_in(sockaddr_in("10.1.2.3", 80), everything, always(True)) is None
    assert podbind.stand_in(sockaddr_in6("::1", 80), everything, always(True)) is None
    assert podbind.stand_in(sockaddr_in(SVC_IP, 0), everything, always(True)) is None


def test_where_kubelite_may_bind_low_ports_nothing_is_redirected(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(lowports, "may_bind", lambda port: True)
    up = listening_on((SVC_IP, 64592))
    assert podbind.stand_in(sockaddr_in(SVC_IP, 80), up, always(True)) is None


needs_filter = pytest.mark.skipif(
    not podbind.available() or os.geteuid() != 0,
    reason="needs root and a kernel with seccomp user notification "
    "(/proc/sys/kernel/seccomp/actions_avail lists user_notif)",
)

APP = """
import socket, sys, threading
out = []
def bind(family, address, v6only=None):
    s = socket.socket(family)
    if v6only is not None:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
    try:
        s.bind(address)
    except OSError as exc:
        out.append(f"error {exc.errno}")
        return None
    out.append(str(s.getsockname()[:2]))
    return s
port = int(sys.argv[1])
keep = [bind(socket.AF_INET, ("0.0.0.0", port))]
keep.append(bind(socket.AF_INET, ("", port)))  # the same port again: in use
keep.append(bind(socket.AF_INET6, ("::", port + 1), v6only=0))
keep.append(bind(socket.AF_INET, ("127.0.0.1", 0)))
t = threading.Thread(target=lambda: keep.append(bind(socket.AF_INET, ("0.0.0.0", port + 2))))
t.start(); t.join()
print("|".join(out), flush=True)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@needs_filter
def test_two_containers_bind_the_same_wildcard_port_each_on_its_own_pod_ip(tmp_path: Path) -> None:
    port = _free_port()

    async def main() -> list[str]:
        procs = []
        for i, ip in enumerate(("127.244.9.2", "127.244.9.3")):
            spec = process.Spec(
                argv=[sys.executable, "-c", APP, str(port)],
                env=dict(os.environ),
                cwd="/",
                log_path=tmp_path / f"c{i}.log",
                pod_ip=ip,
            )
            procs.append(await process.start(spec))
        for proc in procs:
            assert (await proc.wait()).code == 0
        return [(tmp_path / f"c{i}.log").read_text() for i in range(2)]

    logs = asyncio.run(main())
    for ip, log in zip(("127.244.9.2", "127.244.9.3"), logs, strict=True):
        line = log.strip().split(" ", 3)[3]
        first, again, dual, named, threaded = line.split("|")
        assert first == str((ip, port))
        assert again == "error 98"  # EADDRINUSE, as the app would get it
        assert dual == str((f"::ffff:{ip}", port + 1))
        assert named.startswith("('127.0.0.1', ")  # a named address is the app's own
        assert threaded == str((ip, port + 2))  # a bind from another thread too


@needs_filter
def test_a_container_without_a_pod_ip_has_no_filter(tmp_path: Path) -> None:
    async def main() -> str:
        spec = process.Spec(
            argv=["sh", "-c", "grep ^Seccomp: /proc/self/status"],
            env={"PATH": "/usr/bin:/bin"},
            cwd="/",
            log_path=tmp_path / "c.log",
        )
        proc = await process.start(spec)
        await proc.wait()
        return (tmp_path / "c.log").read_text()

    assert "Seccomp:\t0" in asyncio.run(main())


NOT_A_SOCKET = """
import ctypes, os, socket, struct
libc = ctypes.CDLL(None, use_errno=True)
addr = struct.pack("=H", socket.AF_INET) + struct.pack("!H", 8080) + bytes(12)
fd = os.open("/dev/null", os.O_RDONLY)
rc = libc.bind(fd, addr, len(addr))
print(rc, ctypes.get_errno(), flush=True)
"""


@needs_filter
def test_a_bind_the_runtime_cannot_take_over_gets_the_kernels_answer(tmp_path: Path) -> None:
    async def main() -> str:
        spec = process.Spec(
            argv=[sys.executable, "-c", NOT_A_SOCKET],
            env=dict(os.environ),
            cwd="/",
            log_path=tmp_path / "c.log",
            pod_ip=POD_IP,
        )
        proc = await process.start(spec)
        await proc.wait()
        return (tmp_path / "c.log").read_text()

    out = asyncio.run(main()).strip().split(" ", 3)[3]
    assert out == "-1 88"  # ENOTSOCK, as without the filter


CONNECTS = """
import socket, sys
port = int(sys.argv[1])
out = []
def peer_of(sock):
    sock.sendall(b"?")
    return sock.recv(64).decode()
plain = socket.create_connection(("127.0.0.1", port))
out.append(peer_of(plain))
own = socket.socket()
own.bind(("127.0.0.1", 0))  # the app chose its address: it keeps it
own.connect(("127.0.0.1", port))
out.append(peer_of(own))
dual = socket.socket(socket.AF_INET6)
dual.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
dual.connect(("::ffff:127.0.0.1", port))
out.append(peer_of(dual))
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.connect(("127.0.0.1", port))
out.append(udp.getsockname()[0])
print("|".join(out), flush=True)
"""


def _answering_server(ip: str, port: int) -> socket.socket:
    """A listener that answers each connection with the address it came from."""
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # past runs' TIME_WAITs
    srv.bind((ip, port))
    srv.listen(8)
    srv.setblocking(False)
    return srv


async def _answer(srv: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    while True:
        conn, peer = await loop.sock_accept(srv)
        await loop.sock_recv(conn, 1)
        await loop.sock_sendall(conn, peer[0].encode())
        conn.close()


def _container_output(
    tmp_path: Path, script: str, *args: str, srv: socket.socket | None = None
) -> str:
    """What a container running `script` (with the filter, as a pod's) printed, with
    `srv` answering meanwhile; the container must succeed."""

    async def main() -> str:
        server = asyncio.create_task(_answer(srv)) if srv is not None else None
        spec = process.Spec(
            argv=[sys.executable, "-c", script, *args],
            env=dict(os.environ),
            cwd="/",
            log_path=tmp_path / "c.log",
            pod_ip=POD_IP,
        )
        proc = await process.start(spec)
        assert (await proc.wait()).code == 0, (tmp_path / "c.log").read_text()
        if server is not None:
            server.cancel()
        return (tmp_path / "c.log").read_text()

    try:
        return asyncio.run(main()).strip().split(" ", 3)[3]
    finally:
        if srv is not None:
            srv.close()


@needs_filter
def test_a_container_connects_from_its_pod_ip(tmp_path: Path) -> None:
    srv = _answering_server("0.0.0.0", 0)
    line = _container_output(tmp_path, CONNECTS, str(srv.getsockname()[1]), srv=srv)
    plain, own, dual, udp = line.split("|")
    assert plain == POD_IP
    assert own == "127.0.0.1"
    assert dual == POD_IP  # the server is IPv4: it sees the mapped address's IPv4 side
    assert udp == POD_IP


STAND_IN_CONNECTS = """
import asyncio, socket, sys
ip = sys.argv[1]
out = []
def ask(sock):
    sock.sendall(b"?")
    return sock.recv(64).decode()
blocking = socket.socket()  # no timeout: the connect blocks until it is up
blocking.connect((ip, 80))
out.append(ask(blocking))
out.append(str(blocking.getpeername()[1]))
timed = socket.create_connection((ip, 80), timeout=5)  # non-blocking underneath
out.append(ask(timed))
async def main():
    reader, writer = await asyncio.open_connection(ip, 80)
    writer.write(b"?")
    return (await reader.read(64)).decode()
out.append(asyncio.run(main()))
try:
    socket.create_connection((ip, 81), timeout=5)
except OSError as exc:
    out.append(f"81: {exc.errno}")
print("|".join(out), flush=True)
"""


@needs_filter
@pytest.mark.usefixtures("unprivileged")
def test_a_container_reaches_a_privileged_port_through_its_stand_in(tmp_path: Path) -> None:
    srv = _answering_server(SVC_IP, 80 + 64512)  # a frontend that could not have port 80
    line = _container_output(tmp_path, STAND_IN_CONNECTS, SVC_IP, srv=srv)
    blocking, peer_port, timed, in_asyncio, refused = line.split("|")
    assert blocking == timed == in_asyncio == POD_IP  # reached, from the pod's IP
    assert peer_port == "64592"  # the app can tell where it went
    assert refused == "81: 111"  # no stand-in: refused as before


LOW_BINDS = """
import socket, sys
ip = sys.argv[1]
out = []
for address in (("0.0.0.0", 80), (ip, 81)):
    s = socket.socket()
    s.bind(address)
    s.listen()
    out.append(str(s.getsockname()))
print("|".join(out), flush=True)
"""


@needs_filter
def test_a_container_listens_on_a_privileged_port_at_its_stand_in(
    tmp_path: Path, unprivileged: None
) -> None:
    wildcard, own_ip = _container_output(tmp_path, LOW_BINDS, POD_IP).split("|")
    assert wildcard == str((POD_IP, 64592))
    assert own_ip == str((POD_IP, 64593))
    # and kubelite dials a pod's port 80 there
    assert lowports.pod_port(POD_IP, 80) == 64592
    assert lowports.pod_port(POD_IP, 8080) == 8080
    assert lowports.pod_port("127.0.0.1", 80) == 80  # not a pod: as asked


LOCALHOST = """
import socket, sys, threading
port, host_port, closed = (int(a) for a in sys.argv[1:4])
srv = socket.socket(socket.AF_INET6)  # as `python -m http.server` listens: dual-stack ::
srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
srv.bind(("::", port))
srv.listen(8)
def serve():
    while True:
        conn, peer = srv.accept()
        conn.recv(1)
        conn.sendall(peer[0].encode())
        conn.close()
threading.Thread(target=serve, daemon=True).start()
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.bind(("0.0.0.0", port))
def ask(family, host, port, timeout=None):
    s = socket.socket(family)
    s.settimeout(timeout)  # with one, the connect is non-blocking underneath
    try:
        s.connect((host, port))
        peer = s.getpeername()[0]
        s.sendall(b"?")
        return s.recv(64).decode() + "@" + peer
    except OSError as exc:
        return f"error {exc.errno}"
out = [
    ask(socket.AF_INET, "127.0.0.1", port),
    ask(socket.AF_INET6, "::1", port, timeout=5),
    ask(socket.AF_INET6, "::ffff:127.0.0.1", port),
]
client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
client.connect(("127.0.0.1", port))
client.send(b"ping")
data, peer = udp.recvfrom(64)
out.append(f"{data.decode()} from {peer[0]} to {client.getpeername()[0]}")
out.append(ask(socket.AF_INET, "127.0.0.1", host_port))  # the machine's own localhost
out.append(ask(socket.AF_INET, "127.0.0.1", closed, timeout=5))
print("|".join(out), flush=True)
"""


@needs_filter
def test_a_container_reaches_its_own_servers_on_localhost(tmp_path: Path) -> None:
    port, closed = _free_port(), _free_port()
    host = _answering_server("127.0.0.1", 0)  # a host service on localhost
    args = (str(port), str(host.getsockname()[1]), str(closed))
    line = _container_output(tmp_path, LOCALHOST, *args, srv=host)
    v4, v6, mapped, udp, host_service, refused = line.split("|")
    # the app saw the connection come from the pod IP; the client sees where it went
    assert v4 == f"::ffff:{POD_IP}@{POD_IP}"
    assert v6 == mapped == f"::ffff:{POD_IP}@::ffff:{POD_IP}"
    assert udp == f"ping from {POD_IP} to {POD_IP}"
    assert host_service == f"{POD_IP}@127.0.0.1"  # not the pod's port: the host answers
    assert refused == "error 111"  # nobody anywhere: refused, as before


SERVE = """
import socket, sys
srv = socket.socket()
srv.bind(("0.0.0.0", int(sys.argv[1])))
srv.listen(8)
while True:
    conn, _ = srv.accept()
    conn.sendall(b"app")
    conn.close()
"""

FETCH = """
import socket, sys
with socket.create_connection(("localhost", int(sys.argv[1])), timeout=5) as s:
    print(s.recv(16).decode(), flush=True)
"""


def _spec(tmp_path: Path, name: str, script: str, *args: str, ip: str = POD_IP) -> process.Spec:
    return process.Spec(
        argv=[sys.executable, "-c", script, *args],
        env=dict(os.environ),
        cwd="/",
        log_path=tmp_path / f"{name}.log",
        pod_ip=ip,
    )


def _logged(tmp_path: Path, name: str) -> str:
    """A container's output, without the CRI log's time, stream and tag."""
    lines = (tmp_path / f"{name}.log").read_text().splitlines()
    return "\n".join(line.split(" ", 3)[3] for line in lines)


async def _until(check: Callable[[], object]) -> None:
    for _ in range(200):
        if check():
            return
        await asyncio.sleep(0.025)
    raise AssertionError("timed out")


@needs_filter
def test_a_sidecar_reaches_the_app_of_its_pod_on_localhost_and_not_another_pods(
    tmp_path: Path,
) -> None:
    port = _free_port()
    other_ip = "127.244.9.3"
    table = Listeners()

    async def main() -> list[str]:
        app = await process.start(_spec(tmp_path, "app", SERVE, str(port)))
        try:
            await _until(lambda: table.bound(POD_IP, port))
            fetched = []
            for name, ip in (("sidecar", POD_IP), ("elsewhere", other_ip)):
                proc = await process.start(_spec(tmp_path, name, FETCH, str(port), ip=ip))
                fetched.append((await proc.wait()).code)
            return [str(code) for code in fetched]
        finally:
            app.signal_group(signal.SIGKILL)
            await app.wait()

    codes = asyncio.run(main())
    assert codes[0] == "0" and _logged(tmp_path, "sidecar") == "app"
    # another pod's localhost is its own: the app is not there
    assert codes[1] != "0" and "ConnectionRefusedError" in _logged(tmp_path, "elsewhere")


LOCAL_BINDS = """
import os, socket, sys, time
port, done = int(sys.argv[1]), sys.argv[2]
out = []
def bind(family, host, v6only=None, port=port):
    s = socket.socket(family)
    if v6only is not None:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, v6only)
    try:
        s.bind((host, port))
        s.listen()
    except OSError as exc:
        out.append(f"error {exc.errno}")
        return None
    out.append(str(s.getsockname()[:2]))
    return s
keep = [
    bind(socket.AF_INET, "127.0.0.1"),
    bind(socket.AF_INET6, "::1", v6only=0),  # the pod has 127.0.0.1's port: ::1 it is
    bind(socket.AF_INET6, "::1", v6only=0, port=port + 1),
    bind(socket.AF_INET6, "::1", v6only=1, port=port + 2),  # IPv6 only: its own
    bind(socket.AF_INET, "127.0.0.1", port=0),
]
print("|".join(out), flush=True)
for _ in range(400):  # holding its ports until every replica has bound
    if os.path.exists(done):
        break
    time.sleep(0.025)
"""


@needs_filter
def test_replicas_binding_localhost_each_get_their_pod_ip(tmp_path: Path) -> None:
    port = _free_port()
    ips = ("127.244.9.2", "127.244.9.3")

    done = tmp_path / "done"

    async def main() -> None:
        procs = []
        for i, ip in enumerate(ips):
            spec = _spec(tmp_path, f"r{i}", LOCAL_BINDS, str(port), str(done), ip=ip)
            procs.append(await process.start(spec))
            await _until(partial(_logged, tmp_path, f"r{i}"))  # it has bound
        done.touch()
        for proc in procs:
            assert (await proc.wait()).code == 0

    asyncio.run(main())
    outs = [_logged(tmp_path, f"r{i}").split("|") for i in range(2)]
    for ip, (v4, _, v6, _, any_port) in zip(ips, outs, strict=True):
        assert v4 == str((ip, port))  # both replicas: no EADDRINUSE
        assert v6 == str((f"::ffff:{ip}", port + 1))
        assert any_port.startswith("('127.0.0.1', ")  # port 0 cannot collide: its own
    # ::1 beside the pod's own 127.0.0.1 port and an IPv6-only ::1 keep ::1, so only
    # the first replica may have them
    assert outs[0][1] == str(("::1", port)) and outs[0][3] == str(("::1", port + 2))
    assert outs[1][1] == outs[1][3] == "error 98"


STAND_IN_SELF = """
import socket
srv = socket.socket()
srv.bind(("127.0.0.1", 80))
srv.listen()
c = socket.create_connection(("localhost", 80), timeout=5)
print(srv.getsockname()[1], c.getpeername()[1], flush=True)
"""


@needs_filter
@pytest.mark.usefixtures("unprivileged")
def test_a_container_reaches_its_own_port_80_on_localhost_at_the_stand_in(
    tmp_path: Path,
) -> None:
    assert _container_output(tmp_path, STAND_IN_SELF) == "64592 64592"
