"""The start lane: one holder, the oldest waiter next, and never stuck after a cancel."""

from __future__ import annotations

import asyncio

import pytest

from kubelite.kubelet.startlane import StartLane


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(coro)


def test_a_free_lane_is_taken_at_once_and_idle_follows_the_holder() -> None:
    async def main() -> None:
        lane = StartLane()
        assert lane.idle.is_set()
        release = await lane.take(5)
        assert lane.busy and not lane.idle.is_set()
        release()
        release()  # a second call is a no-op, not a second release
        assert not lane.busy and lane.idle.is_set()

    run(main())


def test_waiters_are_served_oldest_order_first_not_in_arrival_order() -> None:
    async def main() -> None:
        lane = StartLane()
        first = await lane.take(0)
        served: list[int] = []

        async def want(order: int) -> None:
            release = await lane.take(order)
            served.append(order)
            await asyncio.sleep(0)
            release()

        tasks = [asyncio.create_task(want(o)) for o in (7, 3, 9, 1)]
        await asyncio.sleep(0)  # all four are queued
        first()
        await asyncio.gather(*tasks)
        assert served == [1, 3, 7, 9]
        assert lane.idle.is_set()

    run(main())


def test_a_cancelled_waiter_leaves_the_queue_and_the_lane_moves_on() -> None:
    async def main() -> None:
        lane = StartLane()
        holder = await lane.take(0)
        gone = asyncio.create_task(lane.take(1))
        later = asyncio.create_task(lane.take(2))
        await asyncio.sleep(0)
        gone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gone
        holder()
        release = await asyncio.wait_for(later, 1)
        release()
        assert lane.idle.is_set()

    run(main())


def test_a_waiter_cancelled_just_as_it_is_granted_passes_the_lane_on() -> None:
    async def main() -> None:
        lane = StartLane()
        holder = await lane.take(0)
        granted = asyncio.create_task(lane.take(1))
        nxt = asyncio.create_task(lane.take(2))
        await asyncio.sleep(0)
        holder()  # hands the lane to order 1 ...
        granted.cancel()  # ... which is cancelled before it runs
        with pytest.raises(asyncio.CancelledError):
            await granted
        release = await asyncio.wait_for(nxt, 1)
        release()
        assert not lane.busy

    run(main())


def test_the_lane_is_not_idle_while_a_start_settles_after_its_turn() -> None:
    async def main() -> None:
        lane = StartLane()
        lane.settling("pod-a")
        lane.settling("pod-b")
        assert not lane.idle.is_set()
        release = await lane.take(0)  # a free lane is still taken at once
        release()
        assert lane.busy and not lane.idle.is_set()  # both starts still settle
        lane.settled("pod-a")
        lane.settled("pod-a")  # twice is harmless
        assert not lane.idle.is_set()
        lane.settled("pod-b")
        assert lane.idle.is_set() and not lane.busy
        lane.settled("never-started")
        assert lane.idle.is_set()

    run(main())
