from __future__ import annotations

import asyncio

import pytest

from kubelite.mesh.bulkhead import Bulkhead
from kubelite.mesh.errors import BulkheadFullError


def test_nowait_core() -> None:
    bulkhead = Bulkhead("orders", 2)
    bulkhead.acquire_nowait()
    assert bulkhead.try_acquire_nowait()
    with pytest.raises(BulkheadFullError, match='"orders" is full: 2 calls'):
        bulkhead.acquire_nowait()
    bulkhead.release()
    assert bulkhead.available == 1


def test_release_more_than_acquired_is_a_bug() -> None:
    with pytest.raises(RuntimeError):
        Bulkhead("orders", 1).release()


def test_full_without_wait_fails_at_once() -> None:
    async def main() -> None:
        bulkhead = Bulkhead("orders", 1)
        await bulkhead.acquire()
        with pytest.raises(BulkheadFullError):
            await bulkhead.acquire()

    asyncio.run(main())


def test_waiter_gets_the_released_slot_in_order() -> None:
    async def main() -> list[str]:
        bulkhead = Bulkhead("orders", 1, max_wait=60)
        order: list[str] = []
        await bulkhead.acquire()

        async def worker(name: str) -> None:
            async with bulkhead.slot():
                order.append(name)

        tasks = [asyncio.create_task(worker(n)) for n in ("a", "b")]
        await asyncio.sleep(0)  # both are queued now
        assert bulkhead.try_acquire_nowait() is False  # no barging past the queue
        bulkhead.release()
        await asyncio.gather(*tasks)
        assert bulkhead.in_flight == 0
        return order

    assert asyncio.run(main()) == ["a", "b"]


def test_cancelled_waiter_leaves_the_queue() -> None:
    async def main() -> None:
        bulkhead = Bulkhead("orders", 1, max_wait=60)
        await bulkhead.acquire()
        task = asyncio.create_task(bulkhead.acquire())
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        bulkhead.release()
        assert bulkhead.in_flight == 0 and bulkhead.try_acquire_nowait()

    asyncio.run(main())
