"""Group commit: concurrent writers share one SQLite transaction, each keeping its fate.

A commit costs far more than an insert (every dirty index page is written to the WAL
again), so committing each 100-span request alone spends most of the time on commits.
Here callers queue their item and one writer thread commits the older half of what is
queued (rounded up) in one transaction; the rest, and what arrives meanwhile, form
the next groups. Taking half rather than all keeps two stages busy at once: while
one group is committed (SQLite works without the GIL), the callers of the previous
group already send and decode their next items; a group holding every caller would
leave the writer idle until they all came back. No timer: a lone writer pays no
latency, and a caller hears back only once its item is durable in the WAL — an
acknowledged span is never lost.

Callers either block (:meth:`GroupCommit.submit`, from any thread) or await
(:meth:`GroupCommit.submit_async`, from an event loop, without a worker thread per
request: the writer resolves the future through the loop).

If the shared transaction fails, each item is retried in a transaction of its own,
so one bad batch fails alone and the others are still stored whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class _Ticket(Generic[T]):
    """One queued item and how its caller hears the outcome."""

    __slots__ = ("done", "error", "event", "future", "item", "loop")

    def __init__(
        self,
        item: T,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        future: asyncio.Future[None] | None = None,
    ) -> None:
        self.item = item
        self.done = False
        self.error: BaseException | None = None
        self.loop, self.future = loop, future
        self.event = threading.Event() if future is None else None

    def finish(self) -> None:
        self.done = True
        if self.event is not None:
            self.event.set()
        elif self.loop is not None and self.future is not None:
            # The item goes along, so its last reference dies on the loop's thread:
            # freeing a batch's many small objects is work the writer need not do.
            item, self.item = self.item, None  # type: ignore[assignment]
            # RuntimeError: the loop is closed, so nobody is waiting any more.
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(_settle, self.future, self.error, item)


def _settle(future: asyncio.Future[None], error: BaseException | None, item: object) -> None:
    del item  # freed here, on the loop's thread (see _Ticket.finish)
    if future.done():  # the caller was cancelled; the item is stored regardless
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)


class GroupCommit(Generic[T]):
    """Run ``commit`` over groups of submitted items; see the module docstring.

    ``commit`` must store the items it is given in one transaction (all or none).
    ``lock`` is the lock that guards the connection ``commit`` writes through, so
    other writers of that connection (retention) serialize with the groups.
    """

    def __init__(self, commit: Callable[[Sequence[T]], None], *, lock: threading.Lock) -> None:
        self._commit = commit
        self._commit_lock = lock
        self._wakeup = threading.Condition()
        self._queue: list[_Ticket[T]] = []
        self._closed = False
        self._writer: threading.Thread | None = None

    def submit(self, item: T) -> None:
        """Block until ``item`` is committed; raise its error."""
        ticket = _Ticket(item)
        self._enqueue(ticket)
        assert ticket.event is not None
        ticket.event.wait()
        if ticket.error is not None:
            raise ticket.error

    async def submit_async(self, item: T) -> None:
        """Await until ``item`` is committed; raise its error."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._enqueue(_Ticket(item, loop=loop, future=future))
        await future

    def close(self) -> None:
        """Commit what is queued, then stop the writer thread."""
        with self._wakeup:
            self._closed = True
            self._wakeup.notify()
        if self._writer is not None:
            self._writer.join()

    def _enqueue(self, ticket: _Ticket[T]) -> None:
        with self._wakeup:
            if self._closed:
                raise RuntimeError("the span store is closed")
            self._queue.append(ticket)
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_forever, name="span-writer", daemon=True
                )
                self._writer.start()
            self._wakeup.notify()

    def _write_forever(self) -> None:
        while True:
            with self._wakeup:
                while not self._queue and not self._closed:
                    self._wakeup.wait()
                take = (len(self._queue) + 1) // 2  # the older half: see the module docstring
                group, self._queue = self._queue[:take], self._queue[take:]
                if not group and self._closed:
                    return
            with self._commit_lock:
                self._run(group)

    def _run(self, group: list[_Ticket[T]]) -> None:
        try:
            self._commit([ticket.item for ticket in group])
        except BaseException as error:
            if len(group) == 1:
                group[0].error = error
            else:
                self._run_alone(group)
        finally:
            for ticket in group:
                ticket.finish()

    def _run_alone(self, group: list[_Ticket[T]]) -> None:
        for ticket in group:
            try:
                self._commit([ticket.item])
            except BaseException as error:
                ticket.error = error
