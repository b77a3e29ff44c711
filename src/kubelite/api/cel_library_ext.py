"""More of Kubernetes' CEL libraries: URLs, sets, and `strings.quote`.

- The URL library (k8s.io/apiserver/pkg/cel/library/urls.go): `url`, `isURL`
  and the `URL` accessors. Go parses with net/url (`ParseRequestURI` to check,
  `Parse` to build the value); the parts of net/url those use are ported here
  so the same strings are accepted and the accessors return the same text.
- cel-go's sets extension (`ext.Sets()`, Kubernetes 1.29+): `sets.contains`,
  `sets.equivalent`, `sets.intersects`, with CEL equality (1 == 1.0 == 1u).
- `strings.quote` of cel-go's strings extension (version 1+, Kubernetes uses 2).

Namespaced names (`sets.contains`) are registered under their full name; the
checker and evaluator in `api.cel` route `ns.f(args)` to them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubelite.api.cel_library import _err, _numeric, _plain, _types
from kubelite.api.gofmt import GO_ESCAPES, go_quote

# ---- the URL library -----------------------------------------------------------------


@dataclass(frozen=True)
class URL:
    """`url('https://example.com/')`: the parts Go's url.Parse finds (unescaped)."""

    source: str
    scheme: str = ""
    host: str = ""
    path: str = ""
    raw_path: str = ""
    raw_query: str = ""
    opaque: str = ""

    def __str__(self) -> str:
        return self.source


class URLError(ValueError):
    """A net/url parse error; the message is Go's."""


@dataclass
class _Parts:
    scheme: str = ""
    opaque: str = ""
    host: str = ""
    path: str = ""
    raw_path: str = ""
    raw_query: str = ""


_ALNUM = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_HEX = frozenset(b"0123456789abcdefABCDEF")


def _should_escape(c: int, mode: str) -> bool:
    """net/url's shouldEscape for one byte; mode: host, zone, path, user, query, fragment."""
    if c in _ALNUM:
        return False
    if mode in ("host", "zone") and chr(c) in "!$&'()*+,;=:[]<>\"":
        return False
    if chr(c) in "-_.~":
        return False
    if chr(c) in "$&+,/:;=?@":
        if mode == "path":
            return chr(c) == "?"
        if mode == "user":
            return chr(c) in "@/?:"
        if mode == "query":
            return True
        if mode == "fragment":
            return False
    return not (mode == "fragment" and chr(c) in "!()*")


def _escape_error(chunk: bytes) -> URLError:
    return URLError("invalid URL escape " + go_quote(chunk.decode("utf-8", "replace")))


def _unescape(text: str, mode: str) -> str:
    """net/url's unescape: checks the %-escapes (and a host's characters), then decodes."""
    data = text.encode()
    i = 0
    while i < len(data):
        c = data[i]
        if c == ord("%"):
            chunk = data[i : i + 3]
            if i + 2 >= len(data) or data[i + 1] not in _HEX or data[i + 2] not in _HEX:
                raise _escape_error(chunk)
            # A host may %-encode only non-ASCII bytes (and `%25` before an IPv6 zone).
            if mode == "host" and int(chr(data[i + 1]), 16) < 8 and chunk != b"%25":
                raise _escape_error(chunk)
            if mode == "zone":
                value = int(chunk[1:], 16)
                if chunk != b"%25" and value != 0x20 and _should_escape(value, "host"):
                    raise _escape_error(chunk)
            i += 3
        else:
            if mode in ("host", "zone") and c < 0x80 and _should_escape(c, mode):
                raise URLError(f"invalid character {go_quote(chr(c))} in host name")
            i += 1
    out = bytearray()
    i = 0
    while i < len(data):
        if data[i] == ord("%"):
            out.append(int(data[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(0x20 if data[i] == ord("+") and mode == "query" else data[i])
            i += 1
    return out.decode("utf-8", "replace")


def _escape(text: str, mode: str) -> str:
    return "".join(f"%{c:02X}" if _should_escape(c, mode) else chr(c) for c in text.encode())


def _valid_encoded(text: str, mode: str) -> bool:
    for c in text.encode():
        if chr(c) in "!$&'()*+,;=:@[]%":
            continue
        if _should_escape(c, mode):
            return False
    return True


def _valid_optional_port(port: str) -> bool:
    if port == "":
        return True
    return port[0] == ":" and all("0" <= ch <= "9" for ch in port[1:])


def _scheme(raw: str) -> tuple[str, str]:
    for i, ch in enumerate(raw):
        if ch.isascii() and ch.isalpha():
            continue
        if ch in "0123456789+-.":
            if i == 0:
                return "", raw
            continue
        if ch == ":":
            if i == 0:
                raise URLError("missing protocol scheme")
            return raw[:i], raw[i + 1 :]
        return "", raw
    return "", raw


def _parse_host(host: str) -> str:
    if host.startswith("["):
        end = host.rfind("]")
        if end < 0:
            raise URLError("missing ']' in host")
        colon_port = host[end + 1 :]
        if not _valid_optional_port(colon_port):
            raise URLError(f"invalid port {go_quote(colon_port)} after host")
        zone = host[:end].find("%25")
        if zone >= 0:
            return (
                _unescape(host[:zone], "host")
                + _unescape(host[zone:end], "zone")
                + _unescape(host[end:], "host")
            )
    elif (colon := host.rfind(":")) != -1:
        colon_port = host[colon:]
        if not _valid_optional_port(colon_port):
            raise URLError(f"invalid port {go_quote(colon_port)} after host")
    return _unescape(host, "host")


_USERINFO = frozenset("-._:~!$&'()*+,;=%@")


def _parse_authority(authority: str) -> str:
    at = authority.rfind("@")
    host = _parse_host(authority[at + 1 :] if at >= 0 else authority)
    if at >= 0:
        userinfo = authority[:at]
        if not all((ch.isascii() and ch.isalnum()) or ch in _USERINFO for ch in userinfo):
            raise URLError("net/url: invalid userinfo")
        for part in userinfo.split(":", 1):
            _unescape(part, "user")
    return host


def _parse(raw: str, via_request: bool) -> _Parts:
    """net/url's parse(rawURL, viaRequest), without the fragment (Parse cuts it first)."""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in raw):
        raise URLError("net/url: invalid control character in URL")
    if raw == "" and via_request:
        raise URLError("empty url")
    url = _Parts()
    if raw == "*":
        url.path = "*"
        return url
    scheme, rest = _scheme(raw)
    url.scheme = scheme.lower()
    if rest.endswith("?") and rest.count("?") == 1:
        rest = rest[:-1]
    else:
        rest, _, url.raw_query = rest.partition("?")
    if not rest.startswith("/"):
        if url.scheme:
            url.opaque = rest  # a rootless path (`mailto:x@y`) is opaque
            return url
        if via_request:
            raise URLError("invalid URI for request")
        if ":" in rest.partition("/")[0]:
            raise URLError("first path segment in URL cannot contain colon")
    if (url.scheme or (not via_request and not rest.startswith("///"))) and rest.startswith("//"):
        authority, rest = rest[2:], ""
        slash = authority.find("/")
        if slash >= 0:
            authority, rest = authority[:slash], authority[slash:]
        url.host = _parse_authority(authority)
    url.path = _unescape(rest, "path")
    url.raw_path = "" if _escape(url.path, "path") == rest else rest
    return url


def parse_url(raw: str) -> URL:
    """`url(raw)` as urls.go builds it: ParseRequestURI to check, then Parse."""
    try:
        _parse(raw, True)
    except URLError as exc:
        raise URLError(f"parse {go_quote(raw)}: {exc}") from None
    before, _, fragment = raw.partition("#")
    try:
        parts = _parse(before, False)
    except URLError as exc:
        raise URLError(f"parse {go_quote(before)}: {exc}") from None
    try:
        _unescape(fragment, "fragment")
    except URLError as exc:
        raise URLError(f"parse {go_quote(raw)}: {exc}") from None
    return URL(
        raw,
        scheme=parts.scheme,
        host=parts.host,
        path=parts.path,
        raw_path=parts.raw_path,
        raw_query=parts.raw_query,
        opaque=parts.opaque,
    )


def _split_host_port(host_port: str) -> tuple[str, str]:
    host, port = host_port, ""
    colon = host.rfind(":")
    if colon != -1 and _valid_optional_port(host[colon:]):
        host, port = host[:colon], host[colon + 1 :]
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, port


def _escaped_path(u: URL) -> str:
    if u.raw_path and _valid_encoded(u.raw_path, "path"):
        try:
            if _unescape(u.raw_path, "path") == u.path:
                return u.raw_path
        except URLError:
            pass
    if u.path == "*":
        return "*"
    return _escape(u.path, "path")


def _query(u: URL) -> dict[str, list[str]]:
    """Go's url.ParseQuery, dropping the pairs it cannot parse (as URL.Query does)."""
    out: dict[str, list[str]] = {}
    for pair in u.raw_query.split("&"):
        if ";" in pair or pair == "":
            continue
        key, _, value = pair.partition("=")
        try:
            key, value = _unescape(key, "query"), _unescape(value, "query")
        except URLError:
            continue
        out.setdefault(key, []).append(value)
    return out


def _url(value: Any) -> Any:
    if not isinstance(value, str):
        raise TypeError("no such overload")
    try:
        return parse_url(str(value))
    except URLError as exc:
        return _err(f"URL parse error during conversion from string: {exc}")


def _is_url(value: Any) -> Any:
    if not isinstance(value, str):
        raise TypeError("no such overload")
    try:
        _parse(str(value), True)
    except URLError:
        return _types().BoolType(False)
    return _types().BoolType(True)


def _accessor(read: Callable[[URL], str]) -> Callable[[Any], Any]:
    def get(u: Any) -> Any:
        if not isinstance(u, URL):
            raise TypeError("no such overload")
        return _types().StringType(read(u))

    return get


def _get_query(u: Any) -> Any:
    if not isinstance(u, URL):
        raise TypeError("no such overload")
    t = _types()
    return t.MapType(
        {
            t.StringType(k): t.ListType([t.StringType(v) for v in values])
            for k, values in _query(u).items()
        }
    )


def _url_functions() -> dict[str, Callable[..., Any]]:
    return {
        "url": _url,
        "isURL": _is_url,
        "getScheme": _accessor(lambda u: u.scheme),
        "getHost": _accessor(lambda u: u.host),
        "getHostname": _accessor(lambda u: _split_host_port(u.host)[0]),
        "getPort": _accessor(lambda u: _split_host_port(u.host)[1]),
        "getEscapedPath": _accessor(_escaped_path),
        "getQuery": _get_query,
    }


# ---- cel-go's sets extension ---------------------------------------------------------


def equal(a: Any, b: Any) -> bool:
    """CEL's heterogeneous equality: numbers compare by value across int, uint and
    double; lists and maps compare element by element; other kinds never match."""
    t = _types()
    if isinstance(a, t.BoolType) or isinstance(b, t.BoolType):
        return isinstance(a, t.BoolType) and isinstance(b, t.BoolType) and bool(a) == bool(b)
    if _numeric(a) and _numeric(b):
        return bool(_plain(a) == _plain(b))
    if isinstance(a, list) or isinstance(b, list):
        return (
            isinstance(a, list)
            and isinstance(b, list)
            and len(a) == len(b)
            and all(equal(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, dict) or isinstance(b, dict):
        if not (isinstance(a, dict) and isinstance(b, dict) and len(a) == len(b)):
            return False
        for key, value in a.items():
            match = next((k for k in b if equal(k, key)), _MISSING)
            if match is _MISSING or not equal(value, b[match]):
                return False
        return True
    for kind in (str, bytes):
        if isinstance(a, kind) or isinstance(b, kind):
            return isinstance(a, kind) and isinstance(b, kind) and a == b
    if a is None or b is None:
        return a is None and b is None
    try:
        return type(a) is type(b) and bool(a == b)
    except TypeError:
        return False


_MISSING = object()


def _lists(a: Any, b: Any) -> tuple[list[Any], list[Any]]:
    if not isinstance(a, list) or not isinstance(b, list):
        raise TypeError("no such overload")
    return list(a), list(b)


def _contains(items: list[Any], sub: list[Any]) -> bool:
    return all(any(equal(x, y) for x in items) for y in sub)


def _sets_contains(a: Any, b: Any) -> Any:
    items, sub = _lists(a, b)
    return _types().BoolType(_contains(items, sub))


def _sets_equivalent(a: Any, b: Any) -> Any:
    x, y = _lists(a, b)
    return _types().BoolType(_contains(x, y) and _contains(y, x))


def _sets_intersects(a: Any, b: Any) -> Any:
    x, y = _lists(a, b)
    return _types().BoolType(any(equal(i, j) for i in x for j in y))


# ---- strings.quote -------------------------------------------------------------------


def _quote(s: Any) -> Any:
    """cel-go's strings.quote: double-quoted, CEL's escape sequences written out."""
    if not isinstance(s, str):
        raise TypeError("no such overload")
    text = "".join(
        "\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else GO_ESCAPES.get(ch, ch) for ch in str(s)
    )
    return _types().StringType('"' + text + '"')


def functions() -> dict[str, Callable[..., Any]]:
    return {
        **_url_functions(),
        "sets.contains": _sets_contains,
        "sets.equivalent": _sets_equivalent,
        "sets.intersects": _sets_intersects,
        "strings.quote": _quote,
    }
