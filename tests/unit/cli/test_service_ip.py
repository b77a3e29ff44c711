"""The `kubernetes` Service's address: one per running cluster, kept per data dir."""

from __future__ import annotations

import logging
import multiprocessing
import shutil
from pathlib import Path

import pytest

from kubelite.cli.datadir import DataDir
from kubelite.cli.service_ip import DEFAULT_SERVICE_IP, ServiceIPClaim


def _claim(tmp_path: Path, name: str) -> ServiceIPClaim:
    data = DataDir.at(tmp_path / name)
    data.ensure()
    return ServiceIPClaim(data, claims=tmp_path / "claims")


def test_a_lone_cluster_gets_the_first_address_and_keeps_it(tmp_path: Path) -> None:
    claim = _claim(tmp_path, "a")
    assert claim.acquire() == DEFAULT_SERVICE_IP
    assert (tmp_path / "a" / "service-ip").read_text() == "127.96.0.1\n"
    assert (tmp_path / "claims" / DEFAULT_SERVICE_IP).read_text().strip() == str(tmp_path / "a")
    claim.release()
    again = _claim(tmp_path, "a")
    assert again.acquire() == DEFAULT_SERVICE_IP and not again.shared_with


def test_a_second_running_cluster_gets_the_next_free_address(tmp_path: Path) -> None:
    first, second, third = (_claim(tmp_path, n) for n in ("a", "b", "c"))
    assert first.acquire() == "127.96.0.1"
    assert second.acquire() == "127.96.1.1"
    second.release()  # b stops: b keeps its address for its next start
    assert third.acquire() == "127.96.2.1"  # so a new cluster takes another
    assert (tmp_path / "b" / "service-ip").read_text() == "127.96.1.1\n"


def test_a_data_dir_whose_address_is_held_keeps_it_and_warns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    first = _claim(tmp_path, "a")
    first.acquire()
    late = _claim(tmp_path, "b")
    (tmp_path / "b" / "service-ip").write_text("127.96.0.1\n")  # made while a was down
    with caplog.at_level(logging.WARNING):
        assert late.acquire() == "127.96.0.1"
    assert late.shared_with == str(tmp_path / "a")
    assert "also held by the running cluster in" in caplog.text


def test_a_data_dir_from_before_the_choice_keeps_the_first_address(tmp_path: Path) -> None:
    first = _claim(tmp_path, "a")
    first.acquire()
    old = _claim(tmp_path, "old")
    (tmp_path / "old" / "state.db").write_bytes(b"")  # its Service and certificate name .1
    assert old.acquire() == DEFAULT_SERVICE_IP


def _hold(claims: str, root: str, ready: multiprocessing.synchronize.Event) -> None:
    claim = ServiceIPClaim(DataDir.at(root), claims=Path(claims))
    claim.acquire()
    ready.set()


def test_a_cluster_that_ended_frees_its_address(tmp_path: Path) -> None:
    (tmp_path / "gone").mkdir()
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Event()
    proc = ctx.Process(target=_hold, args=(str(tmp_path / "claims"), str(tmp_path / "gone"), ready))
    proc.start()
    proc.join()  # its lock went with it, without a release
    assert ready.is_set()
    back = _claim(tmp_path, "gone")  # its next start holds it again, shared with none
    assert back.acquire() == DEFAULT_SERVICE_IP and not back.shared_with
    back.release()
    shutil.rmtree(tmp_path / "gone")  # its data dir deleted: the address is anyone's
    assert _claim(tmp_path, "next").acquire() == DEFAULT_SERVICE_IP


def test_a_stopped_clusters_address_is_taken_last(tmp_path: Path) -> None:
    """A data dir whose cluster merely stopped keeps its address from new clusters
    while others are free: it comes back with it."""
    first = _claim(tmp_path, "a")
    assert first.acquire() == "127.96.0.1"
    first.release()  # a stops; its data dir stays
    newcomer = _claim(tmp_path, "b")
    assert newcomer.acquire() == "127.96.1.1"
    again = _claim(tmp_path, "a")
    assert again.acquire() == "127.96.0.1" and not again.shared_with
