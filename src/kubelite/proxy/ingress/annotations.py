"""ingress-nginx's `nginx.ingress.kubernetes.io/*` annotations, read once per routing rebuild.

Developers bring manifests written for ingress-nginx; the annotations they
carry most are honoured with its semantics. `parse(ingress)` turns one
Ingress's annotations into a frozen `Policy` (None when it carries none we
know, so such an Ingress costs nothing per request) and a list of problems:
an invalid value is ignored, as ingress-nginx ignores it, and the controller
makes the problem visible as a Warning Event on the Ingress (one exception,
as in ingress-nginx: an allowlist that cannot be read denies every request
rather than opening the routes to all). `custom-http-errors`, which kubelite
does not implement, gets such an Event too. Annotations we do not know are
ignored without a word, as ingress-nginx ignores other controllers'.

Where kubelite's defaults differ from ingress-nginx's, kubelite keeps its
own when the annotation is absent: a TLS Ingress does not redirect HTTP to
HTTPS unless `ssl-redirect` or `force-ssl-redirect` says so, and a request
body has no size limit unless `proxy-body-size` sets one.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubelite.proxy.ingress.upstream import CONNECT_TIMEOUT_S, READ_TIMEOUT_S, Timeouts

PREFIX = "nginx.ingress.kubernetes.io/"

DEFAULT_CORS_METHODS = "GET, PUT, POST, DELETE, PATCH, OPTIONS"
DEFAULT_CORS_HEADERS = (
    "DNT,Keep-Alive,User-Agent,X-Requested-With,If-Modified-Since,Cache-Control,"
    "Content-Type,Range,Authorization"
)
DEFAULT_CORS_MAX_AGE = 1728000
PROTOCOLS = ("AUTO_HTTP", "HTTP", "HTTPS", "GRPC", "GRPCS", "FCGI")
UNSUPPORTED_PROTOCOLS = frozenset({"GRPC", "GRPCS", "FCGI"})

# ingress-nginx's validators, for values it would refuse.
_CAPTURE_PATH = re.compile(r"^/?[\w\-.~:/$]*$")  # RegexPathWithCapture, roughly
_HEADERS = re.compile(r"^[A-Za-z0-9\-_, ]*$")
_METHODS = re.compile(r"^([A-Za-z]+,?\s?)+$")
_EXPOSE = re.compile(r"^(([A-Za-z0-9\-_]+|\*),?\s?)+$")
_ORIGIN = re.compile(r"^([a-z]+://(\*\.)?[A-Za-z0-9\-.]*(:\d+)?|\*|null)?$")
_SIZE = re.compile(r"^(\d+)([kKmMgG]?)$")
_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}
_TRUE = frozenset({"1", "t", "T", "TRUE", "true", "True"})
_FALSE = frozenset({"0", "f", "F", "FALSE", "false", "False"})

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Problem = tuple[str, str]  # (annotation without the prefix, why it was ignored)


@dataclass(frozen=True, slots=True)
class Cors:
    """`enable-cors` and its companions, headers pre-rendered."""

    any_origin: bool
    origin: re.Pattern[str] | None  # the allowed origins; None with `any_origin`
    headers: tuple[tuple[bytes, bytes], ...]  # every answer's headers but Allow-Origin

    def allowed(self, origin: bytes | None) -> bytes | None:
        """The Access-Control-Allow-Origin value for a request, None when not allowed."""
        if self.any_origin:
            return b"*"
        if origin is None or self.origin is None:
            return None
        return origin if self.origin.fullmatch(origin.decode("latin-1")) else None


@dataclass(frozen=True, slots=True)
class Canary:
    """How a canary Ingress takes traffic from the Ingress it shadows."""

    weight: int = 0
    total: int = 100
    header: bytes = b""  # lower case, as the listener hands headers over
    header_value: str = ""
    header_pattern: re.Pattern[str] | None = None
    cookie: str = ""


@dataclass(frozen=True, slots=True)
class Policy:
    """What one Ingress's annotations do to the requests its routes take."""

    rewrite_target: str = ""
    use_regex: bool = False
    app_root: str = ""
    forwarded_prefix: str = ""
    ssl_redirect: bool = False
    force_ssl_redirect: bool = False
    https_redirect: bool = False  # resolved per route: force, or ssl-redirect on a TLS host
    redirect_url: str = ""
    redirect_code: int = 0
    protocol: str = "HTTP"
    vhost: str = ""
    body_limit: int | None = None  # bytes; None: no limit
    connect_timeout: float | None = None
    read_timeout: float | None = None
    send_timeout: float | None = None
    timeouts: Timeouts | None = None  # the three above with the defaults filled in
    cors: Cors | None = None
    allow: tuple[Network, ...] | None = None
    denied: str = ""  # an allowlist that could not be read: every request is refused
    canary: Canary | None = None  # set on a canary Ingress
    alternatives: tuple[tuple[Any, Canary], ...] = field(default=())  # (Backend, Canary)


@dataclass
class Parsed:
    policy: Policy | None
    problems: list[Problem]


def annotations_of(ingress: Mapping[str, Any]) -> dict[str, str]:
    """The Ingress's `nginx.ingress.kubernetes.io/` annotations, by their short name."""
    raw = (ingress.get("metadata") or {}).get("annotations") or {}
    return {k[len(PREFIX) :]: str(v) for k, v in raw.items() if k.startswith(PREFIX)}


def parse(ingress: Mapping[str, Any]) -> Parsed:
    """The Policy of one Ingress (None when no annotation we know is set) and the problems."""
    found = annotations_of(ingress)
    known = {k: v for k, v in found.items() if k in _KNOWN}
    if not known:
        return Parsed(None, [])
    reader = _Reader(known)
    values: dict[str, Any] = {}
    for read in _READERS:
        values.update(read(reader))
    return Parsed(Policy(**values), reader.problems)


class _Reader:
    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.problems: list[Problem] = []

    def get(self, name: str) -> str | None:
        return self.values.get(name)

    def bad(self, name: str, reason: str) -> None:
        self.problems.append((name, reason))

    def boolean(self, name: str) -> bool | None:
        value = self.get(name)
        if value is None:
            return None
        if value.strip() in _TRUE:
            return True
        if value.strip() in _FALSE:
            return False
        self.bad(name, f'"{value}" is not a boolean ("true" or "false")')
        return None

    def integer(self, name: str, *, minimum: int = 0) -> int | None:
        value = self.get(name)
        if value is None:
            return None
        try:
            number = int(value.strip())
        except ValueError:
            self.bad(name, f'"{value}" is not an integer')
            return None
        if number < minimum:
            self.bad(name, f"{number} is below {minimum}")
            return None
        return number

    def matching(self, name: str, pattern: re.Pattern[str], what: str) -> str | None:
        value = self.get(name)
        if value is None:
            return None
        if not pattern.match(value):
            self.bad(name, f'"{value}" is not {what}')
            return None
        return value


def _rewrite(r: _Reader) -> dict[str, Any]:
    out: dict[str, Any] = {}
    target = r.matching("rewrite-target", _CAPTURE_PATH, "a path (capture groups as $1)")
    if target:
        out["rewrite_target"] = target
    if r.boolean("use-regex"):
        out["use_regex"] = True
    root = r.get("app-root")
    if root is not None:
        if not root.startswith("/") or "://" in root:
            r.bad("app-root", f'"{root}" is not an absolute path')
        else:
            out["app_root"] = root
    prefix = r.matching("x-forwarded-prefix", _CAPTURE_PATH, "a path")
    if prefix:
        out["forwarded_prefix"] = prefix
    for name, key in (
        ("ssl-redirect", "ssl_redirect"),
        ("force-ssl-redirect", "force_ssl_redirect"),
    ):
        if r.boolean(name):
            out[key] = True
    return out


def _redirect(r: _Reader) -> dict[str, Any]:
    """`temporal-redirect` wins over `permanent-redirect`, as in ingress-nginx."""
    for name, code_name, default, highest in (
        ("temporal-redirect", "temporal-redirect-code", 302, 307),
        ("permanent-redirect", "permanent-redirect-code", 301, 308),
    ):
        url = r.get(name)
        if not url:
            continue
        if not re.match(r"^https?://[^\s]+$", url):
            r.bad(name, f'"{url}" is not an http or https URL')
            continue
        code = r.integer(code_name)
        if code is None or not 300 <= code <= highest:
            if code is not None:
                r.bad(code_name, f"{code} is not a redirect code from 300 to {highest}")
            code = default
        return {"redirect_url": url, "redirect_code": code}
    return {}


def _proxy(r: _Reader) -> dict[str, Any]:
    out: dict[str, Any] = {}
    protocol = r.get("backend-protocol")
    if protocol is not None:
        if protocol.strip().upper() in PROTOCOLS:
            out["protocol"] = protocol.strip().upper()
        else:
            r.bad("backend-protocol", f'"{protocol}" is not one of {", ".join(PROTOCOLS)}')
    vhost = r.get("upstream-vhost")
    if vhost is not None:
        if re.match(r"^[A-Za-z0-9\-.:\[\]]+$", vhost):
            out["vhost"] = vhost
        else:
            r.bad("upstream-vhost", f'"{vhost}" is not a host name')
    size = r.get("proxy-body-size")
    if size is not None:
        m = _SIZE.match(size.strip())
        if m is None:
            r.bad("proxy-body-size", f'"{size}" is not a size (such as 8m, 512k or 0)')
        else:
            number = int(m.group(1)) * _SIZE_UNITS[m.group(2).lower()]
            out["body_limit"] = number or None  # 0: unlimited
    for name, key in (
        ("proxy-connect-timeout", "connect_timeout"),
        ("proxy-read-timeout", "read_timeout"),
        ("proxy-send-timeout", "send_timeout"),
    ):
        seconds = r.integer(name, minimum=1)
        if seconds is not None:
            out[key] = float(seconds)
    if any(k in out for k in ("connect_timeout", "read_timeout", "send_timeout")):
        out["timeouts"] = Timeouts(
            connect=out.get("connect_timeout", CONNECT_TIMEOUT_S),
            read=out.get("read_timeout", READ_TIMEOUT_S),
            send=out.get("send_timeout"),
        )
    return out


def _cors(r: _Reader) -> dict[str, Any]:
    if not r.boolean("enable-cors"):
        return {}
    origins: list[str] = []
    for origin in (r.get("cors-allow-origin") or "*").split(","):
        origin = origin.strip()
        if not origin:
            continue
        if origin == "*":
            origins = ["*"]
            break
        if not _ORIGIN.match(origin):
            r.bad("cors-allow-origin", f'origin "{origin}" is not scheme://host[:port]; skipped')
            continue
        origins.append(origin)
    methods = r.matching("cors-allow-methods", _METHODS, "a list of methods")
    headers = r.matching("cors-allow-headers", _HEADERS, "a list of header names")
    expose = r.matching("cors-expose-headers", _EXPOSE, "a list of header names")
    credentials = r.boolean("cors-allow-credentials")
    max_age = r.integer("cors-max-age")
    rendered = []
    if credentials is not False:
        rendered.append((b"access-control-allow-credentials", b"true"))
    rendered.append((b"access-control-allow-methods", (methods or DEFAULT_CORS_METHODS).encode()))
    rendered.append((b"access-control-allow-headers", (headers or DEFAULT_CORS_HEADERS).encode()))
    if expose:
        rendered.append((b"access-control-expose-headers", expose.encode()))
    age = DEFAULT_CORS_MAX_AGE if max_age is None else max_age
    rendered.append((b"access-control-max-age", str(age).encode()))
    any_origin = origins == ["*"]
    pattern = None
    if not any_origin:
        alternatives = [re.escape(o).replace(r"\*", r"[A-Za-z0-9\-]+", 1) for o in origins]
        pattern = re.compile("|".join(alternatives) or "(?!)", re.IGNORECASE)
    return {"cors": Cors(any_origin, pattern, tuple(rendered))}


def _allowlist(r: _Reader) -> dict[str, Any]:
    name = "allowlist-source-range" if r.get("allowlist-source-range") else "whitelist-source-range"
    value = r.get(name)
    if not value:
        return {}
    networks = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            reason = f'"{item}" is not an IP address or CIDR range; every request is refused'
            r.bad(name, reason)
            return {"denied": f"{name}: {reason}"}
    return {"allow": tuple(networks)}


def _canary(r: _Reader) -> dict[str, Any]:
    enabled = r.boolean("canary")
    names = ("canary-weight", "canary-by-header", "canary-by-header-value", "canary-by-cookie")
    if not enabled:
        if any(r.get(n) for n in names):
            r.bad("canary", 'canary settings without canary: "true"; not a canary')
        return {}
    weight = r.integer("canary-weight") or 0
    total = r.integer("canary-weight-total", minimum=1) or 100
    pattern_text = r.get("canary-by-header-pattern") or ""
    pattern = None
    if pattern_text:
        try:
            pattern = re.compile(pattern_text)
        except re.error as exc:
            r.bad(
                "canary-by-header-pattern", f'"{pattern_text}" is not a regular expression: {exc}'
            )
    canary = Canary(
        weight=weight,
        total=max(total, 100),
        header=(r.get("canary-by-header") or "").strip().lower().encode(),
        header_value=r.get("canary-by-header-value") or "",
        header_pattern=pattern,
        cookie=(r.get("canary-by-cookie") or "").strip(),
    )
    return {"canary": canary}


_READERS = (_rewrite, _redirect, _proxy, _cors, _allowlist, _canary)
_KNOWN = frozenset(
    {
        "rewrite-target",
        "use-regex",
        "app-root",
        "x-forwarded-prefix",
        "ssl-redirect",
        "force-ssl-redirect",
        "permanent-redirect",
        "permanent-redirect-code",
        "temporal-redirect",
        "temporal-redirect-code",
        "backend-protocol",
        "upstream-vhost",
        "proxy-body-size",
        "proxy-connect-timeout",
        "proxy-read-timeout",
        "proxy-send-timeout",
        "enable-cors",
        "cors-allow-origin",
        "cors-allow-methods",
        "cors-allow-headers",
        "cors-allow-credentials",
        "cors-max-age",
        "cors-expose-headers",
        "whitelist-source-range",
        "allowlist-source-range",
        "canary",
        "canary-weight",
        "canary-weight-total",
        "canary-by-header",
        "canary-by-header-value",
        "canary-by-header-pattern",
        "canary-by-cookie",
    }
)


def problems_of(ingress: Mapping[str, Any]) -> list[Problem]:
    """The ignored annotations of one Ingress and why, for its Warning Events."""
    parsed = parse(ingress)
    out = list(parsed.problems)
    if "custom-http-errors" in annotations_of(ingress):
        out.append(("custom-http-errors", "not supported by kubelite's ingress; ignored"))
    policy = parsed.policy
    if policy is not None and policy.protocol in UNSUPPORTED_PROTOCOLS:
        out.append(
            (
                "backend-protocol",
                f"{policy.protocol} is not supported: kubelite's ingress speaks HTTP/1.1 "
                "(or HTTPS) to pods; its requests are answered 502",
            )
        )
    return out


__all__ = ["PREFIX", "Canary", "Cors", "Parsed", "Policy", "parse", "problems_of"]
