"""Userspace proxy mode: asyncio TCP and UDP relays on every Service frontend.

Each frontend (ClusterIP:port, node IP:nodePort, load-balancer ingress:port)
listens only while its Service has endpoints: with none, the port is closed,
so a client is refused at once instead of hanging, as kube-proxy's reject
rules do. A connection is relayed with two linked protocols (no copying
through streams) and flow control both ways. A backend that refuses is
skipped for the next endpoint; a backend that resets resets the client;
an endpoint that leaves the Service gets no new connections, and the open
ones drain on their own.

All tasks live in the proxy's task group: one accept loop per listening
frontend, one task per relayed connection, one per UDP frontend.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast

from kubelite.api import lowports
from kubelite.proxy.balancer import Balancer, new_balancer
from kubelite.proxy.servicemap import Endpoint, ServicePort

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 2.0
CONNECT_ATTEMPTS = 4
UDP_IDLE_S = 30.0
Frontend = tuple[str, int, str]  # (ip, port, protocol)


def reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0): the peer sees 'connection reset', not EOF."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class _Pipe(asyncio.Protocol):
    """One side of a relay; writes what it reads to its peer's transport."""

    def __init__(self, done: asyncio.Future[None]) -> None:
        self.peer: _Pipe | None = None
        self.transport: asyncio.Transport | None = None
        self.pending: list[bytes] = []
        self.early: list[bytes] = []
        self.got_eof = False
        self.done = done

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(
            asyncio.Transport, transport
        )  # uvloop's transports are not subclasses
        if self.pending:
            self.transport.writelines(self.pending)
            self.pending.clear()

    def write(self, data: bytes) -> None:
        if self.transport is None:
            self.pending.append(data)
        elif not self.transport.is_closing():
            self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        if self.peer is None:  # read before the relay was linked (uvloop may)
            self.early.append(data)
        else:
            self.peer.write(data)

    def eof_received(self) -> bool:
        self.got_eof = True
        peer = self.peer
        if peer is None:
            return True  # the relay sends it on once linked
        if peer.got_eof:
            self._close_both()
            return False
        if peer.transport is not None and peer.transport.can_write_eof():
            with contextlib.suppress(OSError, RuntimeError):
                peer.transport.write_eof()
        return True

    def connection_lost(self, exc: Exception | None) -> None:
        peer = self.peer
        if peer is not None and peer.transport is not None and not peer.transport.is_closing():
            if isinstance(exc, ConnectionResetError | BrokenPipeError):
                sock = peer.transport.get_extra_info("socket")
                if sock is not None:
                    with contextlib.suppress(OSError):
                        sock.setsockopt(
                            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                        )
                peer.transport.abort()
            else:
                peer.transport.close()
        if not self.done.done():
            self.done.set_result(None)

    def _close_both(self) -> None:
        for side in (self, self.peer):
            if side is not None and side.transport is not None:
                side.transport.close()

    def pause_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.peer is not None and self.peer.transport is not None:
            self.peer.transport.resume_reading()


@dataclass
class _Listener:
    frontend: Frontend
    service: str
    balancer: Balancer
    task: asyncio.Task[None] | None = None
    server: asyncio.AbstractServer | None = None
    udp: asyncio.DatagramTransport | None = None
    sessions: dict[tuple[str, int], _UdpSession] = field(default_factory=dict)


class UserspaceProxy:
    def __init__(
        self,
        *,
        node_ip: str = "127.0.0.1",
        clock: Callable[[], float] = time.monotonic,
        connect_timeout: float = CONNECT_TIMEOUT_S,
    ) -> None:
        self.node_ip = node_ip
        self.clock = clock
        self.connect_timeout = connect_timeout
        self.balancers: dict[str, Balancer] = {}
        self.listeners: dict[Frontend, _Listener] = {}
        self.failed: dict[Frontend, str] = {}
        self._tg: asyncio.TaskGroup | None = None
        self._told_stand_ins = False

    async def run(self, started: asyncio.Event) -> None:
        """Owns every task; closes every listener when cancelled."""
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                started.set()
                await asyncio.Future()  # until cancelled
        finally:
            self._tg = None
            for listener in list(self.listeners.values()):
                self._stop(listener)
            self.listeners.clear()

    # ---- reconciling frontends ----------------------------------------------------

    async def sync(self, ports: list[ServicePort]) -> None:
        wanted: dict[Frontend, str] = {}
        live: dict[str, Balancer] = {}
        for sp in ports:
            if sp.protocol not in ("TCP", "UDP"):
                continue
            live[sp.id] = self._balancer(sp)
            for ip, port in sp.frontends(self.node_ip):
                wanted.setdefault((ip, port, sp.protocol), sp.id)
        self.balancers = live
        for fe in [fe for fe in self.listeners if fe not in wanted]:
            self._stop(self.listeners.pop(fe))
        for fe, sid in wanted.items():
            listener = self.listeners.get(fe)
            if listener is None or listener.service != sid:
                if listener is not None:
                    self._stop(listener)
                listener = self.listeners[fe] = _Listener(fe, sid, live[sid])
            listener.balancer = live[sid]
            await self._open_or_close(listener)
        self.failed = {fe: why for fe, why in self.failed.items() if fe in wanted}

    def _balancer(self, sp: ServicePort) -> Balancer:
        bal = self.balancers.get(sp.id)
        kind = type(new_balancer(sp.policy))
        if bal is None or type(bal) is not kind:
            bal = new_balancer(sp.policy, affinity_s=sp.affinity_timeout, clock=self.clock)
        bal.update(sp.endpoints, affinity_s=sp.affinity_timeout)
        return bal

    async def _open_or_close(self, listener: _Listener) -> None:
        want_open = bool(listener.balancer.endpoints)
        is_open = listener.server is not None or listener.task is not None
        if want_open and not is_open:
            await self._start(listener)
        elif not want_open and is_open and listener.frontend[2] == "TCP":
            self._stop(listener)  # a closed port refuses at once

    async def _start(self, listener: _Listener) -> None:
        assert self._tg is not None, "proxy not running"
        ip, port, proto = listener.frontend
        at = self._bind_port(port)
        try:
            if proto == "TCP":
                sock = _tcp_socket(ip, at)
                listener.server = await asyncio.get_running_loop().create_server(
                    lambda: _ClientSide(self, listener.balancer), sock=sock
                )
            else:
                inbox: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue(maxsize=4096)
                listener.udp = await _udp_frontend(ip, at, inbox)
                listener.task = self._tg.create_task(self._udp_loop(listener, inbox))
        except OSError as exc:
            where = f"{ip}:{port}" if at == port else f"{ip}:{at} (for port {port})"
            why = f"{listener.service}: cannot listen on {where}/{proto}: {exc.strerror or exc}"
            if self.failed.get(listener.frontend) != why:
                log.warning("%s", why)
            self.failed[listener.frontend] = why
            return
        self.failed.pop(listener.frontend, None)

    def _bind_port(self, port: int) -> int:
        """The port a frontend listens on: its own, or its stand-in where this process
        may not bind it (`lowports`; pods still reach it on its own port)."""
        at = lowports.listen_port(port)
        if at != port and not self._told_stand_ins:
            self._told_stand_ins = True
            log.warning(
                "ports below %d need root or CAP_NET_BIND_SERVICE: Service frontends on them "
                "listen on the port + %d at the same address (%d for %d); pods reach them "
                "on their own port",
                lowports.unprivileged_start(),
                lowports.OFFSET,
                at,
                port,
            )
        return at

    def _stop(self, listener: _Listener) -> None:
        if listener.task is not None:
            listener.task.cancel()
            listener.task = None
        if listener.server is not None:
            listener.server.close()  # at once: the next SYN is refused
            listener.server = None
        if listener.udp is not None:
            listener.udp.close()
            listener.udp = None
        for session in listener.sessions.values():
            session.close()
        listener.sessions.clear()

    # ---- TCP --------------------------------------------------------------------------

    def spawn_relay(self, client: _ClientSide) -> None:
        if self._tg is None:
            client.refuse()
            return
        self._tg.create_task(self._relay(client))

    async def _relay(self, client: _ClientSide) -> None:
        loop = asyncio.get_running_loop()
        backend = _Pipe(loop.create_future())
        client.peer, backend.peer = backend, client
        backend.pending.extend(client.early)
        client.early.clear()
        bal = client.balancer
        ep = await self._connect(backend, client.client_ip, bal)
        if ep is None:
            client.refuse()  # nothing answered: reset, never leave the client hanging
            return
        bal.opened(ep)
        try:
            assert client.transport is not None
            client.transport.resume_reading()
            if (
                client.got_eof
                and backend.transport is not None
                and backend.transport.can_write_eof()
            ):
                backend.transport.write_eof()
            await asyncio.gather(client.done, backend.done)
        finally:
            bal.closed(ep)
            for side in (client, backend):
                if side.transport is not None:
                    side.transport.close()

    async def _connect(self, backend: _Pipe, client_ip: str, bal: Balancer) -> Endpoint | None:
        loop = asyncio.get_running_loop()
        tried: list[Endpoint] = []
        for _ in range(CONNECT_ATTEMPTS):
            ep = bal.pick(client_ip, exclude=tried)
            if ep is None:
                return None
            try:
                async with asyncio.timeout(self.connect_timeout):
                    await loop.create_connection(
                        lambda: backend, ep.ip, lowports.pod_port(ep.ip, ep.port)
                    )
                transport = backend.transport
                if transport is not None:
                    sock = transport.get_extra_info("socket")
                    if sock is not None:
                        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                return ep
            except (OSError, TimeoutError) as exc:
                log.debug("endpoint %s failed: %s", ep, exc)
                tried.append(ep)
        return None

    # ---- UDP ----------------------------------------------------------------------------

    async def _udp_loop(
        self, listener: _Listener, inbox: asyncio.Queue[tuple[bytes, tuple[str, int]]]
    ) -> None:
        transport = listener.udp
        assert transport is not None
        try:
            while True:
                try:
                    async with asyncio.timeout(UDP_IDLE_S / 3):
                        data, addr = await inbox.get()
                except TimeoutError:
                    self._expire(listener)
                    continue
                await self._udp_forward(listener, data, addr)
        finally:
            transport.close()
            listener.udp = None

    async def _udp_forward(self, listener: _Listener, data: bytes, addr: tuple[str, int]) -> None:
        session = listener.sessions.get(addr)
        if session is None or session.closed or session.endpoint not in listener.balancer.endpoints:
            ep = listener.balancer.pick(addr[0])
            if ep is None or listener.udp is None:
                return
            session = _UdpSession(listener.udp, addr, ep, self.clock)
            try:
                await asyncio.get_running_loop().create_datagram_endpoint(
                    lambda: session, remote_addr=(ep.ip, lowports.pod_port(ep.ip, ep.port))
                )
            except OSError as exc:  # the datagram is lost, as on an unreachable backend
                log.debug("endpoint %s failed: %s", ep, exc)
                return
            listener.sessions[addr] = session
        session.send(data)

    def _expire(self, listener: _Listener) -> None:
        now = self.clock()
        for addr, session in list(listener.sessions.items()):
            if now - session.last > UDP_IDLE_S:
                session.close()
                del listener.sessions[addr]


class _ClientSide(_Pipe):
    """The accepted connection: paused until its backend is connected."""

    def __init__(self, proxy: UserspaceProxy, balancer: Balancer) -> None:
        super().__init__(asyncio.get_running_loop().create_future())
        self.proxy, self.balancer = proxy, balancer
        self.client_ip = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert self.transport is not None
        self.transport.pause_reading()
        peer = transport.get_extra_info("peername")
        self.client_ip = peer[0] if peer else ""
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.proxy.spawn_relay(self)

    def refuse(self) -> None:
        if self.transport is not None:
            sock = self.transport.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.transport.abort()
        if not self.done.done():
            self.done.set_result(None)


class _UdpFrontend(asyncio.DatagramProtocol):
    def __init__(self, inbox: asyncio.Queue[tuple[bytes, tuple[str, int]]]) -> None:
        self.inbox = inbox

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        with contextlib.suppress(asyncio.QueueFull):  # UDP may drop under overload
            self.inbox.put_nowait((data, addr))


class _UdpSession(asyncio.DatagramProtocol):
    """One client's flow to one endpoint; replies go back from the frontend address."""

    def __init__(
        self,
        frontend: asyncio.DatagramTransport,
        client: tuple[str, int],
        endpoint: Endpoint,
        clock: Callable[[], float],
    ) -> None:
        self.frontend, self.client, self.endpoint, self.clock = frontend, client, endpoint, clock
        self.transport: asyncio.DatagramTransport | None = None
        self.last = clock()
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(
            asyncio.DatagramTransport, transport
        )  # uvloop's transports are not subclasses

    def send(self, data: bytes) -> None:
        self.last = self.clock()
        if self.transport is not None:
            self.transport.sendto(data)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.last = self.clock()
        if not self.frontend.is_closing():
            self.frontend.sendto(data, self.client)

    def error_received(self, exc: Exception) -> None:
        self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


async def _udp_frontend(
    ip: str, port: int, inbox: asyncio.Queue[tuple[bytes, tuple[str, int]]]
) -> asyncio.DatagramTransport:
    """A UDP frontend's socket, bound before its loop starts: a port it cannot have is
    the frontend's failure, reported as a TCP one is, never the proxy's."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((ip, port))
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: _UdpFrontend(inbox), sock=sock
    )
    return transport


def _tcp_socket(ip: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((ip, port))
        sock.listen(1024)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


__all__ = ["UserspaceProxy", "reset"]
