"""The resolv.conf a pod sees, chosen by its dnsPolicy as upstream's kubelet chooses it.

- `ClusterFirst` (the default): the cluster DNS as the only nameserver,
  search `NS.svc.ZONE svc.ZONE ZONE` followed by the host's search domains,
  `options ndots:5`, so `getaddrinfo("go-app")` inside a pod tries
  `go-app.NS.svc.cluster.local` first. A hostNetwork pod falls back to
  `Default`, unless its policy is `ClusterFirstWithHostNet`.
- `Default`: the host's resolv.conf (nameservers, search, options).
- `None`: nothing but the pod's `dnsConfig`.

`dnsConfig` is then merged in: nameservers and searches appended without
duplicates, options overriding by name. The result is trimmed to the
resolver's limits (3 nameservers, 32 search domains, 2048 characters), with
a `DNSConfigForming` warning as upstream emits.

The node agent learns the cluster DNS like kubelet's `--cluster-dns` and
`--cluster-domain` flags (`DNSConfig`). A resolv.conf names no port: where
kubelite may not bind port 53 its server answers on port 53's stand-in, to
which the node agent sends pods' TCP connects to port 53, so ClusterFirst
pods also get `options use-vc` (a resolver checks that a UDP answer comes
from the port it asked). When the server got neither port, kubelite passes
no cluster DNS; a ClusterFirst pod then gets the host's resolv.conf and a
`MissingClusterDNS` warning, exactly as on a kubelet started without
`--cluster-dns`.
The file lives in the pod's directory and is bind-mounted over
/etc/resolv.conf in each container's mount namespace. It is brought up to
date whenever a container starts, and when kubelite re-adopts a running
pod, rewritten in place (the bind mount holds its inode): the cluster DNS
address may differ from the one a previous kubelite had. The host's file is
parsed again only when its inode, size or mtime changes, since a burst of
pods would otherwise parse the same file once each.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubelite.kubelet.etchosts import ensure_file

Obj = dict[str, Any]

CLUSTER_FIRST = "ClusterFirst"
CLUSTER_FIRST_WITH_HOST_NET = "ClusterFirstWithHostNet"
DEFAULT = "Default"
NONE = "None"

MAX_NAMESERVERS = 3
MAX_SEARCH_PATHS = 32
MAX_SEARCH_CHARS = 2048
MAX_NAME_CHARS = 253
DEFAULT_OPTIONS = ("ndots:5",)
FORMING_REASON = "DNSConfigForming"
MISSING_REASON = "MissingClusterDNS"
FILE_NAME = "resolv.conf"


@dataclass(frozen=True)
class DNSConfig:
    """The node agent's DNS settings (kubelet's --cluster-dns, --cluster-domain, --resolv-conf)."""

    cluster_dns: tuple[str, ...] = ()
    cluster_domain: str = "cluster.local"
    host_resolv_conf: str = "/etc/resolv.conf"
    # resolver options ClusterFirst pods get besides ndots:5: `use-vc` (TCP) where
    # the cluster DNS answers port 53 through its stand-in (`kubelite.api.lowports`)
    cluster_options: tuple[str, ...] = ()


@dataclass
class Resolver:
    """The content of a resolv.conf."""

    servers: list[str] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)

    def render(self) -> str:
        lines = []
        if self.searches:
            lines.append("search " + " ".join(self.searches))
        lines += [f"nameserver {s}" for s in self.servers]
        if self.options:
            lines.append("options " + " ".join(self.options))
        return "".join(line + "\n" for line in lines)


@dataclass(frozen=True)
class DNSWarning:
    reason: str
    message: str


def parse_resolv_conf(text: str) -> Resolver:
    """nameserver lines accumulate, the last search line wins, options accumulate."""
    out = Resolver()
    for line in text.splitlines():
        line = line.split("#", 1)[0].split(";", 1)[0]
        fields = line.split()
        if not fields:
            continue
        if fields[0] == "nameserver" and len(fields) > 1:
            out.servers.append(fields[1])
        elif fields[0] == "search":
            out.searches = [s.removesuffix(".") for s in fields[1:] if s != "."]
        elif fields[0] == "options":
            out.options += fields[1:]
    return out


# host resolv.conf path -> ((st_dev, st_ino, st_size, st_mtime_ns), its parse)
_host_cache: dict[str, tuple[tuple[int, int, int, int], Resolver]] = {}


def read_host(path: str) -> Resolver:
    """The host's resolver (a fresh copy: callers may change it); empty if unreadable."""
    try:
        st = os.stat(path)
        stamp = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        cached = _host_cache.get(path)
        if cached is None or cached[0] != stamp:
            with open(path, encoding="utf-8") as f:
                cached = (stamp, parse_resolv_conf(f.read()))
            _host_cache[path] = cached
    except OSError:
        return Resolver()
    host = cached[1]
    return Resolver(list(host.servers), list(host.searches), list(host.options))


def dns_type(pod: Obj) -> str:
    """Which resolver a pod gets: cluster, host or none (upstream's getPodDNSType)."""
    spec = pod.get("spec") or {}
    policy = spec.get("dnsPolicy") or CLUSTER_FIRST
    if policy == CLUSTER_FIRST_WITH_HOST_NET:
        return "cluster"
    if policy == CLUSTER_FIRST:
        return "host" if spec.get("hostNetwork") else "cluster"
    if policy == NONE:
        return "none"
    return "host"


def pod_resolver(pod: Obj, config: DNSConfig, host: Resolver) -> tuple[Resolver, list[DNSWarning]]:
    """The pod's resolver and the warnings to record on it (upstream's GetPodDNS)."""
    warnings: list[DNSWarning] = []
    kind = dns_type(pod)
    if kind == "cluster" and not config.cluster_dns:
        warnings.append(
            DNSWarning(
                MISSING_REASON,
                f'pod: "{_pod_ref(pod)}". kubelet does not have ClusterDNS IP configured and '
                f'cannot create Pod using "{CLUSTER_FIRST}" policy. '
                f'Falling back to "{DEFAULT}" policy.',
            )
        )
        kind = "host"
    if kind == "cluster":
        resolver = Resolver(
            servers=list(config.cluster_dns),
            searches=_cluster_searches(pod, config.cluster_domain, host.searches),
            options=[*DEFAULT_OPTIONS, *config.cluster_options],
        )
    elif kind == "host":
        resolver = Resolver(list(host.servers), list(host.searches), list(host.options))
    else:
        resolver = Resolver()
    dns_config = (pod.get("spec") or {}).get("dnsConfig")
    if dns_config:
        resolver = _merge(resolver, dns_config)
    warnings += _fit_limits(resolver)
    return resolver, warnings


def _pod_ref(pod: Obj) -> str:
    md = pod["metadata"]
    return f"{md['name']}_{md.get('namespace', 'default')}({md.get('uid', '')})"


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _cluster_searches(pod: Obj, domain: str, host_searches: list[str]) -> list[str]:
    zone = domain.strip(".")
    if not zone:
        return list(host_searches)
    ns = pod["metadata"].get("namespace", "default")
    return _unique([f"{ns}.svc.{zone}", f"svc.{zone}", zone, *host_searches])


def _merge(resolver: Resolver, dns_config: Obj) -> Resolver:
    """Append the pod's nameservers and searches; its options override by name."""
    options: dict[str, str | None] = {}
    for opt in resolver.options:
        name, sep, value = opt.partition(":")
        options[name] = value if sep else None
    for opt in dns_config.get("options") or []:
        value = opt.get("value")
        options[opt["name"]] = None if value in (None, "") else str(value)
    return Resolver(
        servers=_unique(resolver.servers + list(dns_config.get("nameservers") or [])),
        searches=_unique(resolver.searches + list(dns_config.get("searches") or [])),
        options=[n if v is None else f"{n}:{v}" for n, v in options.items()],
    )


def _fit_limits(resolver: Resolver) -> list[DNSWarning]:
    warnings = []
    if len(resolver.servers) > MAX_NAMESERVERS:
        resolver.servers = resolver.servers[:MAX_NAMESERVERS]
        warnings.append(
            DNSWarning(
                FORMING_REASON,
                "Nameserver limits were exceeded, some nameservers have been omitted, "
                f"the applied nameserver line is: {' '.join(resolver.servers)}",
            )
        )
    searches = resolver.searches[:MAX_SEARCH_PATHS]
    trimmed = len(searches) < len(resolver.searches)
    # Some resolvers abort on a search domain longer than a DNS name may be.
    if any(len(s) > MAX_NAME_CHARS for s in searches):
        searches = [s for s in searches if len(s) <= MAX_NAME_CHARS]
        trimmed = True
    while searches and len(" ".join(searches)) > MAX_SEARCH_CHARS:
        searches = searches[:-1]
        trimmed = True
    if trimmed:
        resolver.searches = searches
        warnings.append(
            DNSWarning(
                FORMING_REASON,
                "Search Line limits were exceeded, some search paths have been omitted, "
                f"the applied search line is: {' '.join(searches)}",
            )
        )
    return warnings


def write_pod_resolv_conf(
    pod: Obj, pod_dir: Path, config: DNSConfig
) -> tuple[Path, list[DNSWarning]]:
    """The pod's resolv.conf as the node's DNS settings make it now; written, and
    its warnings returned, only when the file did not already say so."""
    path = pod_dir / FILE_NAME
    resolver, warnings = pod_resolver(pod, config, read_host(config.host_resolv_conf))
    if not ensure_file(pod_dir, FILE_NAME, resolver.render().encode(), "resolv.tmp"):
        return path, []
    return path, warnings


__all__ = [
    "DNSConfig",
    "Resolver",
    "DNSWarning",
    "dns_type",
    "parse_resolv_conf",
    "pod_resolver",
    "write_pod_resolv_conf",
]
