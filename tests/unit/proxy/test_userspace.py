"""The userspace proxy against real backends on pod addresses (127.244.0.x)."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from kubelite.api import lowports
from kubelite.proxy.servicemap import Endpoint, ServicePort
from kubelite.proxy.userspace import UserspaceProxy, reset

pytestmark = pytest.mark.anyio

# A ClusterIP and port no cluster on this machine is likely to use.
VIP = f"127.96.{random.randint(200, 250)}.{random.randint(2, 250)}"
PORT = random.randint(20000, 29000)


async def _backend(ip: str) -> asyncio.Server:
    """Answers each line with its own address; 'die' resets the connection."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while line := await reader.readline():
            if line == b"die\n":
                reset(writer.get_extra_info("socket").dup())
                writer.transport.abort()
                return
            writer.write(ip.encode() + b"\n")
            await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, ip, 0)


@contextlib.asynccontextmanager
async def proxy_with(n: int, **kw: object) -> AsyncIterator[tuple[UserspaceProxy, list[Endpoint]]]:
    servers = [await _backend(f"127.244.0.{i + 2}") for i in range(n)]
    eps = [Endpoint(s.sockets[0].getsockname()[0], s.sockets[0].getsockname()[1]) for s in servers]
    proxy = UserspaceProxy()
    started = asyncio.Event()
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(proxy.run(started))
        await started.wait()
        try:
            yield proxy, eps
        finally:
            task.cancel()
            for s in servers:
                s.close()


def port(eps: list[Endpoint], **kw: object) -> ServicePort:
    return ServicePort("default", "web", "http", "TCP", VIP, PORT, endpoints=tuple(eps), **kw)  # type: ignore[arg-type]


async def ask(line: bytes = b"hi\n") -> str:
    reader, writer = await asyncio.open_connection(VIP, PORT)
    writer.write(line)
    answer = await reader.readline()
    writer.close()
    return answer.decode().strip()


async def test_round_robin_spreads_evenly() -> None:
    async with proxy_with(3) as (proxy, eps):
        await proxy.sync([port(eps)])
        seen = Counter([await ask() for _ in range(30)])
        assert seen == {"127.244.0.2": 10, "127.244.0.3": 10, "127.244.0.4": 10}


async def test_no_endpoints_refuses_at_once() -> None:
    async with proxy_with(1) as (proxy, eps):
        await proxy.sync([port([])])
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(VIP, PORT)
        await proxy.sync([port(eps)])  # endpoints arrive: the port opens
        assert await ask() == "127.244.0.2"
        await proxy.sync([port([])])
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(VIP, PORT)


async def test_removed_endpoint_drains() -> None:
    async with proxy_with(2) as (proxy, eps):
        await proxy.sync([port(eps)])
        reader, writer = await asyncio.open_connection(VIP, PORT)
        writer.write(b"a\n")
        first = (await reader.readline()).decode().strip()
        await proxy.sync([port([e for e in eps if e.ip != first])])
        writer.write(b"b\n")  # the open connection keeps its backend
        assert (await reader.readline()).decode().strip() == first
        assert {await ask() for _ in range(4)} == {e.ip for e in eps if e.ip != first}
        writer.close()


async def test_backend_reset_resets_client_and_next_goes_elsewhere() -> None:
    async with proxy_with(2) as (proxy, eps):
        await proxy.sync([port(eps)])
        reader, writer = await asyncio.open_connection(VIP, PORT)
        writer.write(b"die\n")
        with pytest.raises(ConnectionResetError):
            await reader.readline()
            await reader.readline()
        writer.close()
        assert await ask() == "127.244.0.3"


async def test_refusing_endpoint_is_skipped() -> None:
    async with proxy_with(1) as (proxy, eps):
        dead = Endpoint("127.244.0.250", 1)  # nothing listens there
        await proxy.sync([port([dead, *eps])])
        assert [await ask() for _ in range(3)] == ["127.244.0.2"] * 3


async def test_udp_relay() -> None:
    loop = asyncio.get_running_loop()

    class Echo(asyncio.DatagramProtocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            self.transport.sendto(b"echo:" + data, addr)  # type: ignore[attr-defined]

    backend, _ = await loop.create_datagram_endpoint(Echo, local_addr=("127.244.0.5", 0))
    ep = Endpoint("127.244.0.5", backend.get_extra_info("sockname")[1])
    got: asyncio.Future[bytes] = loop.create_future()

    class Client(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            got.set_result(data)

    async with proxy_with(0) as (proxy, _):
        await proxy.sync([ServicePort("default", "dns", "", "UDP", VIP, PORT, endpoints=(ep,))])
        while not any(x.udp for x in proxy.listeners.values()):
            await asyncio.sleep(0)
        client, _ = await loop.create_datagram_endpoint(Client, remote_addr=(VIP, PORT))
        client.sendto(b"ping")
        assert await got == b"echo:ping"
        client.close()
    backend.close()


async def test_a_udp_frontend_that_cannot_bind_fails_alone() -> None:
    taken = VIP.rsplit(".", 1)[0] + ".251"
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    holder.bind((taken, PORT))  # another program has this address and port
    try:
        async with proxy_with(1) as (proxy, eps):
            udp = ServicePort("default", "dns", "", "UDP", taken, PORT, endpoints=tuple(eps))
            await proxy.sync([udp, port(eps)])
            assert "cannot listen on" in proxy.failed[(taken, PORT, "UDP")]
            assert await ask() == "127.244.0.2"  # the proxy and its other frontends go on
            await proxy.sync([udp, port(eps)])  # and a later sync is no different
            assert await ask() == "127.244.0.2"
    finally:
        holder.close()


async def test_a_port_this_process_may_not_bind_listens_on_its_stand_in(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(lowports, "may_bind", lambda p: p >= 1024)  # as without root
    async with proxy_with(1) as (proxy, eps):
        web = ServicePort("default", "web", "http", "TCP", VIP, 80, endpoints=tuple(eps))
        await proxy.sync([web])
        reader, writer = await asyncio.open_connection(VIP, lowports.stand_in(80))
        writer.write(b"hi\n")
        assert (await reader.readline()).decode().strip() == "127.244.0.2"
        writer.close()
        assert proxy.failed == {}
