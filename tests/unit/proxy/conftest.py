"""Builders shared by the service-networking tests."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kubelite.apiserver.admission import default_plugins
from kubelite.apiserver.bootstrap import bootstrap_objects
from kubelite.apiserver.client import LocalClient
from kubelite.apiserver.rest import RestStorage
from kubelite.apiserver.service_ips import ServiceIPAllocator
from kubelite.proxy.nftables import NftablesProxy, available
from kubelite.store import Store


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[LocalClient]:
    store = Store(tmp_path / "db.sqlite")
    storage = RestStorage(store, admission=[*default_plugins(), ServiceIPAllocator()])
    for obj in bootstrap_objects(api_port=6443):
        storage.create(storage.registry.by_kind(obj["apiVersion"], obj["kind"]), None, obj)
    yield LocalClient(storage)
    store.close()


def make_service(
    name: str = "web",
    *,
    namespace: str = "default",
    type: str = "ClusterIP",
    ports: list[dict[str, Any]] | None = None,
    selector: dict[str, str] | None = None,
    **spec: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {"type": type, **spec}
    if type != "ExternalName":
        body["ports"] = ports if ports is not None else [{"name": "http", "port": 80}]
    if selector is not None:
        body["selector"] = selector
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": body,
    }


def make_pod(
    name: str,
    ip: str | None = "127.244.0.2",
    *,
    namespace: str = "default",
    labels: dict[str, str] | None = None,
    ready: bool = True,
    phase: str = "Running",
    ports: list[dict[str, Any]] | None = None,
    deleting: bool = False,
    hostname: str | None = None,
    subdomain: str | None = None,
    node: str = "node-1",
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "nodeName": node,
        "containers": [{"name": "app", "image": "app", "ports": ports or []}],
    }
    if hostname:
        spec["hostname"] = hostname
    if subdomain:
        spec["subdomain"] = subdomain
    md: dict[str, Any] = {
        "name": name,
        "namespace": namespace,
        "uid": f"uid-{name}",
        "labels": labels if labels is not None else {"app": "web"},
        "resourceVersion": "1",
    }
    if deleting:
        md["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    status: dict[str, Any] = {
        "phase": phase,
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
    }
    if ip:
        status["podIP"], status["podIPs"] = ip, [{"ip": ip}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": md, "spec": spec, "status": status}


@pytest.fixture
def kernel(request: pytest.FixtureRequest) -> Iterator[NftablesProxy]:
    """A kernel-mode proxy with a table of the test's own, removed afterwards."""
    why = available()
    if why is not None or shutil.which("nft") is None:
        pytest.skip(f"kernel mode cannot run here: {why}")
    proxy = NftablesProxy(f"kubelite-{request.module.__name__[-8:]}-{os.getpid()}")
    yield proxy
    proxy.remove()
