"""The routing table: which backend answers a request, from the Ingresses alone.

Pure and synchronous, so tests check the precedence rules directly. The
rules follow the Ingress spec as controllers implement it:

- host: an exact rule host first, then a `*.` wildcard matching exactly one
  leading label, then rules without a host (they match every host); a group
  whose paths all miss falls through to the next one, as each Ingress rule is
  a route of its own;
- path: the longest matching path wins, Exact before Prefix of the same
  length; Prefix matches whole path elements (`/foo` matches `/foo` and
  `/foo/bar`, not `/foobar`; a trailing `/` is ignored);
  ImplementationSpecific is treated as Prefix (empty means `/`);
- equal routes from several Ingresses: the oldest Ingress wins;
- nothing matches: the oldest `defaultBackend` among the Ingresses, else none.

ingress-nginx's annotations (`annotations`) are resolved here, once per
rebuild, into each route's `policy` (None for an Ingress without any, whose
requests then take the plain path). As in ingress-nginx, `use-regex` or a
`rewrite-target` on any Ingress of a host turns every path of that host into
a case-insensitive regular expression matched as a prefix (`^path`), Exact
paths included, tried longest first; `app-root` applies to the whole host; a
canary Ingress serves no route of its own but joins the route of the same
host, path and type as an alternative backend.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kubelite.proxy.ingress.annotations import Canary, Policy, parse

log = logging.getLogger(__name__)

Obj = Mapping[str, Any]

INGRESS_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
_TYPE_RANK = {"Exact": 0, "Prefix": 1}


@dataclass(frozen=True)
class Backend:
    """A Service port in a namespace (`port` is a number or a port name), or a resource."""

    namespace: str
    service: str = ""
    port: int | str = 0
    resource: str = ""  # `kind/name` of a resource backend, which kubelite does not serve

    def __str__(self) -> str:
        if self.resource:
            return f"{self.namespace}/{self.resource}"
        return f"{self.namespace}/{self.service}:{self.port}"


@dataclass(frozen=True)
class Route:
    host: str  # "" (any host), "foo.com" or "*.foo.com"
    path: str
    exact: bool
    backend: Backend
    ingress: str  # namespace/name, for logs
    age_key: tuple[str, str] = ("", "")  # (creationTimestamp, namespace/name): oldest first
    policy: Policy | None = None  # from the Ingress's annotations; None: none apply

    def matches_path(self, path: str) -> bool:
        if self.exact:
            return path == self.path
        prefix = self.path.rstrip("/")
        return not prefix or path == prefix or path.startswith(prefix + "/")

    @property
    def order(self) -> tuple[int, int, tuple[str, str]]:
        return (-len(self.path), 0 if self.exact else 1, self.age_key)


@dataclass(frozen=True)
class RegexRoute(Route):
    """A route of a host where ingress-nginx's regex paths are on: `^path`, any case."""

    pattern: re.Pattern[str] | None = None

    def matches_path(self, path: str) -> bool:
        return self.pattern is not None and self.pattern.match(path) is not None


def backend_of(namespace: str, backend: Obj) -> Backend:
    service = backend.get("service")
    if isinstance(service, Mapping):
        port = service.get("port") or {}
        return Backend(
            namespace, service.get("name") or "", port.get("name") or port.get("number") or 0
        )
    resource = backend.get("resource") or {}
    return Backend(namespace, resource=f"{resource.get('kind', '')}/{resource.get('name', '')}")


def _age_key(ingress: Obj) -> tuple[str, str]:
    md = ingress.get("metadata") or {}
    return md.get("creationTimestamp") or "", f"{md.get('namespace', '')}/{md.get('name', '')}"


def routes_of(ingress: Obj, policy: Policy | None = None) -> list[Route]:
    md, spec = ingress.get("metadata") or {}, ingress.get("spec") or {}
    namespace, age = md.get("namespace") or "", _age_key(ingress)
    out: list[Route] = []
    for rule in spec.get("rules") or []:
        host = (rule.get("host") or "").lower()
        for entry in (rule.get("http") or {}).get("paths") or []:
            path_type = entry.get("pathType") or "ImplementationSpecific"
            out.append(
                Route(
                    host=host,
                    path=entry.get("path") or "/",
                    exact=path_type == "Exact",
                    backend=backend_of(namespace, entry.get("backend") or {}),
                    ingress=age[1],
                    age_key=age,
                    policy=policy,
                )
            )
    return out


def request_host(value: str) -> str:
    """The Host header without its port, lower case (`[::1]:80` -> `[::1]`), without
    the trailing dot of a fully qualified name, which nginx drops before it picks a server."""
    value = value.strip().lower()
    if value.startswith("["):
        return value.split("]", 1)[0] + "]"
    value = value.rsplit(":", 1)[0] if value.count(":") == 1 else value
    return value[:-1] if value.endswith(".") else value


def normalize_path(path: str) -> str | None:
    """The decoded request path as nginx matches its locations: adjacent slashes merged
    (`merge_slashes on`), then `.` and `..` segments resolved (`/a//b/../c` -> `/a/c`,
    `/a/.` -> `/a/`). None for a `..` above the root, which nginx answers 400.

    Only the matching uses it (and what nginx runs on `$uri`, such as `rewrite`); the
    request goes to the pod with the target the client sent, as ingress-nginx's
    `proxy_pass` without a URI does."""
    if not path.startswith("/") or ("//" not in path and "/." not in path):
        return path
    segments = re.sub("/{2,}", "/", path).split("/")[1:]
    out: list[str] = []
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == "..":
            if not out:
                return None
            out.pop()
        elif segment != ".":
            out.append(segment)
            continue
        if last:
            out.append("")
    return "/" + "/".join(out)


class RouteTable:
    """Routes grouped by host, each group sorted by precedence."""

    def __init__(
        self, ingresses: Iterable[Obj] = (), *, tls_host: Callable[[str], bool] = lambda _h: False
    ) -> None:
        """`tls_host(host)`: whether a served Ingress has a certificate for a rule host,
        which `ssl-redirect` needs."""
        self.exact: dict[str, list[Route]] = {}
        self.wildcard: dict[str, list[Route]] = {}  # keyed by the suffix after `*.`
        self.any_host: list[Route] = []
        self.default: Backend | None = None
        self.default_route: Route | None = None
        default_age: tuple[str, str] | None = None
        canaries: list[Route] = []
        for ingress in ingresses:
            policy = parse(ingress).policy
            if policy is not None and policy.canary is not None:
                canaries += routes_of(ingress, policy)
                continue
            for route in routes_of(ingress, policy):
                self._add(route)
            backend = (ingress.get("spec") or {}).get("defaultBackend")
            age = _age_key(ingress)
            if isinstance(backend, Mapping) and (default_age is None or age < default_age):
                namespace = (ingress.get("metadata") or {}).get("namespace") or ""
                self.default, default_age = backend_of(namespace, backend), age
        if self.default is not None:
            self.default_route = Route("", "", False, self.default, "defaultBackend")
        for group in [*self.exact.values(), *self.wildcard.values(), self.any_host]:
            group[:] = _annotated(group, canaries, tls_host)

    def _add(self, route: Route) -> None:
        if not route.host:
            self.any_host.append(route)
        elif route.host.startswith("*."):
            self.wildcard.setdefault(route.host[2:], []).append(route)
        else:
            self.exact.setdefault(route.host, []).append(route)

    def groups(self, host: str) -> list[list[Route]]:
        """The route groups a host may use, most specific first."""
        out = []
        if host in self.exact:
            out.append(self.exact[host])
        _, dot, parent = host.partition(".")
        if dot and parent in self.wildcard:
            out.append(self.wildcard[parent])
        out.append(self.any_host)
        return out

    def match(self, host: str, path: str) -> Route | None:
        """The route for a request, or None (then `default`, if any, answers)."""
        host = request_host(host)
        for group in self.groups(host):
            for route in group:
                if route.matches_path(path):
                    return route
        return None

    def lookup(self, host: str, path: str) -> Route | None:
        """The route for a request, the default backend's when no rule matches."""
        route = self.match(host, path)
        return route if route is not None else self.default_route

    def backend_for(self, host: str, path: str) -> Backend | None:
        route = self.match(host, path)
        return route.backend if route is not None else self.default

    def backends(self) -> set[Backend]:
        every = [*self.any_host]
        for group in [*self.exact.values(), *self.wildcard.values()]:
            every += group
        out = {r.backend for r in every}
        for route in every:
            if route.policy is not None:
                out.update(backend for backend, _ in route.policy.alternatives)
        if self.default is not None:
            out.add(self.default)
        return out


def _annotated(
    group: list[Route], canaries: list[Route], tls_host: Callable[[str], bool]
) -> list[Route]:
    """One host's routes with the annotations that reach across Ingresses applied, sorted."""
    policies = [r.policy for r in group if r.policy is not None]
    regex = any(p.use_regex or _rewrites(p, r) for r in group if (p := r.policy) is not None)
    app_root = next((p.app_root for p in policies if p.app_root), "")
    out = []
    for route in group:
        policy = route.policy
        if app_root and (policy is None or not policy.app_root):
            policy = dataclasses.replace(policy or Policy(), app_root=app_root)
        if policy is not None and (policy.ssl_redirect or policy.force_ssl_redirect):
            redirect = policy.force_ssl_redirect or tls_host(route.host)
            policy = dataclasses.replace(policy, https_redirect=redirect)
        alternatives = _alternatives(route, canaries)
        if alternatives:
            policy = dataclasses.replace(policy or Policy(), alternatives=alternatives)
        if regex:
            route = RegexRoute(**_fields(route), pattern=_pattern(route))
        out.append(dataclasses.replace(route, policy=policy))
    if not regex:
        return sorted(out, key=lambda r: r.order)
    # nginx tries regex locations in order: ingress-nginx writes them longest path first,
    # then by path in reverse; the oldest Ingress keeps a path two of them name.
    out.sort(key=lambda r: r.age_key)
    out.sort(key=lambda r: r.path, reverse=True)
    out.sort(key=lambda r: -len(r.path))
    return out


def _rewrites(policy: Policy, route: Route) -> bool:
    return bool(policy.rewrite_target) and policy.rewrite_target != route.path


def _fields(route: Route) -> dict[str, Any]:
    return {f.name: getattr(route, f.name) for f in dataclasses.fields(Route)}


def _pattern(route: Route) -> re.Pattern[str]:
    try:
        return re.compile(route.path, re.IGNORECASE)
    except re.error as exc:
        log.warning(
            "ingress %s: path %r is no regular expression (%s)", route.ingress, route.path, exc
        )
        return re.compile(re.escape(route.path), re.IGNORECASE)


def _alternatives(route: Route, canaries: list[Route]) -> tuple[tuple[Backend, Canary], ...]:
    """The canary Ingresses' backends for this route: same host, path and path type."""
    out = []
    for canary in canaries:
        if (canary.host, canary.path, canary.exact) != (route.host, route.path, route.exact):
            continue
        if canary.backend == route.backend or canary.policy is None or canary.policy.canary is None:
            continue
        out.append((canary.backend, canary.policy.canary))
    return tuple(out[:1])  # as ingress-nginx: one alternative backend per route


def served_classes(ingress_classes: Iterable[Obj], controller: str) -> set[str]:
    """Names of the IngressClasses whose `spec.controller` is ours."""
    return {
        (ic.get("metadata") or {}).get("name", "")
        for ic in ingress_classes
        if (ic.get("spec") or {}).get("controller") == controller
    }


def is_served(ingress: Obj, classes: set[str]) -> bool:
    """By `spec.ingressClassName`, else by the deprecated `kubernetes.io/ingress.class`."""
    name = (ingress.get("spec") or {}).get("ingressClassName")
    if name is None:
        name = ((ingress.get("metadata") or {}).get("annotations") or {}).get(
            INGRESS_CLASS_ANNOTATION
        )
    return name in classes


__all__ = [
    "Backend",
    "RegexRoute",
    "Route",
    "RouteTable",
    "backend_of",
    "is_served",
    "normalize_path",
    "request_host",
    "routes_of",
    "served_classes",
]
