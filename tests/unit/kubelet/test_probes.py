from __future__ import annotations

import asyncio
import socket

import pytest

from kubelite.kubelet import probes
from kubelite.kubelet.pod import PROBE_GRID_S, _on_grid
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


def test_unknown_port_name_is_the_kubelets_last_parse_error() -> None:
    with pytest.raises(probes.ProbeError) as err:
        resolve_port("metrics", {"ports": []})
    assert str(err.value) == 'strconv.Atoi: parsing "metrics": invalid syntax'
    with pytest.raises(probes.ProbeError, match="invalid port number: 70000"):
        resolve_port("70000", {})


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


def test_probe_waits_end_on_a_shared_grid_never_sooner_than_the_period() -> None:
    for now in (1000.0, 1000.013, 1000.049, 1000.05, 1234.5678):
        wait = _on_grid(now, 1.0)
        assert 1.0 <= wait + 1e-9 < 1.0 + PROBE_GRID_S
    # two pods whose probes ran a few ms apart wake up together
    a, b = 1000.011, 1000.032
    assert abs((a + _on_grid(a, 1.0)) - (b + _on_grid(b, 1.0))) < 1e-9


def _listening(host: str) -> socket.socket:
    """A listener where a probe to `host` dials: a name's first address."""
    family, _, _, _, addr = socket.getaddrinfo(host, 0, type=socket.SOCK_STREAM)[0]
    srv = socket.socket(family)
    srv.bind(addr)
    srv.listen(8)
    return srv


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_tcp_probe_connects_by_address_or_name_and_port_name(host: str) -> None:
    srv = _listening(host)
    port = srv.getsockname()[1]
    container = {"ports": [{"name": "http", "containerPort": port}]}
    try:
        by_number = asyncio.run(probes.tcp_socket({"host": host, "port": port}, container, "", 1))
        by_name = asyncio.run(probes.tcp_socket({"port": "http"}, container, host, 1))
    finally:
        srv.close()
    assert by_number == (True, "")
    assert by_name == (True, "")


def test_tcp_probe_refused_reads_as_the_kubelets_dial_error() -> None:
    srv = _listening("127.0.0.1")
    port = srv.getsockname()[1]
    srv.close()  # nothing listens there now
    ok, message = asyncio.run(probes.tcp_socket({"port": port}, {}, "127.0.0.1", 1))
    assert not ok
    assert message == f"dial tcp 127.0.0.1:{port}: connect: connection refused"


def test_tcp_probe_unknown_port_name_errors_without_dialing() -> None:
    with pytest.raises(probes.ProbeError, match='parsing "metrics"'):
        asyncio.run(probes.tcp_socket({"port": "metrics"}, {}, "127.0.0.1", 1))
