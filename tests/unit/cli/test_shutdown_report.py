"""A stop that takes too long says which tasks are still waiting, and where."""

from __future__ import annotations

import asyncio
import logging

import pytest

from kubelite.cli.cluster import _report_stuck_shutdown


def test_a_slow_stop_logs_each_waiting_task_with_its_stack(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def stuck_pod_runner() -> None:
        await asyncio.Event().wait()

    async def main() -> None:
        stuck = asyncio.create_task(stuck_pod_runner(), name="pod default/web-0")
        await asyncio.sleep(0)
        await _report_stuck_shutdown(0.01)
        stuck.cancel()

    with caplog.at_level(logging.WARNING, logger="kubelite.cli.cluster"):
        asyncio.run(main())
    [record] = [r for r in caplog.records if "pod default/web-0" in r.getMessage()]
    assert "still stopping after 0 s" in record.getMessage()
    assert "stuck_pod_runner" in record.getMessage()  # the stack names where it waits
