from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest

from kubelite.kubelet import listeners, probes
from kubelite.kubelet.listeners import Listeners


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[Listeners]:
    """The probes' table, new for each test: nothing read by another test is reused."""
    table = Listeners()
    monkeypatch.setattr(probes, "LISTENERS", table)
    yield table
    table._close()


def _listener(host: str, backlog: int = 8) -> socket.socket:
    srv = socket.socket()
    srv.bind((host, 0))
    srv.listen(backlog)
    return srv


def _queued(srv: socket.socket) -> int:
    """How many connections wait in the listener's accept queue (taken out)."""
    srv.setblocking(False)
    n = 0
    while True:
        try:
            conn, _ = srv.accept()
        except BlockingIOError:
            return n
        conn.close()
        n += 1


def test_a_listener_accepts_on_its_own_address_and_port_only(fresh: Listeners) -> None:
    srv = _listener("127.97.0.1")
    port = srv.getsockname()[1]
    try:
        assert fresh.accepting("127.97.0.1", port)
        assert not fresh.accepting("127.97.0.2", port)
        assert not fresh.accepting("127.97.0.1", port + 1 if port < 65535 else port - 1)
    finally:
        srv.close()


def test_a_wildcard_listener_accepts_on_every_address(fresh: Listeners) -> None:
    srv = _listener("0.0.0.0")
    port = srv.getsockname()[1]
    try:
        assert fresh.accepting("127.97.3.4", port)
    finally:
        srv.close()


def test_a_closed_listener_is_gone_at_once(fresh: Listeners) -> None:
    srv = _listener("127.97.0.1")
    port = srv.getsockname()[1]
    assert fresh.accepting("127.97.0.1", port)
    srv.close()
    assert not fresh.accepting("127.97.0.1", port)
    assert fresh.available


def test_a_dual_stack_listener_accepts_ipv4(fresh: Listeners) -> None:
    srv = socket.socket(socket.AF_INET6)
    srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    srv.bind(("::", 0))
    srv.listen(8)
    try:
        assert fresh.accepting("127.97.0.9", srv.getsockname()[1])
    finally:
        srv.close()


def test_an_established_connection_is_not_a_listener(fresh: Listeners) -> None:
    srv = _listener("127.97.0.1")
    client = socket.create_connection(srv.getsockname())
    conn, _ = srv.accept()
    srv.close()
    try:
        # the connection's own address and port: a SYN there finds no listener
        assert not fresh.accepting(*client.getpeername())
    finally:
        client.close()
        conn.close()


def test_a_full_accept_queue_is_not_taken_as_accepting(fresh: Listeners) -> None:
    srv = _listener("127.97.0.1", backlog=0)  # room for one waiting connection
    port = srv.getsockname()[1]
    first = socket.create_connection(("127.97.0.1", port))
    try:
        time.sleep(0.01)  # the handshake is done in the kernel's softirq
        assert not fresh.accepting("127.97.0.1", port)
    finally:
        first.close()
        srv.close()


def test_a_probe_answered_by_the_table_makes_no_connection(fresh: Listeners) -> None:
    srv = _listener("127.97.0.1")
    port = srv.getsockname()[1]
    try:
        result = asyncio.run(probes.tcp_socket({"port": port}, {}, "127.97.0.1", 1))
        assert result == (True, "")
        assert _queued(srv) == 0
    finally:
        srv.close()


def test_a_full_queue_is_probed_with_a_real_connect_and_its_timeout(fresh: Listeners) -> None:
    srv = _listener("127.97.0.1", backlog=0)
    port = srv.getsockname()[1]
    first = socket.create_connection(("127.97.0.1", port))
    try:
        time.sleep(0.01)
        ok, message = asyncio.run(probes.tcp_socket({"port": port}, {}, "127.97.0.1", 0.2))
    finally:
        first.close()
        srv.close()
    assert (ok, message) == (False, f"dial tcp 127.97.0.1:{port}: i/o timeout")


def test_without_sock_diag_probes_connect(
    fresh: Listeners, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(self: Listeners, addr: bytes, port: int, protocol: int = 0) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(listeners.Listeners, "_lookup", refused)
    srv = _listener("127.97.0.1")
    port = srv.getsockname()[1]
    try:
        result = asyncio.run(probes.tcp_socket({"port": port}, {}, "127.97.0.1", 1))
        assert result == (True, "")
        assert not fresh.available
        time.sleep(0.01)
        assert _queued(srv) == 1  # the probe connected
    finally:
        srv.close()


def test_a_probe_to_a_port_nobody_listens_on_is_still_refused(fresh: Listeners) -> None:
    srv = _listener("127.97.0.1")
    port = srv.getsockname()[1]
    srv.close()
    ok, message = asyncio.run(probes.tcp_socket({"port": port}, {}, "127.97.0.1", 1))
    assert (ok, message) == (False, f"dial tcp 127.97.0.1:{port}: connect: connection refused")


# The connect supervisor's question (`podbind`): does the pod whose IP this is
# serve the port itself? Only a socket bound to the address, never a wildcard.


def test_a_listener_bound_to_the_address_itself_is_bound_there(fresh: Listeners) -> None:
    srv = _listener("127.97.0.1", backlog=0)
    port = srv.getsockname()[1]
    first = socket.create_connection(("127.97.0.1", port))
    try:
        time.sleep(0.01)
        assert fresh.bound("127.97.0.1", port)  # a full queue is still the pod's listener
        assert not fresh.bound("127.97.0.2", port)
        assert not fresh.bound("127.97.0.1", port, udp=True)  # another protocol's port
    finally:
        first.close()
        srv.close()
    assert not fresh.bound("127.97.0.1", port)


def test_a_wildcard_listener_is_no_address_s_own(fresh: Listeners) -> None:
    srv = _listener("0.0.0.0")
    port = srv.getsockname()[1]
    try:
        assert fresh.accepting("127.97.3.4", port)
        assert not fresh.bound("127.97.3.4", port)  # the host's, not the pod's
    finally:
        srv.close()


def test_a_dual_stack_listener_on_the_mapped_address_is_bound_there(fresh: Listeners) -> None:
    srv = socket.socket(socket.AF_INET6)
    srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    srv.bind(("::ffff:127.97.0.5", 0))
    srv.listen(8)
    try:
        assert fresh.bound("127.97.0.5", srv.getsockname()[1])
    finally:
        srv.close()


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6], ids=["ipv4", "mapped"])
def test_a_udp_socket_bound_to_the_address_is_bound_there(
    fresh: Listeners, family: socket.AddressFamily
) -> None:
    host = "127.97.0.6" if family == socket.AF_INET else "::ffff:127.97.0.6"
    udp = socket.socket(family, socket.SOCK_DGRAM)
    wildcard = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((host, 0))
    wildcard.bind(("0.0.0.0", 0))
    try:
        assert fresh.bound("127.97.0.6", udp.getsockname()[1], udp=True)
        assert not fresh.bound("127.97.0.6", udp.getsockname()[1])  # not a TCP listener
        assert not fresh.bound("127.97.0.6", wildcard.getsockname()[1], udp=True)
    finally:
        udp.close()
        wildcard.close()


def test_without_udp_diag_tcp_lookups_go_on(
    fresh: Listeners, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = Listeners._lookup

    def no_udp(self: Listeners, addr: bytes, port: int, protocol: int = 6) -> object:
        if protocol == socket.IPPROTO_UDP:
            raise OSError(95, "Operation not supported")
        return real(self, addr, port, protocol)

    monkeypatch.setattr(listeners.Listeners, "_lookup", no_udp)
    srv = _listener("127.97.0.1")
    try:
        assert not fresh.bound("127.97.0.1", 9, udp=True)
        assert fresh.bound("127.97.0.1", srv.getsockname()[1])
        assert fresh.available
    finally:
        srv.close()
