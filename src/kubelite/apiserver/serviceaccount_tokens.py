"""Bound service-account tokens: issue them, and authenticate requests that carry them.

A token is a JWT (ES256, signed with the data dir's `tls/sa.key`) with the
claims upstream's token generator writes: `iss`, `sub`
(`system:serviceaccount:NS:NAME`), `aud`, `exp`, `iat`, `nbf`, `jti` and a
private `kubernetes.io` claim naming the namespace, the service account and
the object the token is bound to (pod, secret or node), each with its uid.

A request authenticates with such a token when the signature verifies, it is
within its lifetime (60 s leeway, as upstream), it was issued by us for the
API's audience, and the service account (and the bound object, if any) still
exists with the uid in the token. Deleting the pod or the service account
therefore revokes its tokens at once. A TokenReview asks for other audiences
(`review`): the token must name one of them, and the answer lists those it
names. Either way the user is upstream's `ServiceAccountInfo`: the service
account's uid, and as `extra` the token's `jti` as credential id and the pod
and node it is bound to.

A legacy token (kept in a `kubernetes.io/service-account-token` Secret) is
refused once its Secret carries a non-empty `kubernetes.io/legacy-token-invalid-since`
label, and each use labels the Secret `kubernetes.io/legacy-token-last-used: <date>`
(UTC, written at most once a day), as upstream's legacy token tracking and cleaner do.

What the user may do is the authorizer's question: by default everything
(`--authorization-mode AlwaysAllow`), under `--authorization-mode RBAC` what
its roles grant (`rbac_authorizer`).
"""

from __future__ import annotations

import base64
import contextvars
import datetime
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import orjson
from cryptography.hazmat.primitives.asymmetric import ec

from kubelite.apiserver import errors, jws
from kubelite.apiserver.jws import InvalidToken

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Lookup = Callable[[str, str, str], Obj | None]  # (kind, namespace, name) -> object

ISSUER = "https://kubernetes.default.svc.cluster.local"
LEGACY_ISSUER = "kubernetes/serviceaccount"  # tokens kept in service-account-token Secrets
_LEGACY = "kubernetes.io/serviceaccount/"
API_AUDIENCES = (ISSUER,)  # upstream's --api-audiences default: the issuer
LEEWAY_S = 60
DELETED_POD_GRACE_S = 60  # an object being deleted keeps its tokens this long
INVALIDATED = "service account token has been invalidated"
# Labels of legacy token Secrets (LegacyServiceAccountTokenTracking / CleanUp, GA).
LAST_USED_LABEL = "kubernetes.io/legacy-token-last-used"
INVALID_SINCE_LABEL = "kubernetes.io/legacy-token-invalid-since"
# pkg/serviceaccount: the kubelet's default token lifetime marks a token to extend
WARN_ONLY_EXPIRATION_S = 3607
EXPIRATION_EXTENSION_S = 365 * 24 * 60 * 60
USERNAME_PREFIX = "system:serviceaccount:"
_CACHE_MAX = 4096
# The user's `extra` keys upstream's ServiceAccountInfo fills.
CREDENTIAL_ID_KEY = "authentication.kubernetes.io/credential-id"
POD_NAME_KEY = "authentication.kubernetes.io/pod-name"
POD_UID_KEY = "authentication.kubernetes.io/pod-uid"
NODE_NAME_KEY = "authentication.kubernetes.io/node-name"
NODE_UID_KEY = "authentication.kubernetes.io/node-uid"


def username(namespace: str, name: str) -> str:
    return f"{USERNAME_PREFIX}{namespace}:{name}"


@dataclass(frozen=True)
class Issued:
    token: str
    expires: float  # seconds since the epoch


@dataclass(frozen=True)
class ServiceAccountInfo:
    """Who a valid token stands for, and which of the audiences asked for it names."""

    namespace: str
    name: str
    uid: str
    audiences: tuple[str, ...]
    extra: dict[str, list[str]] = field(default_factory=dict)

    @property
    def username(self) -> str:
        return username(self.namespace, self.name)


class ServiceAccountTokens:
    """The token generator and the service-account token authenticator, over one key."""

    def __init__(
        self,
        key: ec.EllipticCurvePrivateKey,
        *,
        issuer: str = ISSUER,
        audiences: tuple[str, ...] = API_AUDIENCES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.key = key
        self.public_key = key.public_key()
        self.kid = jws.key_id(self.public_key)  # derived once: it is in every token's header
        self.issuer = issuer
        self.audiences = audiences
        self.clock = clock
        self._verified: dict[str, Obj] = {}  # signature checks are the costly part

    # ---- issuing ------------------------------------------------------------------

    def claims(
        self,
        sa: Obj,
        *,
        audiences: list[str],
        expiration_s: int,
        bound: dict[str, Obj] | None = None,
        extend: bool = False,
    ) -> Obj:
        """Upstream's claims for `sa`; `bound` maps "pod"/"secret"/"node" to the object.

        `extend`: the token lives a year, warning after `expiration_s` (upstream's
        --service-account-extend-token-expiration, on by default, for the kubelet's tokens).
        """
        now = int(self.clock())
        md = sa["metadata"]
        private: Obj = {
            "namespace": md["namespace"],
            "serviceaccount": {"name": md["name"], "uid": md.get("uid", "")},
        }
        for kind, obj in (bound or {}).items():
            private[kind] = {"name": obj["metadata"]["name"], "uid": obj["metadata"].get("uid", "")}
        lifetime = int(expiration_s)
        if extend:
            private["warnafter"] = now + lifetime
            lifetime = EXPIRATION_EXTENSION_S
        return {
            "aud": list(audiences),
            "exp": now + lifetime,
            "iat": now,
            "iss": self.issuer,
            "jti": str(uuid.uuid4()),
            "kubernetes.io": private,
            "nbf": now,
            "sub": username(md["namespace"], md["name"]),
        }

    def issue(
        self,
        sa: Obj,
        *,
        audiences: list[str],
        expiration_s: int,
        bound: dict[str, Obj] | None = None,
    ) -> Issued:
        """A signed token; a kubelet's pod token (pod-bound, 3607 s, API audiences only) is
        extended as upstream's TokenRequest extends it; `expires` stays the requested one."""
        extend = (
            "pod" in (bound or {})
            and expiration_s == WARN_ONLY_EXPIRATION_S
            and all(a in self.audiences for a in audiences)
        )
        claims = self.claims(
            sa, audiences=audiences, expiration_s=expiration_s, bound=bound, extend=extend
        )
        return Issued(jws.sign(claims, self.key, kid=self.kid), float(claims["iat"] + expiration_s))

    def issue_legacy(self, sa: Obj, secret: Obj) -> str:
        """A token for a `kubernetes.io/service-account-token` Secret, with upstream's
        LegacyClaims: no audience and no expiry; it lives as long as its Secret."""
        md, secret_name = sa["metadata"], secret["metadata"]["name"]
        claims = {
            "iss": LEGACY_ISSUER,
            _LEGACY + "namespace": md["namespace"],
            _LEGACY + "secret.name": secret_name,
            _LEGACY + "service-account.name": md["name"],
            _LEGACY + "service-account.uid": md.get("uid", ""),
            "sub": username(md["namespace"], md["name"]),
        }
        return jws.sign(claims, self.key, kid=self.kid)

    # ---- authenticating -----------------------------------------------------------

    def issued_here(self, token: str) -> bool:
        """Whether the token claims to be ours (its issuer, read unverified): upstream's
        authenticator passes over any other token without an error."""
        if token in self._verified:
            return True
        parts = token.split(".")
        if len(parts) != 3:
            return False
        try:
            claims = orjson.loads(jws.b64url_decode(parts[1]))
        except (InvalidToken, orjson.JSONDecodeError):
            return False
        return isinstance(claims, dict) and claims.get("iss") in (self.issuer, LEGACY_ISSUER)

    def verify(self, token: str, audiences: Sequence[str] | None = None) -> Obj:
        """Claims of a token we issued for one of `audiences` (default: the API's) that is
        valid now; `InvalidToken` if not."""
        claims = self._signed_claims(token)
        self._audiences(claims, audiences)
        self._check_lifetime(claims)
        return claims

    def _signed_claims(self, token: str) -> Obj:
        claims = self._verified.get(token)
        if claims is None:
            claims = jws.verify(token, self.public_key)
            if claims.get("iss") not in (self.issuer, LEGACY_ISSUER):
                raise InvalidToken("token was not issued by this cluster")
            if len(self._verified) >= _CACHE_MAX:
                self._verified.clear()
            self._verified[token] = claims
        return claims

    def _audiences(self, claims: Obj, requested: Sequence[str] | None) -> tuple[str, ...]:
        """The requested audiences the token names, in the request's order (a token
        naming none is the API's, as a legacy token); `InvalidToken` if there are none."""
        aud = claims.get("aud")
        named = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        token_auds = tuple(str(a) for a in named) or self.audiences
        wanted = tuple(requested) if requested else self.audiences
        matched = tuple(a for a in wanted if a in token_auds)
        if not matched and self.audiences:
            raise InvalidToken(
                f"token audiences {_go_quoted(token_auds)} is invalid for the target "
                f"audiences {_go_quoted(wanted)}"
            )
        return matched

    def _check_lifetime(self, claims: Obj) -> None:
        now = self.clock()
        if now > _number(claims, "exp") + LEEWAY_S:
            raise InvalidToken("service account token has expired")
        if now < _number(claims, "nbf") - LEEWAY_S:
            raise InvalidToken("service account token is not valid yet")

    def authenticate(self, token: str, lookup: Lookup) -> str:
        """The user name the token stands for; `InvalidToken` if it must be refused."""
        return self.review(token, lookup).username

    def review(
        self, token: str, lookup: Lookup, audiences: Sequence[str] | None = None
    ) -> ServiceAccountInfo:
        """Who the token stands for, checked as upstream's service-account authenticator
        checks it (signature and issuer, audiences, lifetime, then the objects it names);
        `InvalidToken` with upstream's reason if it must be refused."""
        claims = self._signed_claims(token)
        matched = self._audiences(claims, audiences)
        if claims.get("iss") == LEGACY_ISSUER:
            return self._review_legacy(token, claims, lookup, matched)
        self._check_lifetime(claims)
        private = claims.get("kubernetes.io")
        if not isinstance(private, dict):
            raise InvalidToken("token has no kubernetes.io claim")
        ns = str(private.get("namespace") or "")
        sa_ref = private.get("serviceaccount") or {}
        sa_name = str(sa_ref.get("name") or "")
        sa = lookup("ServiceAccount", ns, sa_name)
        if sa is None:
            raise InvalidToken(f'serviceaccounts "{sa_name}" not found')
        if sa["metadata"].get("uid") != sa_ref.get("uid"):
            raise InvalidToken(
                f"service account UID ({sa['metadata'].get('uid')}) does not match claim "
                f"({sa_ref.get('uid')})"
            )
        if self._deleted_long_ago(sa):
            raise InvalidToken(f"service account {ns}/{sa_name} has been deleted")
        for kind in ("pod", "secret", "node"):
            ref = private.get(kind)
            # A pod's token also names its node, for information: only the pod binds it.
            if isinstance(ref, dict) and not (kind == "node" and "pod" in private):
                self._check_bound(kind, ns, ref, lookup)
        name, uid = str(sa_ref["name"]), str(sa_ref.get("uid") or "")
        return ServiceAccountInfo(ns, name, uid, matched, _extra(claims, private))

    def _review_legacy(
        self, token: str, claims: Obj, lookup: Lookup, matched: tuple[str, ...]
    ) -> ServiceAccountInfo:
        """Upstream's legacy validator: the Secret still holds this very token, and the
        service account it names is there with the uid in the token."""
        ns = str(claims.get(_LEGACY + "namespace") or "")
        secret_name = str(claims.get(_LEGACY + "secret.name") or "")
        name = str(claims.get(_LEGACY + "service-account.name") or "")
        uid = str(claims.get(_LEGACY + "service-account.uid") or "")
        secret = lookup("Secret", ns, secret_name)
        if secret is None or secret["metadata"].get("deletionTimestamp"):
            raise InvalidToken("token has been invalidated")
        held = (secret.get("data") or {}).get("token") or ""
        try:
            same = base64.b64decode(held).decode() == token
        except ValueError:
            same = False
        if not same:
            raise InvalidToken("token does not match the token in its secret")
        sa = lookup("ServiceAccount", ns, name)
        if (
            sa is None
            or sa["metadata"].get("uid") != uid
            or sa["metadata"].get("deletionTimestamp")
        ):
            raise InvalidToken(f"service account {ns}/{name} has been deleted")
        # Upstream records the day of use even when refusing a token marked invalid,
        # so the cleaner sees it is still tried.
        self._record_last_used(secret, lookup)
        if (secret["metadata"].get("labels") or {}).get(INVALID_SINCE_LABEL):
            raise InvalidToken(
                f"the token in secret {ns}/{secret_name} for service account {ns}/{name} has "
                "been marked invalid. Use tokens from the TokenRequest API or manually created "
                f"secret-based tokens, or remove the '{INVALID_SINCE_LABEL}' label from the "
                "secret to temporarily allow use of this token"
            )
        return ServiceAccountInfo(ns, name, uid, matched, {})

    def _record_last_used(self, secret: Obj, lookup: Lookup) -> None:
        """Upstream's patchSecretWithLastUsedDate: label the Secret with today's UTC date,
        unless it already says today (or tomorrow, for a skewed clock), so a token used all
        day costs one write a day."""
        if not isinstance(lookup, SecretLabeler):
            return
        now = datetime.datetime.fromtimestamp(self.clock(), datetime.UTC)
        today = now.strftime("%Y-%m-%d")
        tomorrow = (now + datetime.timedelta(days=1)).strftime("%Y-%m-%d")
        if (secret["metadata"].get("labels") or {}).get(LAST_USED_LABEL) in (today, tomorrow):
            return
        lookup.label_secret(secret, {LAST_USED_LABEL: today})

    def _check_bound(self, kind: str, ns: str, ref: Obj, lookup: Lookup) -> None:
        """Upstream's checks of a bound object, with its texts (pkg/serviceaccount/claims.go)."""
        obj = lookup(kind.capitalize(), "" if kind == "node" else ns, str(ref.get("name") or ""))
        if obj is None:
            raise InvalidToken(INVALIDATED)
        uid = obj["metadata"].get("uid")
        if uid != ref.get("uid"):
            raise InvalidToken(
                f"{kind} UID ({uid}) does not match service account {kind} ref claim "
                f"({ref.get('uid')})"
            )
        if self._deleted_long_ago(obj):
            raise InvalidToken(INVALIDATED)

    def _deleted_long_ago(self, obj: Obj) -> bool:
        """Deleted (awaiting removal) for longer than upstream's 60 s of grace."""
        deleted_at = obj["metadata"].get("deletionTimestamp")
        if not deleted_at:
            return False
        from kubelite.apiserver.meta import parse_rfc3339

        return bool(parse_rfc3339(deleted_at) < self.clock() - DELETED_POD_GRACE_S)


@runtime_checkable
class SecretLabeler(Protocol):
    """A `Lookup` that may also label a Secret (the legacy tokens' last-used date)."""

    def __call__(self, kind: str, namespace: str, name: str) -> Obj | None: ...

    def label_secret(self, secret: Obj, labels: dict[str, str]) -> None: ...


class StoreLookup:
    """A `Lookup` reading the store directly (authentication runs on every request),
    and labelling Secrets through the API's storage as the API server itself."""

    def __init__(self, storage: Any) -> None:
        self.storage = storage

    def __call__(self, kind: str, namespace: str, name: str) -> Obj | None:
        rt = self.storage.registry.by_kind("v1", kind)
        if rt is None or not name:
            return None
        kv = self.storage.store.get(rt.key(namespace or None, name))
        return None if kv is None else kv.obj()

    def label_secret(self, secret: Obj, labels: dict[str, str]) -> None:
        md = secret["metadata"]
        rt = self.storage.registry.by_kind("v1", "Secret")

        def relabel(current: Obj) -> Obj:
            cmd = current.setdefault("metadata", {})
            if cmd.get("uid") != md.get("uid"):  # upstream's patch carries the uid
                raise errors.Conflict("the Secret was replaced")
            cmd["labels"] = {**(cmd.get("labels") or {}), **labels}
            return current

        # A fresh context: the write is the API server's own (loopback user, no
        # authorizer), not the request's whose token is being checked.
        try:
            contextvars.Context().run(
                self.storage.replace_with, rt, md.get("namespace"), md["name"], relabel
            )
        except errors.ApiError as exc:  # upstream logs the failure and authenticates anyway
            log.warning(
                "failed to label legacy service account token Secret %s/%s: %s",
                md.get("namespace"),
                md.get("name"),
                exc,
            )


def store_lookup(storage: Any) -> StoreLookup:
    """A `Lookup` over the API's storage that can also record legacy tokens' use."""
    return StoreLookup(storage)


def _extra(claims: Obj, private: Obj) -> dict[str, list[str]]:
    """The user's `extra`, as upstream's ServiceAccountInfo.UserInfo fills it."""
    extra: dict[str, list[str]] = {}
    jti = claims.get("jti")
    if isinstance(jti, str) and jti:
        extra[CREDENTIAL_ID_KEY] = [f"JTI={jti}"]
    pod, node = private.get("pod"), private.get("node")
    if isinstance(pod, dict) and pod.get("name") and pod.get("uid"):
        extra[POD_NAME_KEY] = [str(pod["name"])]
        extra[POD_UID_KEY] = [str(pod["uid"])]
    if isinstance(node, dict) and node.get("name"):
        extra[NODE_NAME_KEY] = [str(node["name"])]
        if node.get("uid"):  # only with the name
            extra[NODE_UID_KEY] = [str(node["uid"])]
    return dict(sorted(extra.items()))  # Go encodes a map's keys in order


def _go_quoted(values: Sequence[str]) -> str:
    """A []string as Go's %q prints it: `["a" "b"]`."""
    return "[" + " ".join(orjson.dumps(v).decode() for v in values) + "]"


def _number(claims: Obj, name: str) -> float:
    value = claims.get(name)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise InvalidToken(f"token has no valid {name!r} claim")
    return float(value)


__all__ = [
    "API_AUDIENCES",
    "LAST_USED_LABEL",
    "LEGACY_ISSUER",
    "INVALID_SINCE_LABEL",
    "ISSUER",
    "InvalidToken",
    "Issued",
    "ServiceAccountInfo",
    "SecretLabeler",
    "ServiceAccountTokens",
    "StoreLookup",
    "store_lookup",
    "username",
]
