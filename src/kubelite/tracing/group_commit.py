"""Group commit: concurrent writers share one SQLite transaction, each keeping its fate.

A commit costs far more than an insert (every dirty index page is written to the WAL
again, and the random ``trace_id`` index dirties a page per span), so committing each
100-span request alone spends most of the time on commits. Here a caller queues its
item and then takes the commit lock; whoever holds it (the *leader*) commits every
item queued so far in one transaction, and the callers that queued meanwhile find
their item already committed when they get the lock. No timer and no extra thread:
the batch is whatever arrived while the previous commit ran, so a lone writer pays
no latency, and :meth:`GroupCommit.submit` returns only once its item is durable in
the WAL — an acknowledged span is never lost.

If the shared transaction fails, each item is retried in a transaction of its own,
so one bad batch fails alone and the others are still stored whole.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(eq=False)
class _Ticket(Generic[T]):
    item: T
    done: bool = False
    error: BaseException | None = None


class GroupCommit(Generic[T]):
    """Run ``commit`` over groups of submitted items; see the module docstring.

    ``commit`` must store the items it is given in one transaction (all or none).
    ``lock`` is the lock that guards the connection ``commit`` writes through, so
    other writers of that connection (retention) serialize with the groups.
    """

    def __init__(self, commit: Callable[[Sequence[T]], None], *, lock: threading.Lock) -> None:
        self._commit = commit
        self._commit_lock = lock
        self._queue_lock = threading.Lock()
        self._queue: list[_Ticket[T]] = []

    def submit(self, item: T) -> None:
        """Block until ``item`` is committed (by this thread or a leader); raise its error."""
        ticket = _Ticket(item)
        with self._queue_lock:
            self._queue.append(ticket)
        with self._commit_lock:
            if not ticket.done:
                with self._queue_lock:
                    group, self._queue = self._queue, []
                self._run(group)
        if ticket.error is not None:
            raise ticket.error

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
                ticket.done = True

    def _run_alone(self, group: list[_Ticket[T]]) -> None:
        for ticket in group:
            try:
                self._commit([ticket.item])
            except BaseException as error:
                ticket.error = error
