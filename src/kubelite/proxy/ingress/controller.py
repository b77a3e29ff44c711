"""The ingress controller as a part of `kubelite up`: watch, route, report.

It reads Ingresses, IngressClasses, Services and EndpointSlices through the
API only (informers on the in-process client), serves the Ingresses whose
class names `kubelite.io/ingress` as its controller, and answers HTTP (and
HTTPS, with a certificate per host chosen by SNI) on listeners of its own,
which the cluster binds and serves as it does its other listeners. Any change marks the routing snapshot stale; the next
request rebuilds it (pure, `routes` and `endpoints`), so a burst of endpoint
updates costs one rebuild. Each served Ingress gets its address written to
`status.loadBalancer` by a level-triggered reconcile per Ingress key; the
same reconcile records a Warning Event for each ingress-nginx annotation whose
value it had to ignore (once per change of the annotations).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kubelite.apiserver import errors
from kubelite.apiserver.bootstrap import INGRESS_CONTROLLER
from kubelite.controllers.controller import Controller
from kubelite.controllers.events import WARNING
from kubelite.controllers.informer import Handlers
from kubelite.controllers.objects import Obj, copy, key_of
from kubelite.proxy.ingress.annotations import PREFIX, annotations_of, problems_of
from kubelite.proxy.ingress.forwarding import IngressApp
from kubelite.proxy.ingress.routes import RouteTable, is_served, served_classes
from kubelite.proxy.ingress.status import status_change
from kubelite.proxy.ingress.tls import Certificates, lookup, tls_hosts
from kubelite.proxy.servicemap import service_ports

if TYPE_CHECKING:
    from kubelite.apiserver.client import LocalClient

log = logging.getLogger(__name__)

CONTROLLER_NAME = INGRESS_CONTROLLER  # the default class's controller, made at bootstrap
NETWORKING = "networking.k8s.io/v1"


def default_port(host: str = "127.0.0.1") -> int:
    """80 when this process may bind it (root, or CAP_NET_BIND_SERVICE) and it is free."""
    return preferred_port(host, 80, 8080)


def default_tls_port(host: str = "127.0.0.1") -> int:
    """443 when this process may bind it and it is free."""
    return preferred_port(host, 443, 8443)


def preferred_port(host: str, *ports: int) -> int:
    """The first of `ports` this process can bind now; 0 (any free port) when none is:
    a busy 8080 on a developer's machine must not keep the cluster from starting."""
    for port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                continue
        return port
    return 0


class IngressController(Controller):
    """`IngressController(port, bound_port=..., tls_port=..., bound_tls_port=...)`.

    The cluster binds and serves both listeners (`listeners()`); `bound_port()`
    and `bound_tls_port()` read their ports once bound. `tls_port` None: no HTTPS.
    """

    name = "ingress-controller"
    workers = 1

    def __init__(
        self,
        port: int = 8080,
        *,
        bound_port: Callable[[], int | None] = lambda: None,
        address: str = "127.0.0.1",
        controller: str = CONTROLLER_NAME,
        tls_port: int | None = None,
        bound_tls_port: Callable[[], int | None] = lambda: None,
    ) -> None:
        super().__init__()
        self.port = port
        self.tls_port = tls_port
        self.address = address
        self.controller = controller
        self._bound_port = bound_port
        self.bound_tls_port = bound_tls_port
        self._stale = True
        self._reported: dict[str, dict[str, str]] = {}  # key -> annotations last reported on
        self.app = IngressApp(refresh=self.refresh, tls_port=bound_tls_port)
        self.certificates = Certificates(refresh=self.refresh)

    # ---- the cluster's view of this part ---------------------------------------------

    def listeners(self) -> list[tuple[Any, ...]]:
        http: tuple[Any, ...] = ("ingress", self.app, self.port)
        if self.tls_port is None:
            return [http]
        return [http, ("ingress-https", self.app, self.tls_port, self._tls_context)]

    def _tls_context(self) -> ssl.SSLContext:
        return self.certificates.context()

    def status(self) -> dict[str, Any]:
        port, tls_port = self._bound_port(), self.bound_tls_port()
        return {
            "ingress": f"http://{self.address}:{port}" if port else None,
            "ingressHttps": f"https://{self.address}:{tls_port}" if tls_port else None,
        }

    # ---- informers -------------------------------------------------------------------

    def setup(self) -> None:
        self.ingresses = self.informers.informer(NETWORKING, "Ingress")
        self.classes = self.informers.informer(NETWORKING, "IngressClass")
        self.services = self.informers.informer("v1", "Service")
        self.slices = self.informers.informer("discovery.k8s.io/v1", "EndpointSlice")
        self.ingresses.add_handlers(
            Handlers(
                on_add=lambda o: self._changed(o),
                on_update=lambda _o, n: self._changed(n),
                on_delete=lambda _o: self._mark_stale(),
            )
        )
        every = Handlers(
            on_add=lambda _o: self._mark_stale(),
            on_update=lambda _o, _n: self._mark_stale(),
            on_delete=lambda _o: self._mark_stale(),
        )
        self.services.add_handlers(every)
        self.slices.add_handlers(every)
        if self.tls_port is not None:
            self.secrets = self.informers.informer("v1", "Secret")
            self.secrets.add_handlers(every)
        self.classes.add_handlers(
            Handlers(
                on_add=lambda _o: self._classes_changed(),
                on_update=lambda _o, _n: self._classes_changed(),
                on_delete=lambda _o: self._classes_changed(),
            )
        )

    def _mark_stale(self) -> None:
        self._stale = True

    def _changed(self, ingress: Obj) -> None:
        self._stale = True
        self.enqueue(key_of(ingress))

    def _classes_changed(self) -> None:
        self._stale = True
        for ingress in self.ingresses.list():
            self.enqueue(key_of(ingress))

    # ---- routing ---------------------------------------------------------------------

    def served(self) -> list[Obj]:
        classes = served_classes(self.classes.list(), self.controller)
        return [i for i in self.ingresses.list() if is_served(i, classes)]

    def refresh(self) -> None:
        """Rebuild the routing snapshot if anything changed since the last one."""
        if not self._stale:
            return
        self._stale = False
        served = self.served()
        hosts = tls_hosts(served) if self.tls_port is not None else {}
        table = RouteTable(served, tls_host=lambda host: lookup(hosts, host) is not None)
        self.app.endpoints.update(
            table.backends(), service_ports(self.services.list(), self.slices.list(), headless=True)
        )
        self.app.table = table
        if self.tls_port is not None:
            self.certificates.update(served, lambda ref: self.secrets.get(f"{ref[0]}/{ref[1]}"))

    # ---- status ----------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        ingress = self.ingresses.get(key)
        if ingress is None:
            self._reported.pop(key, None)
            return None
        classes = served_classes(self.classes.list(), self.controller)
        served = is_served(ingress, classes)
        if served:
            await self._report(key, ingress)
        tls = bool((ingress.get("spec") or {}).get("tls"))
        want = status_change(
            ingress,
            served=served,
            address=self.address,
            port=self._bound_port(),
            tls_port=self.bound_tls_port() if tls else None,
        )
        if want is None:
            return None
        out = copy(ingress)
        out.setdefault("status", {})["loadBalancer"] = want
        with contextlib.suppress(errors.NotFound):
            await self.client.update_status(out)
        return None

    async def _report(self, key: str, ingress: Obj) -> None:
        """A Warning Event per annotation ignored for its value, once per change of them."""
        annotations = annotations_of(ingress)
        if self._reported.get(key) == annotations:
            return
        self._reported[key] = annotations
        for name, reason in problems_of(ingress):
            log.warning("ingress %s: annotation %s%s ignored: %s", key, PREFIX, name, reason)
            await self.recorder.event(
                ingress, WARNING, "InvalidAnnotation", f"{PREFIX}{name}: {reason}"
            )

    async def run(self, client: LocalClient, ready: asyncio.Event) -> None:
        self.bind(client)
        try:
            async with asyncio.TaskGroup() as tg:
                synced = asyncio.Event()
                tg.create_task(self.informers.run(client, synced))
                await synced.wait()
                ready.set()
                tg.create_task(self.run_workers())
        finally:
            await self.app.aclose()


__all__ = ["CONTROLLER_NAME", "IngressController", "default_port", "default_tls_port"]
