"""Service discovery: a service name becomes a live list of ready endpoints.

The source of truth is the API's `discovery.k8s.io/v1` EndpointSlices labelled
`kubernetes.io/service-name=<service>`, as kube-proxy and Envoy's Kubernetes
integrations read them. One watcher thread per (namespace, service) lists the
slices, then watches from the list's resourceVersion, so a scale up or down
reaches callers as soon as the API server sends the event; a 410 or a dropped
stream means a fresh list. State lives in `EndpointSet`, a sync object that
takes slice events and publishes an immutable endpoint tuple, so request
paths read it without locks and tests drive it without an API.

Ports: a slice lists target ports. A caller may name the port ("http"), give
the Service port number (mapped to the slice port through the Service's
`spec.ports` names, as kube-proxy does), or nothing when the service has one port.

When the API cannot be reached before the first list, discovery falls back to
the Service's ClusterIP: `<SERVICE>_SERVICE_HOST`/`_PORT` environment variables
(Kubernetes sets them in pods) or DNS `<service>.<namespace>.svc.cluster.local`.
A ClusterIP endpoint lets kube-proxy (or kubelite's proxy) balance instead.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kubelite.mesh.balancers import Endpoint
from kubelite.mesh.errors import ForbiddenError, NoEndpointsError

__all__ = [
    "SERVICE_NAME_LABEL",
    "Discovery",
    "EndpointSet",
    "ExternalNameLoopError",
    "PortNotFoundError",
    "ServiceForbiddenError",
    "ServiceNotFoundError",
    "StaticDiscovery",
    "endpoints_from_slice",
    "fallback_endpoints",
]

log = logging.getLogger(__name__)

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
PortSpec = int | str | None
_WATCH_TIMEOUT_S = 50  # the server ends the watch; we list again only on errors
_RETRY_MIN_S, _RETRY_MAX_S = 0.2, 5.0


class ServiceNotFoundError(NoEndpointsError):
    """The API answers, and has no such Service in that namespace."""

    def __init__(self, service: str, namespace: str) -> None:
        super().__init__(service, namespace)
        Exception.__init__(self, f'service "{service}" not found in namespace "{namespace}"')


class ExternalNameLoopError(NoEndpointsError):
    """ExternalName Services name each other, or one another, in a loop."""

    def __init__(self, service: str, namespace: str, hops: int) -> None:
        super().__init__(service, namespace)
        Exception.__init__(
            self,
            f'service "{service}" in namespace "{namespace}": more than {hops} '
            "ExternalName Services followed (a loop?)",
        )


class ServiceForbiddenError(NoEndpointsError, ForbiddenError):
    """The API refused the reads discovery needs, and no ClusterIP fallback was found."""

    def __init__(self, service: str, namespace: str, message: str) -> None:
        ForbiddenError.__init__(
            self,
            f'cannot discover service "{service}" in namespace "{namespace}"',
            message,
            hint="grant the pod's service account get, list and watch on services and "
            "discovery.k8s.io endpointslices with a Role and RoleBinding",
        )
        self.service = service
        self.namespace = namespace


class PortNotFoundError(NoEndpointsError):
    """The Service has endpoints, but no port matching the one asked for."""

    def __init__(self, service: str, namespace: str, port: int | str, ports: list[str]) -> None:
        super().__init__(service, namespace)
        self.port = port
        self.ports = ports
        Exception.__init__(
            self,
            f'service "{service}" in namespace "{namespace}" has no port {port!r} '
            f"(its ports: {', '.join(ports) or 'none'})",
        )


def _pick_port(ports: Sequence[Mapping[str, Any]], want: PortSpec, names: Mapping[int, str]) -> int:
    """The slice port that `want` designates, or -1 when the slice has none."""
    if not ports:
        return -1
    if want is None:
        if len(ports) == 1:
            return int(ports[0].get("port") or -1)
        for preferred in ("http", "grpc", "web"):
            for p in ports:
                if p.get("name") == preferred:
                    return int(p.get("port") or -1)
        return int(ports[0].get("port") or -1)
    if isinstance(want, int) and want in names:
        want = names[want]
    for p in ports:
        if (isinstance(want, str) and p.get("name") == want) or p.get("port") == want:
            return int(p.get("port") or -1)
    if isinstance(want, int) and len(ports) == 1:
        return int(ports[0].get("port") or -1)
    return -1


def endpoints_from_slice(
    slice_obj: Mapping[str, Any], port: PortSpec = None, names: Mapping[int, str] | None = None
) -> list[Endpoint]:
    """The endpoints of one EndpointSlice (a camelCase dict) for the chosen port."""
    number = _pick_port(slice_obj.get("ports") or [], port, names or {})
    if number < 0:
        return []
    out: list[Endpoint] = []
    for ep in slice_obj.get("endpoints") or []:
        conditions = ep.get("conditions") or {}
        # Kubernetes: a nil "ready" means unknown, which consumers treat as ready.
        ready = conditions.get("ready") is not False
        ref = ep.get("targetRef") or {}
        name = ref.get("name") or ep.get("hostname") or ""
        for address in ep.get("addresses") or []:
            out.append(Endpoint(address, number, name=name, zone=ep.get("zone") or "", ready=ready))
    return out


class EndpointSet:
    """The endpoints of one service, rebuilt from its slices on every event.

    `endpoints` is an immutable tuple swapped whole, so readers on any thread
    see either the old or the new list. `version` grows with every change.
    """

    def __init__(self, service: str, namespace: str, port: PortSpec = None) -> None:
        self.service = service
        self.namespace = namespace
        self.port = port
        self.endpoints: tuple[Endpoint, ...] = ()
        self._ready: tuple[Endpoint, ...] = ()
        self.version = 0
        self.service_exists: bool | None = None
        self.forbidden: str | None = None  # the API's 403 message while reads are refused
        self.external_name: str | None = None  # an ExternalName Service's DNS name
        self.port_names: dict[int, str] = {}
        self.fallback = False
        self.synced = threading.Event()
        self._slices: dict[str, Mapping[str, Any]] = {}
        self._listeners: list[Callable[[tuple[Endpoint, ...]], None]] = []

    def add_listener(self, listener: Callable[[tuple[Endpoint, ...]], None]) -> None:
        self._listeners.append(listener)

    def replace(self, slices: Sequence[Mapping[str, Any]]) -> bool:
        """A full list: forget slices not in it."""
        self._slices = {s["metadata"]["name"]: s for s in slices}
        self.fallback = False
        self.forbidden = None
        return self._publish()

    def apply(self, event_type: str, slice_obj: Mapping[str, Any]) -> bool:
        """One watch event (ADDED, MODIFIED, DELETED); returns whether endpoints changed."""
        name = slice_obj["metadata"]["name"]
        if event_type == "DELETED":
            self._slices.pop(name, None)
        else:
            self._slices[name] = slice_obj
            self.service_exists = True
        return self._publish()

    def set_fallback(self, endpoints: Sequence[Endpoint]) -> None:
        self.fallback = True
        self._set(tuple(endpoints))

    def ready(self) -> tuple[Endpoint, ...]:
        """The ready endpoints, or a typed error naming the service."""
        if self._ready:
            return self._ready
        if self.service_exists is False:
            raise ServiceNotFoundError(self.service, self.namespace)
        if self.forbidden is not None and not self.endpoints:
            raise ServiceForbiddenError(self.service, self.namespace, self.forbidden)
        ports = self._ports_when_none_match()
        if ports is not None and self.port is not None:
            raise PortNotFoundError(self.service, self.namespace, self.port, ports)
        raise NoEndpointsError(self.service, self.namespace)

    def _ports_when_none_match(self) -> list[str] | None:
        """The Service's ports when its slices have ports but none is the one asked for."""
        if self.port is None or self.endpoints:
            return None
        slice_ports = [p for s in self._slices.values() for p in s.get("ports") or []]
        if not slice_ports or _pick_port(slice_ports, self.port, self.port_names) >= 0:
            return None  # no ports known yet, or the port exists and its endpoints are gone
        if self.port_names:
            return [f"{number}/{name}" for number, name in sorted(self.port_names.items())]
        return sorted({str(p.get("name") or p.get("port")) for p in slice_ports})

    def _publish(self) -> bool:
        found: list[Endpoint] = []
        seen: set[tuple[str, int]] = set()
        for name in sorted(self._slices):
            for e in endpoints_from_slice(self._slices[name], self.port, self.port_names):
                if (e.address, e.port) not in seen:  # an address may sit in two slices
                    seen.add((e.address, e.port))
                    found.append(e)
        return self._set(tuple(found))

    def _set(self, endpoints: tuple[Endpoint, ...]) -> bool:
        if endpoints == self.endpoints:
            return False
        self.endpoints = endpoints
        # One tuple per change, so balancers and outlier detection keyed on
        # the sequence's identity rebuild only when membership changes.
        self._ready = tuple(e for e in endpoints if e.ready)
        self.version += 1
        log.debug("endpoints %s/%s: %d (%d ready)", self.namespace, self.service,
                  len(endpoints), sum(e.ready for e in endpoints))  # fmt: skip
        for listener in self._listeners:
            try:
                listener(endpoints)
            except Exception:
                log.exception("endpoints %s/%s: listener failed", self.namespace, self.service)
        return True


def fallback_endpoints(service: str, namespace: str, port: PortSpec) -> list[Endpoint]:
    """The Service's ClusterIP from the environment or DNS (empty when unknown)."""
    env_name = service.upper().replace("-", "_")
    host = os.environ.get(f"{env_name}_SERVICE_HOST")
    env_port = os.environ.get(f"{env_name}_SERVICE_PORT")
    number = port if isinstance(port, int) else int(env_port) if env_port else 80
    if host:
        return [Endpoint(host, number, name=f"{service} (ClusterIP)")]
    for name in (f"{service}.{namespace}.svc.cluster.local", f"{service}.{namespace}", service):
        try:
            infos = socket.getaddrinfo(name, number, type=socket.SOCK_STREAM)
        except OSError:
            continue
        addresses = sorted({str(info[4][0]) for info in infos})
        return [Endpoint(a, number, name=f"{service} (DNS)") for a in addresses]
    return []


class _SliceWatcher:
    """Lists then watches one service's slices on a daemon thread until stopped."""

    def __init__(self, access: Any, eset: EndpointSet) -> None:
        self._access = access
        self._eset = eset
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"mesh-watch-{eset.namespace}/{eset.service}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        delay = _RETRY_MIN_S
        while not self._stop.is_set():
            try:
                version = self._list()
                delay = _RETRY_MIN_S
                self._watch(version)
            except Exception as exc:  # API down, 410 Gone, stream cut: list again
                self._on_error(exc)
                self._stop.wait(delay)
                delay = min(delay * 2, _RETRY_MAX_S)

    def _list(self) -> str:
        eset, api = self._eset, self._access.discovery()
        self._read_service()
        result = api.list_namespaced_endpoint_slice(
            eset.namespace, label_selector=f"{SERVICE_NAME_LABEL}={eset.service}"
        )
        plain = self._access.api_client.sanitize_for_serialization(result)
        eset.replace(plain.get("items") or [])
        eset.synced.set()
        return str(plain.get("metadata", {}).get("resourceVersion") or "")

    def _read_service(self) -> None:
        from kubernetes.client.exceptions import ApiException

        eset = self._eset
        try:
            svc = self._access.core().read_namespaced_service(eset.service, eset.namespace)
        except ApiException as exc:
            if exc.status == 404:
                eset.service_exists = False
                eset.external_name = None
                return
            raise
        eset.service_exists = True
        eset.port_names = {p.port: p.name for p in (svc.spec.ports or []) if p.name}
        external = svc.spec.external_name if svc.spec.type == "ExternalName" else None
        eset.external_name = external.rstrip(".").lower() if external else None

    def _ports_unknown(self, slice_: dict[str, Any]) -> bool:
        eset = self._eset
        if eset.service_exists is not True:
            return True
        named = {p.get("name") for p in slice_.get("ports") or [] if p.get("name")}
        return not named <= set(eset.port_names.values())

    def _watch(self, version: str) -> None:
        from kubernetes import watch

        eset, api = self._eset, self._access.discovery()
        w = watch.Watch()
        stream = w.stream(
            api.list_namespaced_endpoint_slice,
            eset.namespace,
            label_selector=f"{SERVICE_NAME_LABEL}={eset.service}",
            resource_version=version,
            timeout_seconds=_WATCH_TIMEOUT_S,
            allow_watch_bookmarks=True,
        )
        for event in stream:
            if self._stop.is_set():
                w.stop()
                return
            kind = event["type"]
            if kind == "ERROR":
                raise RuntimeError(f"watch error: {event.get('raw_object')}")
            if kind == "BOOKMARK":
                continue
            self._on_event(
                kind, self._access.api_client.sanitize_for_serialization(event["object"])
            )

    def _on_event(self, kind: str, obj: dict[str, Any]) -> None:
        if kind != "DELETED" and self._ports_unknown(obj):
            # A Service made (or its ports renamed) since the list: its port names
            # map the caller's port to the slice's, so it is read again.
            self._read_service()
        self._eset.apply(kind, obj)

    def _on_error(self, exc: Exception) -> None:
        from kubelite.mesh.kube import forbidden_message

        eset = self._eset
        forbidden = forbidden_message(exc)
        if forbidden is not None:
            eset.forbidden = forbidden
        log.warning("endpoints %s/%s: API watch failed (%s); retrying",
                    eset.namespace, eset.service, exc)  # fmt: skip
        if not eset.synced.is_set():
            eset.set_fallback(fallback_endpoints(eset.service, eset.namespace, eset.port))
            eset.synced.set()


class Discovery:
    """Shared endpoint sets, one watch per (namespace, service, port) in the process."""

    def __init__(self, access: Any | None = None, *, sync_timeout: float = 5.0) -> None:
        self._access = access
        self._sets: dict[tuple[str, str, PortSpec], EndpointSet] = {}
        self._watchers: list[_SliceWatcher] = []
        self._lock = threading.Lock()
        self.sync_timeout = sync_timeout

    @property
    def namespace(self) -> str:
        return self._api().namespace

    def _api(self) -> Any:
        if self._access is None:
            from kubelite.mesh.kube import connect

            self._access = connect()
        return self._access

    def endpoint_set(
        self, service: str, namespace: str | None = None, port: PortSpec = None
    ) -> EndpointSet:
        key = (namespace or self.namespace, service, port)
        with self._lock:
            eset = self._sets.get(key)
            if eset is None:
                eset = self._sets[key] = EndpointSet(service, key[0], port)
                watcher = _SliceWatcher(self._api(), eset)
                self._watchers.append(watcher)
                watcher.start()
        return eset

    async def wait_synced(self, eset: EndpointSet) -> None:
        if not eset.synced.is_set():
            await asyncio.to_thread(eset.synced.wait, self.sync_timeout)

    def close(self) -> None:
        for watcher in self._watchers:
            watcher.stop()


class StaticDiscovery:
    """Fixed endpoints per service: the seam for tests and local runs."""

    def __init__(self, services: Mapping[str, Sequence[Endpoint]], namespace: str = "default"):
        self.namespace = namespace
        self._sets: dict[str, EndpointSet] = {}
        for name, endpoints in services.items():
            self.set(name, endpoints)

    def set(self, service: str, endpoints: Sequence[Endpoint]) -> EndpointSet:
        eset = self._sets.get(service)
        if eset is None:
            eset = self._sets[service] = EndpointSet(service, self.namespace)
            eset.service_exists = True
            eset.synced.set()
        eset._set(tuple(endpoints))
        return eset

    def endpoint_set(
        self, service: str, namespace: str | None = None, port: PortSpec = None
    ) -> EndpointSet:
        eset = self._sets.get(service)
        if eset is None:
            eset = EndpointSet(service, namespace or self.namespace, port)
            eset.service_exists = False
            eset.synced.set()
        return eset

    async def wait_synced(self, eset: EndpointSet) -> None:
        return None

    def close(self) -> None:
        return None
