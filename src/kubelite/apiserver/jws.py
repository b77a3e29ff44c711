"""Compact JWS with ES256: just what service-account tokens need.

A token is `base64url(header).base64url(claims).base64url(signature)`, the
signature being ECDSA P-256 over SHA-256 in the JOSE form (r and s as two
32-byte big-endian integers, not DER). Only ES256 is accepted on the way in,
so a token cannot talk the verifier into `none` or an HMAC with the public
key. The header's `kid` is the hash of the public key, as upstream derives
it, so a verifier with several keys could pick the right one.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

ALGORITHM = "ES256"
_COORD = 32  # bytes per signature half on P-256


class InvalidToken(ValueError):
    """The token is not a well-formed ES256 JWS signed by our key."""


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise InvalidToken("malformed base64url") from exc


def key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return b64url(hashlib.sha256(der).digest())


@functools.lru_cache(maxsize=8)
def _header(kid: str) -> str:
    return b64url(orjson.dumps({"alg": ALGORITHM, "kid": kid}))


def sign(claims: dict[str, Any], key: ec.EllipticCurvePrivateKey, *, kid: str = "") -> str:
    """`claims` signed with `key`; pass `kid` (`key_id` of its public key) to skip deriving it."""
    header = _header(kid or key_id(key.public_key()))
    signing_input = f"{header}.{b64url(orjson.dumps(claims))}"
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    raw = r.to_bytes(_COORD, "big") + s.to_bytes(_COORD, "big")
    return f"{signing_input}.{b64url(raw)}"


def looks_like_jws(token: str) -> bool:
    return token.count(".") == 2


def verify(token: str, public_key: ec.EllipticCurvePublicKey) -> dict[str, Any]:
    """The claims of a token whose signature checks out; `InvalidToken` otherwise."""
    parts = token.split(".")
    if len(parts) != 3:
        raise InvalidToken("not a compact JWS")
    header = _json(parts[0])
    if header.get("alg") != ALGORITHM:
        raise InvalidToken(f"unsupported signing algorithm {header.get('alg')!r}")
    raw = b64url_decode(parts[2])
    if len(raw) != 2 * _COORD:
        raise InvalidToken("malformed signature")
    signature = encode_dss_signature(
        int.from_bytes(raw[:_COORD], "big"), int.from_bytes(raw[_COORD:], "big")
    )
    signing_input = f"{parts[0]}.{parts[1]}".encode()
    try:
        public_key.verify(signature, signing_input, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise InvalidToken("invalid signature") from None
    return _json(parts[1])


def _json(part: str) -> dict[str, Any]:
    try:
        value = orjson.loads(b64url_decode(part))
    except orjson.JSONDecodeError as exc:
        raise InvalidToken("malformed JSON") from exc
    if not isinstance(value, dict):
        raise InvalidToken("not a JSON object")
    return value
