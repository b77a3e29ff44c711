"""Polling for e2e tests: wait for a state instead of sleeping a fixed time.

Deadlines are generous on purpose (shared, noisy machines); nothing here
asserts how long anything took.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any


def wait_for(
    check: Callable[[], Any], what: str = "condition", timeout: float = 60.0, interval: float = 0.3
) -> Any:
    """The first truthy result of `check`; AssertionError naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last: {last!r}")
