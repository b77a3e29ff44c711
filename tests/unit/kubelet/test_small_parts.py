"""IP pool, atomic writer, node capacity, cgroup arithmetic."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kubelite.kubelet import agent as agent_module
from kubelite.kubelet import atomic_writer
from kubelite.kubelet.atomic_writer import FileProjection
from kubelite.kubelet.cgroups import cfs_quota_us, limits_of
from kubelite.kubelet.ipam import IpPool, PoolExhausted
from kubelite.kubelet.node import machine_capacity


def test_ip_pool_skips_network_and_gateway_and_reuses_last() -> None:
    pool = IpPool("127.244.3.0/29")  # hosts .1-.6; .1 is the gateway
    ips = [pool.allocate(f"p{i}") for i in range(5)]
    assert ips == [f"127.244.3.{i}" for i in range(2, 7)]
    with pytest.raises(PoolExhausted):
        pool.allocate("p9")
    assert pool.allocate("p0") == "127.244.3.2"  # same owner, same IP
    pool.release("p1")
    assert pool.allocate("new") == "127.244.3.3"


def test_ip_pool_reserve() -> None:
    pool = IpPool("127.244.0.0/24")
    assert pool.reserve("a", "127.244.0.9")
    assert not pool.reserve("b", "127.244.0.9")
    assert pool.owner_of("127.244.0.9") == "a"


def test_atomic_writer_swaps_data_link(tmp_path: Path) -> None:
    assert atomic_writer.write(tmp_path, {"app.conf": FileProjection(b"v1", 0o600)})
    first = os.readlink(tmp_path / "..data")
    assert os.readlink(tmp_path / "app.conf") == "..data/app.conf"
    assert (tmp_path / "app.conf").read_bytes() == b"v1"
    assert (tmp_path / "app.conf").stat().st_mode & 0o777 == 0o600
    assert not atomic_writer.write(tmp_path, {"app.conf": FileProjection(b"v1", 0o600)})
    assert atomic_writer.write(tmp_path, {"other": FileProjection(b"v2")})
    assert os.readlink(tmp_path / "..data") != first
    assert not (tmp_path / first).exists()
    assert not (tmp_path / "app.conf").exists()
    assert (tmp_path / "other").read_bytes() == b"v2"


def test_atomic_writer_rejects_escaping_paths(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        atomic_writer.write(tmp_path, {"../x": FileProjection(b"")})


def test_capacity_is_split_across_nodes(tmp_path: Path) -> None:
    one = machine_capacity(tmp_path, 1)
    three = machine_capacity(tmp_path, 3)
    assert one["pods"] == three["pods"] == "110"
    assert int(three["memory"].removesuffix("Ki")) == int(one["memory"].removesuffix("Ki")) // 3


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ({}, {}),
        ({"limits": {"memory": "64Mi", "cpu": "250m"}}, {"memory": 64 * 2**20, "cpu": 250}),
        ({"requests": {"memory": "1Gi"}}, {}),
    ],
)
def test_limits_of(resources: dict, expected: dict) -> None:
    assert limits_of({"resources": resources}) == expected


@pytest.mark.parametrize(("milli", "quota"), [(250, 25_000), (1000, 100_000), (2, 1000)])
def test_cfs_quota(milli: int, quota: int) -> None:
    # quota = millicores x 100 ms period / 1000, at least 1 ms
    assert cfs_quota_us(milli) == quota


def test_busy_pod_subnets_are_read_from_the_socket_tables(tmp_path: Path) -> None:
    table = tmp_path / "tcp"
    table.write_text(
        "  sl  local_address rem_address   st\n"
        "   0: 0705F47F:1F90 00000000:0000 0A\n"  # 127.244.5.7:8080
        "   1: 0100007F:1F90 00000000:0000 0A\n"  # 127.0.0.1:8080
        "   2: 0209F47F:0050 00000000:0000 0A\n"  # 127.244.9.2:80
        "   3: 0000000000000000FFFF00000311F47F:1F90 00000000000000000000000000000000:0000 0A\n"
        "   4: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A\n"
    )
    assert agent_module.busy_pod_subnets((str(table), str(tmp_path / "missing"))) == {
        5,
        9,
        17,
    }  # ::ffff:127.244.17.3 too, not ::1


def test_a_new_data_dir_takes_a_pod_subnet_where_nothing_listens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agent_module, "busy_pod_subnets", lambda: set(range(256)) - {40, 41})
    assert agent_module._subnet_base(tmp_path, 2) == 40  # the only start with two free /24s
    assert (tmp_path / "pod-subnet").read_text() == "40\n"
    monkeypatch.setattr(agent_module, "busy_pod_subnets", lambda: set())
    assert agent_module._subnet_base(tmp_path, 2) == 40  # kept once picked
