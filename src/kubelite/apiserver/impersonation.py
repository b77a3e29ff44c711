"""Acting as someone else: the `Impersonate-*` headers (`kubectl --as`, `--as-group`).

As upstream's impersonation filter: after authentication, each thing asked
for is authorized as the verb `impersonate` for the caller: `users` (by name),
`serviceaccounts` (in their namespace, for a `system:serviceaccount:NS:NAME`
user), `groups`, `userextras/KEY` and `uids` (the last two in
`authentication.k8s.io`). If all are allowed, the request goes on as the new
user: the groups given, or a service account's own groups when none are, plus
`system:authenticated` (for `system:anonymous`, `system:unauthenticated`)
unless one of those two is given. Groups, extras or a uid without a user is a
400. With `AlwaysAllow` everyone may impersonate anyone, as upstream.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import unquote

from kubelite.apiserver import errors
from kubelite.apiserver.rbac_authorizer import Attributes, Decision, forbidden_status
from kubelite.apiserver.reviews import AUTHENTICATED, User

USER = "impersonate-user"
GROUP = "impersonate-group"
UID = "impersonate-uid"
EXTRA_PREFIX = "impersonate-extra-"
AUTH_GROUP = "authentication.k8s.io"
ANONYMOUS = "system:anonymous"
UNAUTHENTICATED = "system:unauthenticated"
SA_PREFIX = "system:serviceaccount:"
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")

Authorize = Callable[[Attributes], Decision]


def requested(headers: Iterable[tuple[str, str]]) -> bool:
    """Whether any impersonation header is present (names lower-case)."""
    return any(name.startswith("impersonate-") for name, _ in headers)


@dataclass(frozen=True)
class _Ask:
    """One thing to impersonate: a reference as upstream builds it."""

    kind: str  # User | ServiceAccount | Group | UserExtra | UID
    name: str
    namespace: str = ""
    extra_key: str = ""

    def go_repr(self) -> str:
        """As Go's `%v` prints the ObjectReference (Kind Namespace Name UID APIVersion
        ResourceVersion FieldPath)."""
        api_version = "authentication.k8s.io/v1" if self.kind in ("UserExtra", "UID") else ""
        fields = (self.kind, self.namespace, self.name, "", api_version, "", self.extra_key)
        return "{" + " ".join(fields) + "}"


def split_service_account(username: str) -> tuple[str, str] | None:
    """(namespace, name) of a service account's username, else None (upstream's SplitUsername)."""
    if not username.startswith(SA_PREFIX):
        return None
    parts = username[len(SA_PREFIX) :].split(":")
    if len(parts) != 2:
        return None
    namespace, name = parts
    if len(namespace) > 63 or not _LABEL.fullmatch(namespace):
        return None
    if len(name) > 253 or not _SUBDOMAIN.fullmatch(name):
        return None
    return namespace, name


def _asks(headers: list[tuple[str, str]]) -> list[_Ask]:
    asks: list[_Ask] = []
    user = next((v for k, v in headers if k == USER), "")
    if user:
        sa = split_service_account(user)
        asks.append(_Ask("ServiceAccount", sa[1], sa[0]) if sa else _Ask("User", user))
    asks += [_Ask("Group", v) for k, v in headers if k == GROUP]
    extras = [
        (unquote(k[len(EXTRA_PREFIX) :]), v) for k, v in headers if k.startswith(EXTRA_PREFIX)
    ]
    asks += [_Ask("UserExtra", v, extra_key=key) for key, v in extras]
    uid = next((v for k, v in headers if k == UID), "")
    if uid:
        asks.append(_Ask("UID", uid))
    if asks and not user:
        listed = " ".join(a.go_repr() for a in asks)
        raise errors.BadRequest(f"requested [{listed}] without impersonating a user")
    return asks


def _attributes(requestor: User, ask: _Ask) -> Attributes:
    resource, group, sub = {
        "ServiceAccount": ("serviceaccounts", "", ""),
        "User": ("users", "", ""),
        "Group": ("groups", "", ""),
        "UserExtra": ("userextras", AUTH_GROUP, ask.extra_key),
        "UID": ("uids", AUTH_GROUP, ""),
    }[ask.kind]
    return Attributes(
        requestor,
        "impersonate",
        api_group=group,
        resource=resource,
        subresource=sub,
        namespace=ask.namespace,
        name=ask.name,
    )


def impersonate(
    requestor: User, headers: list[tuple[str, str]], authorize: Authorize | None
) -> User | None:
    """The user a request acts as (None: no impersonation asked). `headers` are the
    raw (lower-case name, value) pairs, since groups and extras repeat; `authorize`
    None is AlwaysAllow. Raises Forbidden or BadRequest as upstream answers."""
    asks = _asks(headers)
    if not asks:
        return None
    username, uid = "", ""
    groups: list[str] = []
    extra: dict[str, list[str]] = {}
    groups_given = any(a.kind == "Group" for a in asks)
    for ask in asks:
        attrs = _attributes(requestor, ask)
        if authorize is not None:
            decision = authorize(attrs)
            if not decision.allowed:
                message, details = forbidden_status(attrs, decision.reason)
                raise errors.Forbidden(message, details=details)
        if ask.kind == "ServiceAccount":
            username = f"{SA_PREFIX}{ask.namespace}:{ask.name}"
            if not groups_given:
                groups += ["system:serviceaccounts", f"system:serviceaccounts:{ask.namespace}"]
        elif ask.kind == "User":
            username = ask.name
        elif ask.kind == "Group":
            groups.append(ask.name)
        elif ask.kind == "UserExtra":
            extra.setdefault(ask.extra_key, []).append(ask.name)
        else:
            uid = ask.name
    if username != ANONYMOUS:
        if AUTHENTICATED not in groups and UNAUTHENTICATED not in groups:
            groups.append(AUTHENTICATED)
    elif UNAUTHENTICATED not in groups:
        groups.append(UNAUTHENTICATED)
    return User(username, tuple(groups), uid, extra)
