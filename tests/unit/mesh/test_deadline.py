from __future__ import annotations

import pytest

from kubelite.mesh.clock import FakeClock
from kubelite.mesh.deadline import (
    Deadline,
    deadline_from_headers,
    deadline_to_headers,
    parse_grpc_timeout,
    to_grpc_timeout,
)
from kubelite.mesh.errors import DeadlineExceededError, InvalidTimeoutError


@pytest.mark.parametrize(
    ("seconds", "header"),
    [
        # the finest unit whose value fits in 8 digits, rounded up (grpc-go)
        pytest.param(0.5e-9, "1n", id="sub-nanosecond-rounds-up"),
        pytest.param(0.05, "50000000n", id="50ms-in-nanos"),
        pytest.param(0.1, "100000u", id="100ms-in-micros"),
        pytest.param(5.0, "5000000u", id="5s"),
        pytest.param(100.0, "100000m", id="100s-in-millis"),
        pytest.param(100_000.0, "100000S", id="100000s"),
        pytest.param(100_000_000.0, "1666667M", id="minutes-rounded-up"),
        pytest.param(10**10, "2777778H", id="hours-rounded-up"),
    ],
)
def test_to_grpc_timeout(seconds, header) -> None:
    assert to_grpc_timeout(seconds) == header


def test_to_grpc_timeout_clamps_and_refuses_past_deadlines() -> None:
    assert to_grpc_timeout(10**15) == "99999999H"
    with pytest.raises(DeadlineExceededError):
        to_grpc_timeout(0)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("100m", 0.1), ("5S", 5.0), ("1H", 3600.0), ("2M", 120.0), ("250u", 0.00025),
        ("7n", 7e-9), ("99999999m", 99999.999), ("0m", 0.0),
    ],
)  # fmt: skip
def test_parse_grpc_timeout(header, seconds) -> None:
    assert parse_grpc_timeout(header) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "header",
    ["", "100", "m", "123456789m", "1.5S", "-1S", "5s", "5 S", "5SS", "١S", "5h"],
)
def test_parse_grpc_timeout_rejects(header) -> None:
    with pytest.raises(InvalidTimeoutError):
        parse_grpc_timeout(header)


@pytest.mark.parametrize("seconds", [0.001, 0.25, 1.0, 59.5, 3600.0, 86400.0])
def test_round_trip_never_shortens(seconds) -> None:
    assert parse_grpc_timeout(to_grpc_timeout(seconds)) >= seconds - 1e-12


def test_deadline_remaining_and_per_try_cap() -> None:
    clock = FakeClock()
    deadline = Deadline.after(2.0, clock)
    clock.advance(1.5)
    assert deadline.remaining() == pytest.approx(0.5)
    assert deadline.per_try(1.0) == pytest.approx(0.5)  # capped by what is left
    assert deadline.per_try(0.2) == pytest.approx(0.2)
    clock.advance(1.0)
    assert deadline.expired
    with pytest.raises(DeadlineExceededError):
        deadline.per_try(1.0)


@pytest.mark.parametrize(
    ("headers", "remaining"),
    [
        pytest.param({}, None, id="none"),
        pytest.param({"grpc-timeout": "1500m"}, 1.5, id="grpc-timeout-on-http"),
        pytest.param({"x-kubelite-deadline-ms": "250"}, 0.25, id="kubelite-ms"),
        pytest.param({"X-Kubelite-Deadline-Ms": "250"}, 0.25, id="case-insensitive"),
        pytest.param({"grpc-timeout": "1S", "x-kubelite-deadline-ms": "300"}, 0.3,
                     id="earliest-wins"),
    ],
)  # fmt: skip
def test_deadline_from_headers(headers, remaining) -> None:
    deadline = deadline_from_headers(headers, FakeClock())
    if remaining is None:
        assert deadline is None
    else:
        assert deadline is not None and deadline.remaining() == pytest.approx(remaining)


@pytest.mark.parametrize("bad", ["-5", "1.5", "soon", ""])
def test_bad_kubelite_deadline_header(bad) -> None:
    with pytest.raises(InvalidTimeoutError, match="x-kubelite-deadline-ms"):
        deadline_from_headers({"x-kubelite-deadline-ms": bad}, FakeClock())


def test_deadline_to_headers_rounds_up() -> None:
    clock = FakeClock()
    deadline = Deadline.after(0.2504, clock)
    assert deadline_to_headers(deadline) == {"x-kubelite-deadline-ms": "251"}
    assert deadline_to_headers(deadline, grpc=True) == {"grpc-timeout": "250400u"}
    clock.advance(1)
    with pytest.raises(DeadlineExceededError):
        deadline_to_headers(deadline)


def test_a_positive_sub_nanosecond_timeout_is_not_sent_as_expired() -> None:
    assert to_grpc_timeout(1e-13) == "1n"
