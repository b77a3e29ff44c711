"""Service account issuer discovery: the OpenID Provider configuration and the key
set that verify kubelite's service account tokens, at the paths kube-apiserver
serves them (`/.well-known/openid-configuration`, `/openid/v1/jwks`), so tools
outside the cluster (Vault, SPIFFE, workload identity) can verify those tokens.
Both need an authenticated caller allowed by RBAC (the default
`system:service-account-issuer-discovery` binding lets every service account in).
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec

from kubelite.apiserver.jws import ALGORITHM, b64url, key_id

CONFIGURATION_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/openid/v1/jwks"
PATHS = frozenset({CONFIGURATION_PATH, JWKS_PATH})
# upstream's cache headers for both documents
CACHE_CONTROL = "public, max-age=3600"
JWK_SET_TYPE = "application/jwk-set+json"


def configuration(issuer: str) -> dict[str, object]:
    """openIDMetadata, in its field order; the key set is under the issuer's host."""
    return {
        "issuer": issuer,
        "jwks_uri": issuer.rstrip("/") + JWKS_PATH,
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [ALGORITHM],
    }


def key_set(public_key: ec.EllipticCurvePublicKey) -> dict[str, object]:
    """The JSON Web Key Set of the signing key, as go-jose marshals an EC key."""
    numbers = public_key.public_numbers()
    size = (public_key.curve.key_size + 7) // 8
    return {
        "keys": [
            {
                "use": "sig",
                "kty": "EC",
                "kid": key_id(public_key),
                "crv": "P-256",
                "alg": ALGORITHM,
                "x": b64url(numbers.x.to_bytes(size, "big")),
                "y": b64url(numbers.y.to_bytes(size, "big")),
            }
        ]
    }
