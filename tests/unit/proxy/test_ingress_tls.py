"""The HTTPS listener's certificate choice: hosts from spec.tls, Secrets, SNI lookup."""

from __future__ import annotations

import base64
import ssl
from typing import Any

import pytest

from kubelite.proxy.ingress.status import status_change
from kubelite.proxy.ingress.tls import (
    Certificates,
    lookup,
    pem_pair,
    self_signed_pem,
    tls_hosts,
)


def ingress(
    name: str, created: str, *tls: dict[str, Any], namespace: str = "web"
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": created},
        "spec": {"tls": list(tls)},
    }


def tls_secret(name: str, pem: tuple[bytes, bytes], version: str = "1") -> dict[str, Any]:
    cert, key = pem
    return {
        "metadata": {"name": name, "namespace": "web", "resourceVersion": version},
        "type": "kubernetes.io/tls",
        "data": {
            "tls.crt": base64.b64encode(cert).decode(),
            "tls.key": base64.b64encode(key).decode(),
        },
    }


def test_hosts_map_to_secrets_and_the_oldest_ingress_wins() -> None:
    hosts = tls_hosts(
        [
            ingress(
                "new", "2025-02-01T00:00:00Z", {"hosts": ["A.com", "b.com"], "secretName": "new"}
            ),
            ingress("old", "2025-01-01T00:00:00Z", {"hosts": ["a.com"], "secretName": "old"}),
            ingress("none", "2025-01-01T00:00:00Z", {"hosts": ["c.com"]}),  # no secret: default
            ingress("wild", "2025-01-01T00:00:00Z", {"hosts": ["*.d.com"], "secretName": "wild"}),
        ]
    )
    assert hosts == {"a.com": ("web", "old"), "b.com": ("web", "new"), "*.d.com": ("web", "wild")}
    assert lookup(hosts, "A.COM") == ("web", "old")
    assert lookup(hosts, "x.d.com") == ("web", "wild")
    assert lookup(hosts, "x.y.d.com") is None
    assert lookup(hosts, "c.com") is None


def test_pem_pair_needs_both_halves() -> None:
    assert pem_pair({"data": {"tls.crt": base64.b64encode(b"c").decode()}}) is None
    assert pem_pair({"data": {"tls.crt": "!!", "tls.key": "!!"}}) is None


@pytest.fixture(scope="module")
def pems() -> dict[str, tuple[bytes, bytes]]:
    return {name: self_signed_pem(name) for name in ("shop", "other")}


def test_certificates_pick_by_name_and_fall_back_to_the_default(pems: dict[str, Any]) -> None:
    secrets = {("web", "shop"): tls_secret("shop", pems["shop"])}
    certs = Certificates()
    certs.update(
        [
            ingress("a", "2025-01-01T00:00:00Z", {"hosts": ["shop.local"], "secretName": "shop"}),
            ingress("b", "2025-01-01T00:00:00Z", {"hosts": ["gone.local"], "secretName": "gone"}),
        ],
        secrets.get,
    )
    shop = certs.for_name("shop.local")
    assert isinstance(shop, ssl.SSLContext)
    assert certs.for_name("gone.local") is None  # a missing Secret: the default certificate
    assert certs.for_name(None) is None
    assert certs.context().sni_callback is not None

    # the same Secret version keeps its context; a new version builds another
    certs.update(
        [ingress("a", "2025-01-01T00:00:00Z", {"hosts": ["shop.local"], "secretName": "shop"})],
        secrets.get,
    )
    assert certs.for_name("shop.local") is shop
    secrets[("web", "shop")] = tls_secret("shop", pems["other"], version="2")
    certs.update(
        [ingress("a", "2025-01-01T00:00:00Z", {"hosts": ["shop.local"], "secretName": "shop"})],
        secrets.get,
    )
    assert certs.for_name("shop.local") not in (None, shop)


def test_a_broken_secret_falls_back_to_the_default(pems: dict[str, Any]) -> None:
    cert, _ = pems["shop"]
    _, other_key = pems["other"]
    secrets = {("web", "bad"): tls_secret("bad", (cert, other_key))}  # key does not match
    certs = Certificates()
    certs.update(
        [ingress("a", "2025-01-01T00:00:00Z", {"hosts": ["bad.local"], "secretName": "bad"})],
        secrets.get,
    )
    assert certs.for_name("bad.local") is None


def test_status_names_the_https_port_for_an_ingress_with_tls() -> None:
    assert status_change({}, served=True, address="127.0.0.1", port=8080, tls_port=8443) == {
        "ingress": [
            {
                "ip": "127.0.0.1",
                "ports": [{"port": 8080, "protocol": "TCP"}, {"port": 8443, "protocol": "TCP"}],
            }
        ]
    }
    assert status_change({}, served=True, address="127.0.0.1", port=80, tls_port=443) == {
        "ingress": [{"ip": "127.0.0.1"}]
    }
