"""The service-account controller and the root CA publisher: one object per namespace, kept."""

from __future__ import annotations

import pytest
from ctl_builders import Harness

from kubelite.controllers.rootca import (
    CONFIGMAP_NAME,
    DESCRIPTION,
    RootCACertPublisher,
    read_root_ca,
)
from kubelite.controllers.serviceaccounts import ServiceAccountsController

pytestmark = pytest.mark.anyio
CA = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


async def names(h: Harness, kind: str, ns: str) -> list[str]:
    return [o["metadata"]["name"] for o in await h.list(kind, ns)]


async def test_default_service_account_in_every_namespace_and_recreated(h: Harness) -> None:
    ctl = ServiceAccountsController()
    h.bind(ctl)
    await h.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team"}})
    for ns in ("default", "team"):
        await h.sync(ctl, ns)
        assert await names(h, "ServiceAccount", ns) == ["default"]
    await h.client.delete("v1", "ServiceAccount", "default", "team")
    await h.sync(ctl, "team")
    assert await names(h, "ServiceAccount", "team") == ["default"]


async def test_no_service_account_in_a_terminating_namespace(h: Harness) -> None:
    ctl = ServiceAccountsController()
    h.bind(ctl)
    await h.create(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": "going", "finalizers": ["example.com/hold"]},
        }
    )
    await h.client.delete("v1", "Namespace", "going")  # Terminating: the finalizer holds it
    assert (await h.get("Namespace", "going", None))["metadata"].get("deletionTimestamp")
    await h.sync(ctl, "going")
    assert await names(h, "ServiceAccount", "going") == []


async def test_root_ca_published_and_restored(h: Harness) -> None:
    ctl = RootCACertPublisher(CA)
    h.bind(ctl)
    await h.sync(ctl, "default")
    cm = await h.get("ConfigMap", CONFIGMAP_NAME)
    assert cm["data"] == {"ca.crt": CA}
    assert cm["metadata"]["annotations"]["kubernetes.io/description"] == DESCRIPTION

    cm["data"] = {"ca.crt": "tampered", "extra": "x"}
    await h.client.update(cm)
    await h.sync(ctl, "default")
    assert (await h.get("ConfigMap", CONFIGMAP_NAME))["data"] == {"ca.crt": CA}

    await h.client.delete("v1", "ConfigMap", CONFIGMAP_NAME, "default")
    await h.sync(ctl, "default")
    assert (await h.get("ConfigMap", CONFIGMAP_NAME))["data"] == {"ca.crt": CA}


async def test_root_ca_annotation_put_back(h: Harness) -> None:
    ctl = RootCACertPublisher(CA)
    h.bind(ctl)
    await h.sync(ctl, "default")
    cm = await h.get("ConfigMap", CONFIGMAP_NAME)
    cm["metadata"]["annotations"] = {}
    await h.client.update(cm)
    await h.sync(ctl, "default")
    cm = await h.get("ConfigMap", CONFIGMAP_NAME)
    assert cm["metadata"]["annotations"]["kubernetes.io/description"] == DESCRIPTION


async def test_no_ca_publishes_nothing(h: Harness) -> None:
    ctl = RootCACertPublisher("")
    h.bind(ctl)
    await h.sync(ctl, "default")
    assert CONFIGMAP_NAME not in await names(h, "ConfigMap", "default")


def test_read_root_ca(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert read_root_ca(tmp_path) == ""
    (tmp_path / "tls").mkdir()
    (tmp_path / "tls" / "ca.crt").write_text(CA)
    assert read_root_ca(tmp_path) == CA
