from __future__ import annotations

import asyncio

import pytest

from kubelite.kubelet.probes import ProbeResult, Timing, exec_probe, resolve_port


@pytest.mark.parametrize(
    ("initial", "attempts", "flips", "final"),
    [
        # readiness starts False; one success (successThreshold 1) makes it ready
        pytest.param(False, [True], [True], True, id="ready-after-one"),
        # liveness starts True; failureThreshold 3 needs three failures in a row
        pytest.param(
            True,
            [False, False, True, False, False, False],
            [False] * 5 + [True],
            False,
            id="three-in-a-row",
        ),
        pytest.param(None, [False], [False], None, id="startup-unknown-until-threshold"),
    ],
)
def test_thresholds(
    initial: bool | None, attempts: list[bool], flips: list[bool], final: bool | None
) -> None:
    r = ProbeResult(Timing(failure_threshold=3, success_threshold=1), initial)
    assert [r.observe(ok) for ok in attempts] == flips
    assert r.value == final


def test_success_threshold() -> None:
    r = ProbeResult(Timing(success_threshold=2), False)
    assert [r.observe(True), r.observe(True)] == [False, True]


def test_timing_defaults_are_upstream() -> None:
    assert Timing.of({}) == Timing(0, 10, 1, 1, 3)


@pytest.mark.parametrize(("port", "expected"), [(8080, 8080), ("8080", 8080), ("http", 80)])
def test_resolve_port(port: object, expected: int) -> None:
    assert resolve_port(port, {"ports": [{"name": "http", "containerPort": 80}]}) == expected


def test_unknown_port_name() -> None:
    with pytest.raises(ValueError, match="does not declare"):
        resolve_port("metrics", {"ports": []})


def test_exec_probe_reports_output() -> None:
    async def run(cmd: list[str], timeout: float) -> tuple[int | None, bytes]:
        return (
            (1, b"cat: /tmp/healthy: No such file or directory\n")
            if cmd[0] == "cat"
            else (None, b"")
        )

    assert asyncio.run(exec_probe({"command": ["cat", "/tmp/healthy"]}, run, 1)) == (
        False,
        "cat: /tmp/healthy: No such file or directory\n",
    )
    assert asyncio.run(exec_probe({"command": ["sleep", "9"]}, run, 1)) == (
        False,
        'command "sleep 9" timed out',
    )
