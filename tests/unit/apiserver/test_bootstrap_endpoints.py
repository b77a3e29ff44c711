"""The API's own endpoints: an Endpoints and an EndpointSlice both named `kubernetes`."""

from __future__ import annotations

import asyncio
from pathlib import Path

from kubelite.apiserver.bootstrap import bootstrap
from kubelite.apiserver.client import LocalClient
from kubelite.apiserver.rest import RestStorage
from kubelite.store import Store

SLICES = "discovery.k8s.io/v1"


def test_the_kubernetes_slice_is_named_for_its_service_and_follows_the_port(
    tmp_path: Path,
) -> None:
    async def main() -> None:
        store = Store(tmp_path / "db")
        client = LocalClient(RestStorage(store))
        mirrored = {  # what a mirroring controller made before the Endpoints were marked
            "apiVersion": SLICES, "kind": "EndpointSlice",
            "metadata": {"name": "kubernetes-abcde", "namespace": "default", "labels": {
                "kubernetes.io/service-name": "kubernetes",
                "endpointslice.kubernetes.io/managed-by": "endpointslicemirroring-controller.k8s.io",
            }},
            "addressType": "IPv4", "endpoints": [], "ports": [],
        }  # fmt: skip
        await bootstrap(client, api_port=6443)
        await client.create(mirrored)
        await bootstrap(client, api_port=7443)  # the next start, on another port
        slices, _ = await client.list(SLICES, "EndpointSlice", "default")
        assert [s["metadata"]["name"] for s in slices] == ["kubernetes"]
        [mine] = slices
        assert mine["metadata"]["labels"] == {"kubernetes.io/service-name": "kubernetes"}
        assert mine["ports"] == [{"name": "https", "port": 7443, "protocol": "TCP"}]
        assert mine["endpoints"] == [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}]
        endpoints = await client.get("v1", "Endpoints", "kubernetes", "default")
        assert endpoints["metadata"]["labels"] == {
            "endpointslice.kubernetes.io/skip-mirror": "true"
        }
        store.close()

    asyncio.run(main())
