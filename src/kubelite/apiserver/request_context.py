"""Who a write is for, and the warnings it gathers: per-request state without plumbing.

Admission webhooks need the caller's identity (`userInfo`) and may return
warnings the HTTP answer carries as `Warning` headers. Both belong to the
request, not to `RestStorage`, so they travel in context variables: the HTTP
layer sets them per request; the in-process client leaves the default, the
API server's own loopback identity, as upstream's loopback client uses.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
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


# The request's authorizer (RBAC's `authorize`), for the `authorizer` of admission
# expressions; None: everything is allowed (AlwaysAllow, or kubelite's own writes).
_authorize: ContextVar[Callable[[Any], Any] | None] = ContextVar(
    "kubelite_request_authorizer", default=None
)


def set_authorizer(authorize: Callable[[Any], Any] | None) -> None:
    _authorize.set(authorize)


def authorizer() -> Callable[[Any], Any] | None:
    return _authorize.get()


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


# Who writes, for `managedFields`: the request's `fieldManager`, else its User-Agent up
# to the first `/` (as kube-apiserver names managers); in-process writes are the
# controllers'. A server-side apply records its own entry, so it marks itself.
IN_PROCESS_MANAGER = "kube-controller-manager"
_manager: ContextVar[str | None] = ContextVar("kubelite_field_manager", default=None)
_applying: ContextVar[bool] = ContextVar("kubelite_applying", default=False)


def set_manager(field_manager: str | None, user_agent: str | None) -> None:
    name = field_manager or (user_agent or "").split("/", 1)[0]
    _manager.set(name[:128] or None)


def field_manager() -> str:
    return _manager.get() or IN_PROCESS_MANAGER


def applying() -> bool:
    return _applying.get()


def set_applying(value: bool) -> Any:
    """Mark the current write as a server-side apply; returns the token to reset with."""
    return _applying.set(value)


def reset_applying(token: Any) -> None:
    _applying.reset(token)


_entry_subresource: ContextVar[str] = ContextVar("kubelite_entry_subresource", default="")


def set_entry_subresource(name: str) -> Any:
    """The subresource a write's `managedFields` entry names when the storage write
    itself goes to the main resource (`/scale` writes `spec.replicas`); returns the
    token a long-lived task resets with."""
    return _entry_subresource.set(name)


def reset_entry_subresource(token: Any) -> None:
    _entry_subresource.reset(token)


def entry_subresource(subresource: str) -> str:
    return subresource or _entry_subresource.get()


@dataclass(frozen=True)
class ServedValidation:
    """A write through a version served by conversion that upstream validates as that
    version (events.k8s.io Events: stricter than core ones, by the request's group
    version): objects of the stored `kind` are validated in their served `view`."""

    api_version: str  # the stored version's, which the objects written are in
    kind: str
    group: str  # the served group, named by the Invalid error
    view: Callable[[dict[str, Any]], dict[str, Any]]


_served_validation: ContextVar[ServedValidation | None] = ContextVar(
    "kubelite_served_validation", default=None
)


def set_served_validation(value: ServedValidation | None) -> Any:
    """Validate the current request's writes as served; returns the token to reset with."""
    return _served_validation.set(value)


def reset_served_validation(token: Any) -> None:
    _served_validation.reset(token)


def served_validation(api_version: str, kind: str) -> ServedValidation | None:
    """How a write of `api_version`/`kind` is validated, if not as itself."""
    value = _served_validation.get()
    if value is None or (value.api_version, value.kind) != (api_version, kind):
        return None
    return value
