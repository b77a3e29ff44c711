from __future__ import annotations

import pytest

from kubelite.kubelet.backoff import Backoff, go_duration


def test_first_restart_is_immediate_then_doubles_to_cap() -> None:
    b = Backoff(base=10, cap=300)
    now = 0.0
    delays = []
    for _ in range(8):
        # the container fails right after each start
        wait = b.remaining("k", finished_at=now, now=now)
        delays.append(wait)
        now += wait
        b.restarted("k", now)
    # 0, then 10 doubling: 10, 20, 40, 80, 160, 300 (capped), 300
    assert delays == [0, 10, 20, 40, 80, 160, 300, 300]


def test_backoff_resets_after_clean_run_of_twice_the_cap() -> None:
    b = Backoff(base=10, cap=300)
    b.restarted("k", 0)
    b.restarted("k", 1)  # delay 20
    assert b.remaining("k", finished_at=500, now=500) == 20
    # ran clean for 601 s (> 2 x 300) since the last restart: start over
    assert b.remaining("k", finished_at=602, now=602) == 0
    b.restarted("k", 602)
    assert b.current("k") == 10


def test_forget_by_pod_prefix() -> None:
    b = Backoff()
    b.restarted("uid1/a", 0)
    b.restarted("uid2/a", 0)
    b.forget("uid1/")
    assert b.current("uid1/a") == 0 and b.current("uid2/a") == 10


@pytest.mark.parametrize(
    ("secs", "text"), [(10, "10s"), (80, "1m20s"), (300, "5m0s"), (3600, "1h0m0s"), (0.5, "500ms")]
)
def test_go_duration(secs: float, text: str) -> None:
    assert go_duration(secs) == text
