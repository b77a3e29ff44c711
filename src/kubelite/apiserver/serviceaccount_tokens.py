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
therefore revokes its tokens at once.

kubelite has no authorization layer (no RBAC): every authenticated user,
service accounts included, may do everything, as with the cluster's own
bearer token.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from kubelite.apiserver import jws
from kubelite.apiserver.jws import InvalidToken

Obj = dict[str, Any]
Lookup = Callable[[str, str, str], Obj | None]  # (kind, namespace, name) -> object

ISSUER = "https://kubernetes.default.svc.cluster.local"
API_AUDIENCES = (ISSUER,)  # upstream's --api-audiences default: the issuer
LEEWAY_S = 60
DELETED_POD_GRACE_S = 60  # a pod being deleted keeps its tokens this long
USERNAME_PREFIX = "system:serviceaccount:"
_CACHE_MAX = 4096


def username(namespace: str, name: str) -> str:
    return f"{USERNAME_PREFIX}{namespace}:{name}"


@dataclass(frozen=True)
class Issued:
    token: str
    expires: float  # seconds since the epoch


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
    ) -> Obj:
        """Upstream's claims for `sa`; `bound` maps "pod"/"secret"/"node" to the object."""
        now = int(self.clock())
        md = sa["metadata"]
        private: Obj = {
            "namespace": md["namespace"],
            "serviceaccount": {"name": md["name"], "uid": md.get("uid", "")},
        }
        for kind, obj in (bound or {}).items():
            private[kind] = {"name": obj["metadata"]["name"], "uid": obj["metadata"].get("uid", "")}
        return {
            "aud": list(audiences),
            "exp": now + int(expiration_s),
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
        claims = self.claims(sa, audiences=audiences, expiration_s=expiration_s, bound=bound)
        return Issued(jws.sign(claims, self.key, kid=self.kid), float(claims["exp"]))

    # ---- authenticating -----------------------------------------------------------

    def verify(self, token: str) -> Obj:
        """Claims of a token we issued for the API that is valid now; `InvalidToken` if not."""
        claims = self._verified.get(token)
        if claims is None:
            claims = jws.verify(token, self.public_key)
            if claims.get("iss") != self.issuer:
                raise InvalidToken("token was not issued by this cluster")
            if len(self._verified) >= _CACHE_MAX:
                self._verified.clear()
            self._verified[token] = claims
        now = self.clock()
        if now > _number(claims, "exp") + LEEWAY_S:
            raise InvalidToken("service account token has expired")
        if now < _number(claims, "nbf") - LEEWAY_S:
            raise InvalidToken("service account token is not valid yet")
        aud = claims.get("aud")
        auds = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if not set(auds) & set(self.audiences):
            raise InvalidToken("token audiences do not match the API's audiences")
        return claims

    def authenticate(self, token: str, lookup: Lookup) -> str:
        """The user name the token stands for; `InvalidToken` if it must be refused."""
        claims = self.verify(token)
        private = claims.get("kubernetes.io")
        if not isinstance(private, dict):
            raise InvalidToken("token has no kubernetes.io claim")
        ns = str(private.get("namespace") or "")
        sa_ref = private.get("serviceaccount") or {}
        sa = lookup("ServiceAccount", ns, str(sa_ref.get("name") or ""))
        if sa is None or sa["metadata"].get("uid") != sa_ref.get("uid"):
            raise InvalidToken(f"service account {ns}/{sa_ref.get('name')} has been deleted")
        for kind in ("pod", "secret", "node"):
            ref = private.get(kind)
            # A pod's token also names its node, for information: only the pod binds it.
            if isinstance(ref, dict) and not (kind == "node" and "pod" in private):
                self._check_bound(kind, ns, ref, lookup)
        return username(ns, str(sa_ref["name"]))

    def _check_bound(self, kind: str, ns: str, ref: Obj, lookup: Lookup) -> None:
        obj = lookup(kind.capitalize(), "" if kind == "node" else ns, str(ref.get("name") or ""))
        if obj is None or obj["metadata"].get("uid") != ref.get("uid"):
            raise InvalidToken(f"{kind} {ref.get('name')} has been deleted")
        deleted_at = obj["metadata"].get("deletionTimestamp")
        if kind == "pod" and deleted_at:
            from kubelite.apiserver.meta import parse_rfc3339

            if parse_rfc3339(deleted_at) < self.clock() - DELETED_POD_GRACE_S:
                raise InvalidToken(f"pod {ref.get('name')} has been deleted")


def store_lookup(storage: Any) -> Lookup:
    """A `Lookup` reading the store directly (authentication runs on every request)."""
    registry = storage.registry

    def lookup(kind: str, namespace: str, name: str) -> Obj | None:
        rt = registry.by_kind("v1", kind)
        if rt is None or not name:
            return None
        kv = storage.store.get(rt.key(namespace or None, name))
        return None if kv is None else kv.obj()

    return lookup


def _number(claims: Obj, name: str) -> float:
    value = claims.get(name)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise InvalidToken(f"token has no valid {name!r} claim")
    return float(value)


__all__ = [
    "API_AUDIENCES",
    "ISSUER",
    "InvalidToken",
    "Issued",
    "ServiceAccountTokens",
    "store_lookup",
    "username",
]
