"""One process, the whole cluster: store, API server and every part.

`kubelite up` runs this. The parts meet only through the API: each is a
`Component` handed the in-process client, started after the API answers and
stopped, in reverse order, before it goes away — so `kubelite down` gives
pods their grace period while the API still serves their deletion.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import functools
import io
import logging
import os
import signal
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from ssl import SSLContext
from typing import Any, Protocol

import orjson
import uvicorn

from kubelite.apiserver import client_certs
from kubelite.apiserver.admission import server_plugins
from kubelite.apiserver.bootstrap import bootstrap
from kubelite.apiserver.certs import ensure_tls, service_account_key
from kubelite.apiserver.client import LocalClient
from kubelite.apiserver.csr_signing import Authority
from kubelite.apiserver.healthz import Health, part_check
from kubelite.apiserver.http import ApiApp
from kubelite.apiserver.rest import RestStorage
from kubelite.apiserver.serviceaccount_tokens import ServiceAccountTokens
from kubelite.cli import control_plane_cgroup, kubeconfig
from kubelite.cli.datadir import DataDir, write_private
from kubelite.cli.service_addresses import ServiceAddresses, ServiceAddressPublisher
from kubelite.cli.service_ip import ServiceIPClaim
from kubelite.store import Store

log = logging.getLogger(__name__)

# History kept for watches, and how often it is trimmed; tests shrink both.
COMPACT_INTERVAL_S = float(os.environ.get("KUBELITE_COMPACT_INTERVAL", "60"))
HISTORY_REVISIONS = int(os.environ.get("KUBELITE_HISTORY", "100000"))
# stopping longer than this (past the usual grace periods) logs what is still running
SHUTDOWN_REPORT_S = float(os.environ.get("KUBELITE_SHUTDOWN_REPORT", "45"))


class AlreadyRunning(RuntimeError):
    pass


@dataclass
class UpOptions:
    data_dir: DataDir
    port: int = 6443
    nodes: int = 1
    host: str = "127.0.0.1"
    scheduler_config: Path | None = None
    authorization_mode: str = "AlwaysAllow"  # or "RBAC"
    extra: dict[str, Any] = field(default_factory=dict)


class Component(Protocol):
    """A part of the cluster: runs until cancelled; may report listeners."""

    name: str

    async def run(self, client: LocalClient, ready: asyncio.Event) -> None: ...


@dataclass
class Listener:
    name: str
    app: Any
    port: int
    ssl: bool = False  # the cluster's own certificate (the API)
    # A part's own TLS (the ingress's certificate per host), made when it starts serving.
    context: Callable[[], SSLContext] | None = None
    sock: socket.socket | None = None
    server: uvicorn.Server | None = None

    @property
    def bound_port(self) -> int:
        assert self.sock is not None
        return int(self.sock.getsockname()[1])


def _authorization(
    mode: str, store: Store, addresses: ServiceAddresses | None = None
) -> tuple[Any, list[Any]]:
    """The API's authorizer (None: AlwaysAllow) and admission chain for `mode`; RBAC
    adds upstream's escalation checks on role and binding writes. kubelite's own
    parts use the in-process client, privileged as upstream's loopback client."""
    plugins: list[Any] = server_plugins(addresses.taken_elsewhere if addresses else None)
    if mode != "RBAC":
        return None, plugins
    from kubelite.apiserver.rbac_authorizer import RbacAuthorizer
    from kubelite.apiserver.rbac_escalation import EscalationCheck

    authorizer = RbacAuthorizer(store)
    return authorizer, [*plugins, EscalationCheck(authorizer)]


def bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


class ListenError(OSError):
    """A listener's address could not be bound: the message names it."""


# Listeners on a well-known port other software often holds (a Zipkin of one's own,
# an OpenTelemetry collector, Prometheus): taken, they move to a free port (status
# and the dashboard tell where) rather than keep the cluster from starting.
MOVABLE = {"zipkin": "the Zipkin collector", "otlp": "the OTLP collector",
           "dashboard": "the dashboard"}  # fmt: skip


def bind_listener(host: str, listener: Listener) -> socket.socket:
    try:
        return bind(host, listener.port)
    except OSError as exc:
        what = MOVABLE.get(listener.name)
        if what is not None and listener.port and exc.errno == errno.EADDRINUSE:
            log.warning("port %d (%s) is in use: %s listens on a free port instead",
                        listener.port, what, what)  # fmt: skip
            return bind(host, 0)
        hint = " (--port picks another; --port 0, free ones)" if listener.name == "api" else ""
        raise ListenError(
            exc.errno or 0,
            f"cannot listen on {host}:{listener.port} ({listener.name}): "
            f"{exc.strerror or exc}{hint}",
        ) from None


class Cluster:
    def __init__(self, options: UpOptions) -> None:
        self.options = options
        self.dir = options.data_dir
        self.store: Store | None = None
        self.storage: RestStorage | None = None
        self.client: LocalClient | None = None
        self.listeners: list[Listener] = []
        self.components: list[Component] = []
        self.dns: Any = None
        self.status: dict[str, Any] = {}
        self._ready = False
        self._lock_fd: int | None = None
        self.service_ip = ServiceIPClaim(self.dir)
        self.service_addresses = ServiceAddresses(self.dir.root)
        self.started_at = time.monotonic()

    # ---- lifecycle -----------------------------------------------------------

    def acquire(self) -> None:
        self.dir.ensure()
        fd = os.open(self.dir.lock, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip()
            os.close(fd)
            pid = f" (pid {holder})" if holder.isdigit() else ""
            raise AlreadyRunning(f"kubelite is already running in {self.dir.root}{pid}") from None
        # who holds it, for `status` and `down` when the state file is gone
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    async def run(
        self,
        stop: asyncio.Event,
        on_ready: Callable[[Cluster], Awaitable[None] | None] | None = None,
    ) -> None:
        self.acquire()
        service_ip = self.service_ip.acquire()  # before the store: a new data dir has none
        self.store = Store(self.dir.db, keep_revisions=HISTORY_REVISIONS)
        authorizer, plugins = _authorization(
            self.options.authorization_mode, self.store, self.service_addresses
        )
        self.storage = RestStorage(self.store, admission=plugins)
        tls = ensure_tls(self.dir.tls, service_ip)
        sa_tokens = ServiceAccountTokens(service_account_key(self.dir.tls))
        self.client = LocalClient(self.storage, tokens=sa_tokens)
        token = self.dir.token()
        api = ApiApp(
            self.storage,
            token=token,
            ready=lambda: self._ready,
            tokens=sa_tokens,
            authorizer=authorizer,
        )
        self.api_app = api
        api.client_ca = client_certs.load_ca(tls.ca_cert)
        api.csr_signer = Authority.from_dir(self.dir.tls)
        api_listener = Listener("api", api, self.options.port, ssl=True)
        # Client certificates are asked for, and verified by the API (client_certs).
        api_listener.context = functools.partial(
            client_certs.server_context, tls.cert, tls.key, tls.ca_cert
        )
        api_listener.sock = bind_listener(self.options.host, api_listener)
        self.listeners.append(api_listener)
        await bootstrap(self.client, api_port=api_listener.bound_port, service_ip=service_ip)
        self._add_optional_components()
        for listener in self.listeners[1:]:
            listener.sock = bind_listener(self.options.host, listener)

        server_url = f"https://127.0.0.1:{api_listener.bound_port}"
        write_private(
            self.dir.kubeconfig, kubeconfig.render(server_url, tls.ca_cert.read_bytes(), token)
        )
        async with asyncio.TaskGroup() as tg:
            for listener in self.listeners:
                listener.server = _server(listener, tls if listener.ssl else None)
                assert listener.sock is not None
                tg.create_task(listener.server.serve(sockets=[listener.sock]))
            tg.create_task(self._compact_loop(stop))
            publisher = ServiceAddressPublisher(self.service_addresses, self.store)
            publishing = tg.create_task(publisher.run(self.client, asyncio.Event()))
            component_tasks = []
            for comp in self.components:
                started = asyncio.Event()
                component_tasks.append(
                    (comp, tg.create_task(self._run_component(comp, started)), started)
                )
            _watch_parts(api.health, component_tasks, stop)
            await self._wait_started(component_tasks, stop)
            self._ready = True
            control_plane_cgroup.join_soon()  # the shim, started by now, stays where it is
            self.status = self._status(server_url)
            write_private(
                self.dir.state, orjson.dumps(self.status, option=orjson.OPT_INDENT_2).decode()
            )
            if on_ready is not None:
                result = on_ready(self)
                if asyncio.iscoroutine(result):
                    await result
            await stop.wait()
            self._ready = False
            publishing.cancel()
            watchdog = asyncio.create_task(_report_stuck_shutdown(SHUTDOWN_REPORT_S))
            for comp, task, _ in reversed(component_tasks):
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
                log.debug("%s stopped", comp.name)
            watchdog.cancel()
            self.store.end_watches("server shutting down")  # streams end cleanly
            if self.storage is not None:  # admission webhooks' pooled connections
                with contextlib.suppress(Exception):
                    await self.storage.webhooks.aclose()
            for listener in self.listeners:
                if listener.server is not None:
                    listener.server.should_exit = True
        self.close()

    def close(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.dir.state.unlink()
        if self.store is not None:
            self.store.close()
            self.store = None
        self.service_ip.release()
        self.service_addresses.withdraw()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    async def _wait_started(self, component_tasks: list[Any], stop: asyncio.Event) -> None:
        while not all(x.server and x.server.started for x in self.listeners):
            await asyncio.sleep(0.002)
        for comp, task, started in component_tasks:
            waiter = asyncio.ensure_future(started.wait())
            await asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            if task.done() and task.exception() is not None:
                raise RuntimeError(f"{comp.name} failed to start") from task.exception()

    async def _run_component(self, comp: Component, started: asyncio.Event) -> None:
        assert self.client is not None
        await comp.run(self.client, started)

    async def _warm_openapi(self) -> None:
        """Build the OpenAPI documents off the request path: kubectl apply asks first."""
        from kubelite.apiserver import openapi

        await asyncio.sleep(0.5)
        try:
            await asyncio.to_thread(openapi.openapi_v3_root)
        except Exception:  # served on demand instead
            log.exception("building the OpenAPI documents failed")

    async def _compact_loop(self, stop: asyncio.Event) -> None:
        assert self.store is not None
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), COMPACT_INTERVAL_S)
            if not stop.is_set() and self.store is not None:
                try:
                    self.store.compact()
                except Exception:  # compaction is best effort; the next run retries
                    log.exception("compaction failed")

    def _add_optional_components(self) -> None:
        """Parts that are present in this build; each registers its own listeners."""
        from kubelite.cli import parts

        for comp in parts.components(self):
            self.components.append(comp)
            listeners = getattr(comp, "listeners", None)
            for name, app, port, *context in listeners() if callable(listeners) else []:
                self.listeners.append(Listener(name, app, port, context=next(iter(context), None)))

    def _status(self, api_url: str) -> dict[str, Any]:
        by_name = {x.name: x for x in self.listeners}

        def url(name: str) -> str | None:
            listener = by_name.get(name)
            return f"http://127.0.0.1:{listener.bound_port}" if listener else None

        status: dict[str, Any] = {
            "pid": os.getpid(),
            "dataDir": str(self.dir.root),
            "kubeconfig": str(self.dir.kubeconfig),
            "api": api_url,
            "dashboard": url("dashboard"),
            "zipkin": url("zipkin"),
            "otlp": url("otlp"),
            "dns": None,
            "proxyMode": "none",
            "nodes": [],
            "startupMs": round((time.monotonic() - self.started_at) * 1000, 1),
            "schedulerConfig": str(self.options.scheduler_config)
            if self.options.scheduler_config
            else None,
        }
        for comp in self.components:
            extra = getattr(comp, "status", None)
            if callable(extra):
                status.update(extra())
        return status


def _watch_parts(health: Health, parts: list[Any], stop: asyncio.Event) -> None:
    """`kubectl get cs` and /readyz report the parts' real state: whether the
    scheduler's and the controller manager's tasks run, and whether we are stopping."""
    from kubelite.controllers import ControllerManager
    from kubelite.scheduler.component import COMPONENT as SCHEDULER

    names = {SCHEDULER: "scheduler", ControllerManager.name: "controller-manager"}
    for comp, task, started in parts:
        if comp.name in names:
            health.components[names[comp.name]] = part_check(comp.name, task, started)
    health.readyz["shutdown"] = lambda: "the cluster is shutting down" if stop.is_set() else None


class _WebSockets:
    """uvicorn's wsproto protocol, imported with the first WebSocket (exec, port-forward,
    one through the ingress): a cluster nobody execs into does not carry its 4 MB.
    wsproto takes the subprotocol kubectl's port-forward asks for
    (`SPDY/3.1+portforward.k8s.io`), which the websockets library refuses as no token."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        from uvicorn.protocols.websockets.wsproto_impl import WSProtocol

        return WSProtocol(*args, **kwargs)


_WS: Any = _WebSockets


def _server(listener: Listener, tls: Any) -> uvicorn.Server:
    # The API's (pods/exec, attach, portforward), and an app's that asks (the ingress's).
    websockets = listener.ssl or getattr(listener.app, "serves_websockets", False)
    common: dict[str, Any] = {
        "log_level": "warning",
        "access_log": False,
        "lifespan": "off",
        "loop": "none",
        "http": getattr(listener.app, "http_protocol", "httptools"),  # the ingress's own
        "ws": _WS if websockets else "none",
        "timeout_keep_alive": 120,
        "timeout_graceful_shutdown": 2,
        # No listener sits behind a proxy: the peer and scheme are the connection's, never
        # X-Forwarded-For/-Proto (uvicorn trusts them from 127.0.0.1 by default).
        "proxy_headers": False,
    }
    if listener.ssl:  # the API: the peer's certificate reaches the app (client_certs)
        common |= {"http": client_certs.http_protocol(), "ws": client_certs.WebSockets}
    if listener.context is not None:
        return _QuietServer(_ContextConfig(listener.app, listener.context, **common))
    if tls is not None:
        common |= {"ssl_certfile": str(tls.cert), "ssl_keyfile": str(tls.key)}
    return _QuietServer(uvicorn.Config(listener.app, **common))


class _ContextConfig(uvicorn.Config):
    """A uvicorn config whose SSL context the listener's part makes, not loaded from files."""

    def __init__(self, app: Any, context: Callable[[], SSLContext], **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._context = context

    def load(self) -> None:
        super().load()
        self.ssl = self._context()


class _QuietServer(uvicorn.Server):
    """Signals belong to the cluster, which stops the parts before the servers.

    uvicorn wakes ten times a second to refresh its Date header and to notice
    `should_exit`. With four listeners that was 40 wake-ups a second, most of
    an idle cluster's CPU. Here the header is refreshed once a second (its
    resolution), and setting `should_exit` wakes the server at once.
    """

    def __init__(self, config: uvicorn.Config) -> None:
        self._exit = asyncio.Event()
        super().__init__(config)

    @property  # type: ignore[override]
    def should_exit(self) -> bool:
        return self._exit.is_set()

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        if value:
            self._exit.set()
        else:
            self._exit.clear()

    async def main_loop(self) -> None:
        ticks = 0
        while not await self.on_tick(ticks):
            ticks = (ticks + TICKS_PER_HEADER) % 864000  # on_tick refreshes on multiples of 10
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._exit.wait()

    def capture_signals(self) -> contextlib.AbstractContextManager[None]:  # type: ignore[override]
        return contextlib.nullcontext()


TICKS_PER_HEADER = 10  # uvicorn's ticks are 0.1 s; it refreshes the Date header every 10th


def install_signal_handlers(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)


async def _report_stuck_shutdown(after_s: float) -> None:
    """Log what every task still waits on when stopping takes longer than the
    pods' grace periods should: a part that never ends keeps the process (and
    `kubelite down`, which kills it at last) waiting, and this says which."""
    await asyncio.sleep(after_s)
    me = asyncio.current_task()
    for task in asyncio.all_tasks():
        if task is me or task.done():
            continue
        stack = io.StringIO()
        task.print_stack(limit=12, file=stack)
        log.warning(
            "still stopping after %.0f s: %s\n%s", after_s, task.get_name(), stack.getvalue()
        )
