"""`kubectl top`'s figures: CPU rates over a window, quantities as metrics-server writes them."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace
from typing import Any

from kubelite.kubelet import metrics
from kubelite.kubelet.metrics import Rates, _usage, _window


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_first_reading_is_the_lifetime_average_then_a_window() -> None:
    clock = Clock()
    rates = Rates(clock)
    assert rates.rate("c", cpu_s=2.0, lifetime_s=8.0) == (0.25, 8.0)
    clock.now += 0.1  # too soon for a window of its own: still the lifetime
    assert rates.rate("c", cpu_s=2.1, lifetime_s=8.1)[1] == 8.1
    clock.now += 9.9
    cores, window = rates.rate("c", cpu_s=7.0, lifetime_s=18.0)
    assert (round(cores, 6), window) == (0.5, 10.0)  # 5 s of CPU over the 10 s window


def test_old_readings_no_longer_start_a_window() -> None:
    clock = Clock()
    rates = Rates(clock)
    rates.rate("c", 1.0, 1.0)
    clock.now += metrics.KEEP_S + 1
    assert rates.rate("c", 2.0, 100.0) == (0.02, 100.0)


def test_gone_containers_are_forgotten() -> None:
    rates = Rates(Clock())
    rates.rate("a", 1.0, 1.0)
    rates.rate("b", 1.0, 1.0)
    rates.forget(["b"])
    assert list(rates.readings) == ["b"]


def test_usage_in_nanocores_and_binary_bytes() -> None:
    # canonical quantities, as a Quantity's String() writes them
    assert _usage(0.0123, 12 * 1024 * 1024) == {"cpu": "12300u", "memory": "12Mi"}
    assert _usage(0.002257574, 5000 * 1024) == {"cpu": "2257574n", "memory": "5000Ki"}
    assert _usage(0.0, 1000) == {"cpu": "0", "memory": "1k"}  # below 1Ki: decimal, as upstream
    assert _usage(2.0, 0) == {"cpu": "2", "memory": "0"}


def test_windows_as_go_durations() -> None:
    assert _window(15.046) == "15.046s"
    assert _window(10.0) == "10s"
    assert _window(75) == "1m15s"
    assert _window(0.361) == "361ms"  # sub-second: Go's unit, not 0.361s
    assert _window(0.25) == "250ms"


def test_this_process_reads_as_a_container_without_cgroups() -> None:
    usage = metrics.container_usage(os.getpid())
    assert usage is not None
    cpu_s, lifetime_s, memory = usage
    assert cpu_s > 0 and lifetime_s > 0
    assert memory > 1024 * 1024  # a Python interpreter's resident memory at least


def test_a_process_that_is_gone_has_no_usage() -> None:
    assert metrics.container_usage(2**22 + 1) is None  # above any pid_max


def test_the_machine_is_busy_some_of_the_time() -> None:
    busy, uptime = metrics.machine_cpu_seconds()
    assert 0 < busy < uptime * (os.cpu_count() or 1) + 1
    assert metrics.machine_memory_used() > 0


def test_without_a_cgroup_a_container_is_its_session() -> None:
    busy_child = (
        "import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'while True: pass']); time.sleep(30)"
    )
    leader = subprocess.Popen([sys.executable, "-c", busy_child], start_new_session=True)
    try:
        deadline = time.monotonic() + 30  # a bound on a busy machine, not a measurement
        extra = 0.0
        while extra < 0.2 and time.monotonic() < deadline:
            time.sleep(0.1)
            table = metrics.sessions()
            alone = metrics.container_usage(leader.pid)
            together = metrics.container_usage(leader.pid, metrics.sessions)
            assert alone is not None and together is not None
            extra = together[0] - alone[0]
        assert len(table[leader.pid]) == 2  # the leader and the busy child
        assert extra >= 0.2  # the child's CPU counts too
    finally:
        os.killpg(leader.pid, signal.SIGKILL)
        leader.wait()


def test_pods_are_reported_and_gone_containers_forgotten() -> None:
    pod = {"metadata": {"name": "p", "namespace": "a", "uid": "u1", "labels": {"app": "x"}}}
    runner = SimpleNamespace(pod=pod, procs={"main": SimpleNamespace(pid=os.getpid())})
    agent: Any = SimpleNamespace(name="n1", labels={}, runners={"u1": runner})
    router = metrics.MetricsRouter([agent])
    [item] = asyncio.run(router.pods("a"))
    assert item["metadata"] == {
        "name": "p",
        "namespace": "a",
        "creationTimestamp": item["timestamp"],
        "labels": {"app": "x"},
    }
    assert [c["name"] for c in item["containers"]] == ["main"]
    # read twice a short window apart, not averaged over this process's life
    key = f"u1/main/{os.getpid()}"
    assert len(router.rates.readings[key]) == 2
    window = item["window"]  # a Go duration: "252.9ms" or "1.5s"
    seconds = float(window[:-2]) / 1000 if window.endswith("ms") else float(window.rstrip("s"))
    assert metrics.FIRST_WINDOW_S <= seconds < metrics.KEEP_S
    assert asyncio.run(router.pods("b")) == []  # another namespace
    assert key in router.rates.readings
    agent.runners.clear()  # the pod went away
    asyncio.run(router.pods("b"))
    assert set(router.rates.readings) == {"node"}
    [node] = asyncio.run(router.nodes())
    assert node["metadata"]["labels"]["kubernetes.io/hostname"] == "n1"
    assert set(node["usage"]) == {"cpu", "memory"}
