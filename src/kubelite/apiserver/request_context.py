"""Who a write is for, and the warnings it gathers: per-request state without plumbing.

Admission webhooks need the caller's identity (`userInfo`) and may return
warnings the HTTP answer carries as `Warning` headers. Both belong to the
request, not to `RestStorage`, so they travel in context variables: the HTTP
layer sets them per request; the in-process client leaves the default, the
API server's own loopback identity, as upstream's loopback client uses.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

LOOPBACK_USER: dict[str, Any] = {
    "username": "system:apiserver",
    "uid": "",
    "groups": ["system:authenticated", "system:masters"],
}

_user: ContextVar[dict[str, Any] | None] = ContextVar("kubelite_request_user", default=None)
_warnings: ContextVar[list[str] | None] = ContextVar("kubelite_request_warnings", default=None)


def set_user(info: dict[str, Any]) -> None:
    _user.set(info)


def user_info() -> dict[str, Any]:
    return _user.get() or LOOPBACK_USER


def collect_warnings() -> list[str]:
    """Start gathering warnings for the current request; returns the live list."""
    found: list[str] = []
    _warnings.set(found)
    return found


def add_warning(text: str) -> None:
    found = _warnings.get()
    if found is not None and text not in found:
        found.append(text)


def warning_header(text: str) -> str:
    """RFC 7234 warning value as kube-apiserver writes it: code 299, agent `-`."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'299 - "{escaped}"'
