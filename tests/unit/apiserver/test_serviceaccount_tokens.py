"""Service-account tokens: the JWT we sign, what we accept, and the TokenRequest subresource."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from tests.unit.apiserver.inprocess_api import TOKEN, call

from kubelite.apiserver import errors, jws
from kubelite.apiserver.certs import service_account_key
from kubelite.apiserver.http import ApiApp
from kubelite.apiserver.rest import RestStorage
from kubelite.apiserver.serviceaccount_tokens import (
    ISSUER,
    InvalidToken,
    ServiceAccountTokens,
    store_lookup,
)
from kubelite.apiserver.tokenrequest import create_token
from kubelite.store import Store

Obj = dict[str, Any]
T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def sa(name: str = "default", ns: str = "default", uid: str = "sa-uid") -> Obj:
    return {"metadata": {"name": name, "namespace": ns, "uid": uid}}


def pod(name: str = "web", uid: str = "pod-uid", **md: Any) -> Obj:
    return {"metadata": {"name": name, "namespace": "default", "uid": uid, **md}}


def lookup_of(*objs: tuple[str, Obj]) -> Any:
    table = {
        (kind, o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for kind, o in objs
    }
    return lambda kind, ns, name: table.get((kind, ns, name))


def payload(token: str) -> Obj:
    return orjson.loads(jws.b64url_decode(token.split(".")[1]))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tokens(clock: Clock) -> ServiceAccountTokens:
    return ServiceAccountTokens(ec.generate_private_key(ec.SECP256R1()), clock=clock)


# ---- the JWT -------------------------------------------------------------------------


def test_issued_token_carries_upstream_claims(tokens: ServiceAccountTokens) -> None:
    issued = tokens.issue(sa(), audiences=["vault"], expiration_s=3600, bound={"pod": pod()})
    header = orjson.loads(jws.b64url_decode(issued.token.split(".")[0]))
    claims = payload(issued.token)
    assert header == {"alg": "ES256", "kid": jws.key_id(tokens.public_key)}
    assert claims["iss"] == ISSUER == "https://kubernetes.default.svc.cluster.local"
    assert claims["sub"] == "system:serviceaccount:default:default"
    assert claims["aud"] == ["vault"]
    assert (claims["iat"], claims["nbf"], claims["exp"]) == (T0, T0, T0 + 3600)
    assert issued.expires == T0 + 3600
    assert claims["kubernetes.io"] == {
        "namespace": "default",
        "serviceaccount": {"name": "default", "uid": "sa-uid"},
        "pod": {"name": "web", "uid": "pod-uid"},
    }


def test_signature_verifies_and_tampering_does_not(tokens: ServiceAccountTokens) -> None:
    token = tokens.issue(sa(), audiences=[ISSUER], expiration_s=600).token
    assert jws.verify(token, tokens.public_key)["sub"] == "system:serviceaccount:default:default"
    head, body, sig = token.split(".")
    forged = dict(payload(token), sub="system:serviceaccount:kube-system:admin")
    with pytest.raises(InvalidToken, match="invalid signature"):
        jws.verify(f"{head}.{jws.b64url(orjson.dumps(forged))}.{sig}", tokens.public_key)
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    with pytest.raises(InvalidToken):
        jws.verify(token, other)


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("garbage", id="not-a-jws"),
        pytest.param("a.b.c", id="bad-json"),
        pytest.param(
            jws.b64url(b'{"alg":"none"}') + "." + jws.b64url(b'{"sub":"x"}') + ".", id="alg-none"
        ),
        pytest.param(
            jws.b64url(b'{"alg":"HS256"}') + "." + jws.b64url(b'{"sub":"x"}') + ".AAAA",
            id="alg-hmac",
        ),
    ],
)
def test_malformed_or_unsigned_tokens_are_refused(tokens: ServiceAccountTokens, token: str) -> None:
    with pytest.raises(InvalidToken):
        tokens.authenticate(token, lookup_of(("ServiceAccount", sa())))


@pytest.mark.parametrize(
    ("step", "ok"),
    [
        pytest.param(0, True, id="fresh"),
        pytest.param(600 + 60, True, id="at-expiry-plus-leeway"),  # exp + 60 s leeway
        pytest.param(600 + 61, False, id="expired"),
        pytest.param(-61, False, id="not-yet-valid"),  # nbf - 60 s leeway
    ],
)
def test_lifetime_with_upstream_leeway(
    tokens: ServiceAccountTokens, clock: Clock, step: float, ok: bool
) -> None:
    token = tokens.issue(sa(), audiences=[ISSUER], expiration_s=600).token
    clock.now += step
    lookup = lookup_of(("ServiceAccount", sa()))
    if ok:
        assert tokens.authenticate(token, lookup) == "system:serviceaccount:default:default"
    else:
        with pytest.raises(InvalidToken):
            tokens.authenticate(token, lookup)


def test_token_for_another_audience_does_not_authenticate(tokens: ServiceAccountTokens) -> None:
    token = tokens.issue(sa(), audiences=["vault"], expiration_s=600).token
    with pytest.raises(InvalidToken, match="audiences"):
        tokens.authenticate(token, lookup_of(("ServiceAccount", sa())))


def test_token_of_another_issuer_is_refused(clock: Clock) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    theirs = ServiceAccountTokens(key, issuer="https://elsewhere", clock=clock)
    ours = ServiceAccountTokens(key, clock=clock)
    token = theirs.issue(sa(), audiences=[ISSUER], expiration_s=600).token
    with pytest.raises(InvalidToken, match="not issued"):
        ours.authenticate(token, lookup_of(("ServiceAccount", sa())))


@pytest.mark.parametrize(
    ("present", "ok"),
    [
        pytest.param([("ServiceAccount", sa()), ("Pod", pod())], True, id="both-exist"),
        pytest.param([("Pod", pod())], False, id="service-account-deleted"),
        pytest.param([("ServiceAccount", sa(uid="new")), ("Pod", pod())], False, id="sa-recreated"),
        pytest.param([("ServiceAccount", sa())], False, id="pod-deleted"),
        pytest.param(
            [("ServiceAccount", sa()), ("Pod", pod(uid="new"))], False, id="pod-recreated"
        ),
        pytest.param(
            [("ServiceAccount", sa()), ("Pod", pod(deletionTimestamp="2027-01-15T07:58:00Z"))],
            False,
            id="pod-deleted-over-60s-ago",  # T0 - 120 s
        ),
    ],
)
def test_bound_token_needs_its_objects(
    tokens: ServiceAccountTokens, present: list[tuple[str, Obj]], ok: bool
) -> None:
    token = tokens.issue(sa(), audiences=[ISSUER], expiration_s=600, bound={"pod": pod()}).token
    if ok:
        assert tokens.authenticate(token, lookup_of(*present))
    else:
        with pytest.raises(InvalidToken):
            tokens.authenticate(token, lookup_of(*present))


def test_given_key_id_signs_the_same_header(tokens: ServiceAccountTokens) -> None:
    claims = {"sub": "x"}
    derived = jws.sign(claims, tokens.key).split(".")[0]
    assert jws.sign(claims, tokens.key, kid=tokens.kid).split(".")[0] == derived
    assert tokens.kid == jws.key_id(tokens.public_key)
    other = ec.generate_private_key(ec.SECP256R1())
    header = orjson.loads(jws.b64url_decode(jws.sign(claims, other).split(".")[0]))
    assert header == {"alg": "ES256", "kid": jws.key_id(other.public_key())}


def test_key_is_kept_private_and_reused(tmp_path: Path) -> None:
    first = service_account_key(tmp_path / "tls")
    again = service_account_key(tmp_path / "tls")
    assert (tmp_path / "tls" / "sa.key").stat().st_mode & 0o777 == 0o600
    assert jws.key_id(first.public_key()) == jws.key_id(again.public_key())


# ---- TokenRequest ------------------------------------------------------------------------


@pytest.fixture
def storage(tmp_path: Path) -> Any:
    store = Store(tmp_path / "db")
    storage = RestStorage(store, clock=lambda: T0)
    reg = storage.registry
    storage.create(
        reg.by_kind("v1", "Namespace"),
        None,
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}},
    )
    storage.create(
        reg.by_kind("v1", "ServiceAccount"),
        "default",
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}},
    )
    storage.create(
        reg.by_kind("v1", "ServiceAccount"),
        "default",
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "builder"}},
    )
    storage.create(
        reg.by_kind("v1", "Pod"),
        "default",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web"},
            "spec": {
                "serviceAccountName": "default",
                "containers": [{"name": "c", "image": "app:v1"}],
            },
        },
    )
    yield storage
    store.close()


def request(**spec: Any) -> Obj:
    return {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec}


def test_token_request_defaults_and_answer(storage: Any, tokens: ServiceAccountTokens) -> None:
    out = create_token(storage, tokens, "default", "default", request())
    assert out["kind"] == "TokenRequest" and out["apiVersion"] == "authentication.k8s.io/v1"
    assert out["spec"]["expirationSeconds"] == 3600
    assert out["spec"]["audiences"] == [ISSUER]
    assert "boundObjectRef" not in out["spec"]  # omitempty, not null
    assert out["status"]["expirationTimestamp"] == "2027-01-15T09:00:00Z"  # T0 (08:00) + 3600 s
    claims = payload(out["status"]["token"])
    assert claims["exp"] - claims["iat"] == 3600
    assert tokens.authenticate(out["status"]["token"], store_lookup(storage))


def test_pod_bound_token_names_the_pod(storage: Any, tokens: ServiceAccountTokens) -> None:
    uid = storage.get(storage.registry.by_kind("v1", "Pod"), "default", "web").obj()["metadata"][
        "uid"
    ]
    ref = {"apiVersion": "v1", "kind": "Pod", "name": "web", "uid": uid}
    out = create_token(storage, tokens, "default", "default", request(boundObjectRef=ref))
    assert payload(out["status"]["token"])["kubernetes.io"]["pod"] == {"name": "web", "uid": uid}
    lookup = store_lookup(storage)
    assert tokens.authenticate(out["status"]["token"], lookup)
    storage.store.delete(storage.registry.by_kind("v1", "Pod").key("default", "web"))
    with pytest.raises(InvalidToken, match="service account token has been invalidated"):
        tokens.authenticate(out["status"]["token"], lookup)


@pytest.mark.parametrize(
    ("name", "spec", "error", "message"),
    [
        pytest.param(
            "default",
            {"expirationSeconds": 599},
            errors.Invalid,
            'TokenRequest.authentication.k8s.io "default" is invalid: spec.expirationSeconds: '
            "Invalid value: 599: may not specify a duration less than 10 minutes",
            id="too-short",
        ),
        pytest.param(
            "default",
            {"expirationSeconds": (1 << 32) + 1},
            errors.Invalid,
            "may not specify a duration larger than 2^32 seconds",
            id="too-long",
        ),
        pytest.param("ghost", {}, errors.NotFound, 'serviceaccounts "ghost" not found', id="no-sa"),
        pytest.param(
            "builder",
            {"boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "web"}},
            errors.BadRequest,
            'cannot bind token for serviceaccount "builder" to pod running with serviceaccount '
            '"default"',
            id="pod-of-another-sa",
        ),
        pytest.param(
            "default",
            {"boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "web", "uid": "stale"}},
            errors.Conflict,
            # the record's UID is not revealed (pkg/registry/core/serviceaccount/storage/token.go)
            'Operation cannot be fulfilled on Pod "web": the UID in the bound object reference '
            "(stale) does not match the UID in record. The object might have been deleted and "
            "then recreated",
            id="stale-uid",
        ),
        pytest.param(
            "default",
            {"boundObjectRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"}},
            errors.BadRequest,
            "cannot bind token to object of type apps/v1, Kind=Deployment",
            id="unbindable-kind",
        ),
        pytest.param(
            "default",
            {"boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "gone"}},
            errors.NotFound,
            'pods "gone" not found',
            id="missing-pod",
        ),
    ],
)
def test_token_request_refusals(
    storage: Any, tokens: ServiceAccountTokens, name: str, spec: Obj, error: type, message: str
) -> None:
    with pytest.raises(error) as info:
        create_token(storage, tokens, "default", name, request(**spec))
    assert message in info.value.message


def test_token_for_a_scheduled_pod_names_its_node(
    storage: Any, tokens: ServiceAccountTokens
) -> None:
    reg = storage.registry
    pods, nodes = reg.by_kind("v1", "Pod"), reg.by_kind("v1", "Node")
    spec = {
        "serviceAccountName": "default",
        "nodeName": "node-1",
        "containers": [{"name": "c", "image": "db:v1"}],
    }
    storage.create(
        pods,
        "default",
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "db"}, "spec": spec},
    )
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"}}

    def node_claim() -> Obj:
        ref = {"apiVersion": "v1", "kind": "Pod", "name": "db"}
        out = create_token(storage, tokens, "default", "default", request(boundObjectRef=ref))
        return dict(payload(out["status"]["token"])["kubernetes.io"]["node"])

    first_uid = storage.create(nodes, None, dict(node)).obj()["metadata"]["uid"]
    assert node_claim() == node_claim() == {"name": "node-1", "uid": first_uid}
    storage.store.delete(nodes.key(None, "node-1"))
    second_uid = storage.create(nodes, None, dict(node)).obj()["metadata"]["uid"]
    assert second_uid != first_uid
    assert node_claim() == {"name": "node-1", "uid": second_uid}


def test_expiration_timestamps_follow_the_clock(
    storage: Any, tokens: ServiceAccountTokens, clock: Clock
) -> None:
    stamps = []
    for step in (0, 0.5, 1, 3600):
        clock.now = T0 + step
        out = create_token(storage, tokens, "default", "default", request())
        stamps.append(out["status"]["expirationTimestamp"])
    assert stamps == [
        "2027-01-15T09:00:00Z",
        "2027-01-15T09:00:00Z",
        "2027-01-15T09:00:01Z",
        "2027-01-15T10:00:00Z",
    ]


# ---- TokenReview -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token_auds", "asked", "matched"),
    [
        pytest.param(["aud1"], ["aud1"], ("aud1",), id="asked-for-its-audience"),
        pytest.param(["aud1", "aud2"], ["aud2", "x", "aud1"], ("aud2", "aud1"), id="request-order"),
        pytest.param([ISSUER], None, (ISSUER,), id="default-the-apis"),
        pytest.param([], ["x", ISSUER], (ISSUER,), id="no-aud-is-the-apis"),  # legacy tokens
    ],
)
def test_review_is_for_the_audiences_asked(
    tokens: ServiceAccountTokens,
    token_auds: list[str],
    asked: list[str] | None,
    matched: tuple[str, ...],
) -> None:
    token = tokens.issue(sa(), audiences=token_auds, expiration_s=600).token
    info = tokens.review(token, lookup_of(("ServiceAccount", sa())), asked)
    assert info.audiences == matched
    assert (info.username, info.uid) == ("system:serviceaccount:default:default", "sa-uid")


@pytest.mark.parametrize(
    ("token_auds", "asked", "message"),
    [
        pytest.param(
            ["aud1"],
            None,
            'token audiences ["aud1"] is invalid for the target audiences '
            '["https://kubernetes.default.svc.cluster.local"]',
            id="not-for-the-api",
        ),
        pytest.param(
            [ISSUER],
            ["vault", "other"],
            'token audiences ["https://kubernetes.default.svc.cluster.local"] is invalid for '
            'the target audiences ["vault" "other"]',
            id="api-token-for-vault",
        ),
    ],
)
def test_review_refuses_a_token_for_other_audiences(
    tokens: ServiceAccountTokens, token_auds: list[str], asked: list[str] | None, message: str
) -> None:
    token = tokens.issue(sa(), audiences=token_auds, expiration_s=600).token
    with pytest.raises(InvalidToken) as exc:
        tokens.review(token, lookup_of(("ServiceAccount", sa())), asked)
    assert str(exc.value) == message


def test_review_extra_names_the_credential_pod_and_node(tokens: ServiceAccountTokens) -> None:
    node = {"metadata": {"name": "n1", "uid": "node-uid"}}
    token = tokens.issue(
        sa(), audiences=[ISSUER], expiration_s=600, bound={"pod": pod(), "node": node}
    ).token
    jti = payload(token)["jti"]
    info = tokens.review(token, lookup_of(("ServiceAccount", sa()), ("Pod", pod())))
    assert info.extra == {
        "authentication.kubernetes.io/credential-id": [f"JTI={jti}"],
        "authentication.kubernetes.io/node-name": ["n1"],
        "authentication.kubernetes.io/node-uid": ["node-uid"],
        "authentication.kubernetes.io/pod-name": ["web"],
        "authentication.kubernetes.io/pod-uid": ["pod-uid"],
    }
    plain = tokens.issue(sa(), audiences=[ISSUER], expiration_s=600).token
    assert list(tokens.review(plain, lookup_of(("ServiceAccount", sa()))).extra) == [
        "authentication.kubernetes.io/credential-id"
    ]


def test_issued_here_reads_the_issuer_unverified(
    tokens: ServiceAccountTokens, clock: Clock
) -> None:
    ours = tokens.issue(sa(), audiences=[ISSUER], expiration_s=600).token
    theirs = ServiceAccountTokens(ec.generate_private_key(ec.SECP256R1()), issuer="https://x")
    other = theirs.issue(sa(), audiences=[ISSUER], expiration_s=600).token
    assert tokens.issued_here(ours) and not tokens.issued_here(other)
    assert not tokens.issued_here("garbage") and not tokens.issued_here("a.b.c")


def token_review(app: Any, token: str, audiences: list[str] | None = None) -> Obj:
    spec: Obj = {"token": token, **({"audiences": audiences} if audiences else {})}
    body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": spec}
    resp = call(app, "POST", "/apis/authentication.k8s.io/v1/tokenreviews", body)
    assert resp.status_code == 201, resp.text
    status: Obj = resp.json()["status"]
    return status


def test_token_review_api(storage: Any, tokens: ServiceAccountTokens) -> None:
    app = ApiApp(storage, token=TOKEN, tokens=tokens)
    vault = create_token(storage, tokens, "default", "default", request(audiences=["aud1"]))
    token = vault["status"]["token"]
    sa_uid = storage.get(storage.registry.by_kind("v1", "ServiceAccount"), "default", "default")
    good = token_review(app, token, ["aud1"])
    assert good == {
        "authenticated": True,
        "user": {
            "username": "system:serviceaccount:default:default",
            "uid": sa_uid.obj()["metadata"]["uid"],
            "groups": [
                "system:serviceaccounts",
                "system:serviceaccounts:default",
                "system:authenticated",
            ],
            "extra": {
                "authentication.kubernetes.io/credential-id": [f"JTI={payload(token)['jti']}"]
            },
        },
        "audiences": ["aud1"],
    }
    # Not for the API server: refused by default, with upstream's reason, and no `authenticated`.
    assert token_review(app, token) == {
        "user": {},
        "error": 'token audiences ["aud1"] is invalid for the target audiences '
        '["https://kubernetes.default.svc.cluster.local"]',
    }
    api = create_token(storage, tokens, "default", "default", request())["status"]["token"]
    assert token_review(app, api)["audiences"] == [ISSUER]
    assert "error" in token_review(app, api, ["vault"])
    # The cluster's own token is for the API's audiences only; junk is nobody's.
    assert token_review(app, TOKEN)["user"]["username"] == "system:admin"
    assert token_review(app, TOKEN, ["vault"]) == {"user": {}, "error": "invalid bearer token"}
    assert token_review(app, "junk") == {"user": {}, "error": "invalid bearer token"}
    missing = call(
        app,
        "POST",
        "/apis/authentication.k8s.io/v1/tokenreviews",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {}},
    )
    assert missing.status_code == 400
    assert missing.json()["message"] == "token is required for TokenReview in authentication"


def test_issuer_discovery_serves_the_keys_that_verify_the_tokens(
    storage: Any, tokens: ServiceAccountTokens
) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec as ec_keys

    from kubelite.apiserver import jws

    app = ApiApp(storage, token=TOKEN, tokens=tokens)
    config = call(app, "GET", "/.well-known/openid-configuration")
    assert config.status_code == 200
    assert config.json() == {
        "issuer": "https://kubernetes.default.svc.cluster.local",
        "jwks_uri": "https://kubernetes.default.svc.cluster.local/openid/v1/jwks",
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
    }
    keys = call(app, "GET", "/openid/v1/jwks")
    assert keys.headers["content-type"] == "application/jwk-set+json"
    (key,) = keys.json()["keys"]
    assert (key["kty"], key["crv"], key["alg"], key["use"]) == ("EC", "P-256", "ES256", "sig")
    numbers = ec_keys.EllipticCurvePublicNumbers(
        int.from_bytes(jws.b64url_decode(key["x"]), "big"),
        int.from_bytes(jws.b64url_decode(key["y"]), "big"),
        ec_keys.SECP256R1(),
    )
    token = create_token(storage, tokens, "default", "default", request())["status"]["token"]
    assert jws.verify(token, numbers.public_key())["iss"] == config.json()["issuer"]
    assert key["kid"] == jws.key_id(numbers.public_key())


def test_a_legacy_token_lives_with_its_secret_and_account(tokens: ServiceAccountTokens) -> None:
    import base64

    from kubelite.apiserver.serviceaccount_tokens import LEGACY_ISSUER

    secret = {"metadata": {"name": "t", "namespace": "default", "uid": "s-uid"}}
    token = tokens.issue_legacy(sa(), secret)
    claims = payload(token)
    assert claims == {
        "iss": LEGACY_ISSUER,
        "kubernetes.io/serviceaccount/namespace": "default",
        "kubernetes.io/serviceaccount/secret.name": "t",
        "kubernetes.io/serviceaccount/service-account.name": "default",
        "kubernetes.io/serviceaccount/service-account.uid": "sa-uid",
        "sub": "system:serviceaccount:default:default",
    }
    held = {**secret, "data": {"token": base64.b64encode(token.encode()).decode()}}
    assert tokens.issued_here(token)
    assert tokens.authenticate(token, lookup_of(("Secret", held), ("ServiceAccount", sa()))) == (
        "system:serviceaccount:default:default"
    )
    with pytest.raises(InvalidToken, match="invalidated"):
        tokens.authenticate(token, lookup_of(("ServiceAccount", sa())))
    other = {**secret, "data": {"token": base64.b64encode(b"x").decode()}}
    with pytest.raises(InvalidToken, match="does not match"):
        tokens.authenticate(token, lookup_of(("Secret", other), ("ServiceAccount", sa())))
    with pytest.raises(InvalidToken, match="has been deleted"):
        tokens.authenticate(token, lookup_of(("Secret", held), ("ServiceAccount", sa(uid="new"))))


def _secret(uid: str = "sec-uid", **md: Any) -> Obj:
    return {"metadata": {"name": "bs", "namespace": "default", "uid": uid, **md}}


def _node(uid: str = "node-uid") -> Obj:
    return {"metadata": {"name": "n1", "uid": uid}}


# T0 (08:00:00) - 61 s and - 30 s: deleted before / within upstream's 60 s of grace
LONG_AGO, JUST_NOW = "2027-01-15T07:58:59Z", "2027-01-15T07:59:30Z"


@pytest.mark.parametrize(
    ("bound", "objs", "message"),
    [
        pytest.param({"pod": pod()}, [], "service account token has been invalidated", id="pod-gone"),
        pytest.param({"pod": pod()}, [("Pod", pod(uid="new"))], "pod UID (new) does not match service account pod ref claim (pod-uid)", id="pod-recreated"),
        pytest.param({"pod": pod()}, [("Pod", pod(deletionTimestamp=LONG_AGO))], "service account token has been invalidated", id="pod-deleting"),
        pytest.param({"secret": _secret()}, [], "service account token has been invalidated", id="secret-gone"),
        pytest.param({"secret": _secret()}, [("Secret", _secret(uid="new"))], "secret UID (new) does not match service account secret ref claim (sec-uid)", id="secret-recreated"),
        pytest.param({"secret": _secret()}, [("Secret", _secret(deletionTimestamp=LONG_AGO))], "service account token has been invalidated", id="secret-deleting"),
        pytest.param({"node": _node()}, [], "service account token has been invalidated", id="node-gone"),
        pytest.param({"node": _node()}, [("Node", _node(uid="new"))], "node UID (new) does not match service account node ref claim (node-uid)", id="node-recreated"),
        pytest.param({}, [("ServiceAccount", None)], 'serviceaccounts "default" not found', id="sa-gone"),
        pytest.param({}, [("ServiceAccount", sa(uid="new"))], "service account UID (new) does not match claim (sa-uid)", id="sa-recreated"),
    ],
)  # fmt: skip
def test_review_refusals_use_upstream_texts(
    tokens: ServiceAccountTokens, clock: Clock, bound: Obj, objs: list[Any], message: str
) -> None:
    # pkg/serviceaccount/claims.go validator.Validate
    clock.now = T0 - 3600  # issued an hour before the review
    issued = tokens.issue(sa(), audiences=[ISSUER], expiration_s=7200, bound=bound)
    clock.now = T0
    table = dict([("ServiceAccount", sa())] + objs)
    found = [(kind, obj) for kind, obj in table.items() if obj is not None]
    with pytest.raises(InvalidToken) as caught:
        tokens.authenticate(issued.token, lookup_of(*found))
    assert str(caught.value) == message


def test_an_object_deleted_within_the_grace_keeps_its_tokens(
    tokens: ServiceAccountTokens,
) -> None:
    issued = tokens.issue(sa(), audiences=[ISSUER], expiration_s=3600, bound={"secret": _secret()})
    lookup = lookup_of(("ServiceAccount", sa()), ("Secret", _secret(deletionTimestamp=JUST_NOW)))
    assert tokens.authenticate(issued.token, lookup) == "system:serviceaccount:default:default"


@pytest.mark.parametrize(
    ("seconds", "bound", "audiences", "extended"),
    [
        pytest.param(3607, {"pod": pod()}, [ISSUER], True, id="kubelet-pod-token"),
        pytest.param(3600, {"pod": pod()}, [ISSUER], False, id="other-lifetime"),
        pytest.param(3607, {}, [ISSUER], False, id="not-pod-bound"),
        pytest.param(3607, {"pod": pod()}, ["vault"], False, id="foreign-audience"),
    ],
)
def test_kubelet_pod_tokens_are_extended_to_a_year(
    tokens: ServiceAccountTokens, seconds: int, bound: Obj, audiences: list[str], extended: bool
) -> None:
    # pkg/registry/core/serviceaccount/storage/token.go with --service-account-extend-token-
    # expiration (default true): exp = iat + 1 year, kubernetes.io.warnafter = iat + 3607
    issued = tokens.issue(sa(), audiences=audiences, expiration_s=seconds, bound=bound)
    claims = payload(issued.token)
    assert issued.expires == T0 + seconds  # the TokenRequest's status keeps the asked lifetime
    if extended:
        assert claims["exp"] == T0 + 365 * 24 * 3600
        assert claims["kubernetes.io"]["warnafter"] == T0 + 3607
    else:
        assert claims["exp"] == T0 + seconds
        assert "warnafter" not in claims["kubernetes.io"]


# ---- legacy token tracking and invalidation (LegacyServiceAccountTokenTracking/CleanUp) --


class Labeler:
    """A lookup that records the labels written, as `StoreLookup` writes them."""

    def __init__(self, *objs: tuple[str, Obj]) -> None:
        self.find = lookup_of(*objs)
        self.written: list[dict[str, str]] = []

    def __call__(self, kind: str, ns: str, name: str) -> Obj | None:
        return self.find(kind, ns, name)

    def label_secret(self, secret: Obj, labels: dict[str, str]) -> None:
        self.written.append(labels)


def legacy(tokens: ServiceAccountTokens, **labels: str) -> tuple[str, Obj]:
    import base64

    secret: Obj = {"metadata": {"name": "t", "namespace": "default", "uid": "s-uid"}}
    token = tokens.issue_legacy(sa(), secret)
    secret["metadata"]["labels"] = labels
    secret["data"] = {"token": base64.b64encode(token.encode()).decode()}
    return token, secret


LAST_USED = "kubernetes.io/legacy-token-last-used"
INVALID_SINCE = "kubernetes.io/legacy-token-invalid-since"


@pytest.mark.parametrize(
    ("last_used", "written"),
    [
        # T0 is 2027-01-15T08:00:00Z: upstream writes unless the label says today or tomorrow.
        pytest.param(None, [{LAST_USED: "2027-01-15"}], id="never-used"),
        pytest.param("2027-01-14", [{LAST_USED: "2027-01-15"}], id="used-yesterday"),
        pytest.param("2027-01-15", [], id="used-today"),
        pytest.param("2027-01-16", [], id="used-tomorrow-skew"),
    ],
)
def test_a_legacy_token_records_the_day_it_is_used(
    tokens: ServiceAccountTokens, last_used: str | None, written: list[dict[str, str]]
) -> None:
    token, secret = legacy(tokens, **({LAST_USED: last_used} if last_used else {}))
    lookup = Labeler(("Secret", secret), ("ServiceAccount", sa()))
    assert tokens.authenticate(token, lookup) == "system:serviceaccount:default:default"
    assert lookup.written == written


def test_a_legacy_token_marked_invalid_is_refused(tokens: ServiceAccountTokens) -> None:
    token, secret = legacy(tokens, **{INVALID_SINCE: "2026-01-01"})
    lookup = Labeler(("Secret", secret), ("ServiceAccount", sa()))
    with pytest.raises(InvalidToken) as refused:
        tokens.authenticate(token, lookup)
    assert str(refused.value) == (
        "the token in secret default/t for service account default/default has been marked "
        "invalid. Use tokens from the TokenRequest API or manually created secret-based "
        "tokens, or remove the 'kubernetes.io/legacy-token-invalid-since' label from the "
        "secret to temporarily allow use of this token"
    )
    assert lookup.written == [{LAST_USED: "2027-01-15"}]  # upstream records it anyway
    # An empty label does not invalidate (upstream: `invalidSince != ""`).
    token, secret = legacy(tokens, **{INVALID_SINCE: ""})
    assert tokens.authenticate(token, lookup_of(("Secret", secret), ("ServiceAccount", sa())))


def test_legacy_token_labels_through_the_api(storage: Any, tokens: ServiceAccountTokens) -> None:
    import base64

    reg = storage.registry
    secrets, sas = reg.by_kind("v1", "Secret"), reg.by_kind("v1", "ServiceAccount")
    account = storage.get(sas, "default", "default").obj()
    body: Obj = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "tok",
            "annotations": {"kubernetes.io/service-account.name": "default"},
        },
        "type": "Opaque",
    }
    created = storage.create(secrets, "default", body).obj()
    token = tokens.issue_legacy(account, created)
    created["data"] = {"token": base64.b64encode(token.encode()).decode()}
    storage.update(secrets, "default", "tok", created)
    app = ApiApp(storage, token=TOKEN, tokens=tokens)
    pods = "/api/v1/namespaces/default/pods"
    assert call(app, "GET", pods, authorization=f"Bearer {token}").status_code == 200
    labels = storage.get(secrets, "default", "tok").obj()["metadata"]["labels"]
    assert labels == {LAST_USED: "2027-01-15"}

    def invalidate(s: Obj) -> Obj:
        s["metadata"]["labels"][INVALID_SINCE] = "2026-01-01"
        return s

    storage.replace_with(secrets, "default", "tok", invalidate)
    refused = call(app, "GET", pods, authorization=f"Bearer {token}")
    assert refused.status_code == 401
