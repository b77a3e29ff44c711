"""Clusters side by side on one machine never hold the same Service address."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kubelite.apiserver import errors
from kubelite.apiserver.client import LocalClient
from kubelite.apiserver.rest import RestStorage
from kubelite.apiserver.service_ips import ServiceIPAllocator, Taken
from kubelite.cli.service_addresses import ServiceAddresses, process_start
from kubelite.store import Store


def _service(ip: str, node_port: int | None = None) -> dict:
    port = {"port": 80, **({"nodePort": node_port} if node_port else {})}
    return {"spec": {"clusterIP": ip, "clusterIPs": [ip], "ports": [port]}}


def test_each_cluster_sees_what_the_others_hold_and_not_its_own(tmp_path: Path) -> None:
    one = ServiceAddresses(tmp_path / "one", directory=tmp_path / "shared")
    two = ServiceAddresses(tmp_path / "two", directory=tmp_path / "shared")
    one.publish([_service("127.96.0.1"), _service("127.96.200.200", 30080)])
    two.publish([_service("127.96.1.1")])
    assert one.taken_elsewhere() == Taken(frozenset({"127.96.1.1"}), frozenset())
    assert two.taken_elsewhere() == Taken(frozenset({"127.96.0.1", "127.96.200.200"}),
                                          frozenset({30080}))  # fmt: skip
    one.withdraw()  # a clean stop
    assert two.taken_elsewhere() == Taken(frozenset(), frozenset())


def test_a_crashed_clusters_file_counts_for_nothing(tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    start = process_start(gone.pid)
    gone.wait()
    shared = tmp_path / "shared"
    shared.mkdir()
    record = {"pid": gone.pid, "start": start, "clusterIPs": ["127.96.9.9"], "nodePorts": [30001]}
    (shared / "dead.json").write_text(json.dumps(record))
    (shared / "torn.json").write_text('{"pid": ')  # being written by hand: skipped
    mine = ServiceAddresses(tmp_path / "mine", directory=shared)
    assert mine.taken_elsewhere() == Taken(frozenset(), frozenset())
    assert process_start(os.getpid()) != ""


def test_the_allocator_leaves_other_clusters_addresses_alone(tmp_path: Path) -> None:
    elsewhere = Taken(frozenset({"127.96.200.200"}), frozenset({30080}))
    store = Store(tmp_path / "db.sqlite")
    allocator = ServiceIPAllocator(elsewhere=lambda: elsewhere)
    client = LocalClient(RestStorage(store, admission=[allocator]))

    def service(name: str, **spec: object) -> dict:
        ports = [{"port": 80, **({"nodePort": spec.pop("nodePort")} if "nodePort" in spec else {})}]
        return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name,
                "namespace": "default"}, "spec": {"type": "NodePort", "ports": ports, **spec}}  # fmt: skip

    async def main() -> None:
        with pytest.raises(errors.Invalid, match="failed to allocate IP 127.96.200.200: "
                           "provided IP is already allocated"):  # fmt: skip
            await client.create(service("a", clusterIP="127.96.200.200"))
        with pytest.raises(errors.Invalid, match="spec.ports\\[0\\].nodePort: Invalid value: "
                           "30080: provided port is already allocated"):  # fmt: skip
            await client.create(service("b", nodePort=30080))
        made = await client.create(service("c"))
        assert made["spec"]["ports"][0]["nodePort"] != 30080

    try:
        asyncio.run(main())
    finally:
        store.close()


@pytest.mark.parametrize("busy", [["127.96.0.1"], []])
def test_a_dynamic_address_avoids_other_clusters(busy: list[str]) -> None:
    allocator = ServiceIPAllocator(cidr="127.96.0.0/30", reserved=())
    # a /30 has two usable addresses: with one held elsewhere, the other is picked
    spec: dict = {"spec": {"ports": [{"port": 80}]}}
    assert allocator.allocate(spec, None, Taken(frozenset(busy), frozenset())) == []
    assert spec["spec"]["clusterIP"] not in busy
