"""GroupCommit: concurrent items share transactions, yet each keeps its own fate."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest

from kubelite.tracing.group_commit import GroupCommit


class FakeDatabase:
    """Commits lists of ints all-or-nothing; refuses any transaction holding a negative."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stored: list[int] = []
        self.transactions: list[list[int]] = []
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def commit(self, items: Sequence[int]) -> None:
        self.entered.set()
        self.release.wait()
        self.transactions.append(list(items))
        if any(item < 0 for item in items):
            raise ValueError(f"bad item in {list(items)}")
        self.stored.extend(items)


def submit_all(group: GroupCommit[int], items: list[int]) -> dict[int, BaseException | None]:
    outcome: dict[int, BaseException | None] = {}

    def run(item: int) -> None:
        try:
            group.submit(item)
            outcome[item] = None
        except ValueError as error:
            outcome[item] = error

    threads = [threading.Thread(target=run, args=(item,)) for item in items]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcome


def test_a_lone_item_is_committed_before_submit_returns() -> None:
    database = FakeDatabase()
    GroupCommit(database.commit, lock=database.lock).submit(1)
    assert database.stored == [1]


def test_items_queued_during_a_commit_go_in_the_next_transactions_older_half_first() -> None:
    database = FakeDatabase()
    group = GroupCommit(database.commit, lock=database.lock)
    database.release.clear()
    first = threading.Thread(target=group.submit, args=(0,))
    first.start()
    database.entered.wait()  # item 0's commit is running; 1..3 queue behind it
    waiting = threading.Thread(target=submit_all, args=(group, [1, 2, 3]))
    waiting.start()
    while len(group._queue) < 3:  # noqa: SLF001 - observe the queue to sequence the test
        threading.Event().wait(0.001)
    database.release.set()
    first.join()
    waiting.join()

    # Three queued: the older two (rounded-up half) share a transaction, then the last.
    assert database.transactions[0] == [0]
    assert [len(items) for items in database.transactions[1:]] == [2, 1]
    assert sorted(database.stored) == [0, 1, 2, 3]


def test_a_failing_item_fails_alone_and_the_others_are_stored() -> None:
    database = FakeDatabase()
    group = GroupCommit(database.commit, lock=database.lock)

    outcome = submit_all(group, [1, -2, 3, 4])

    assert isinstance(outcome[-2], ValueError)
    assert {item for item, error in outcome.items() if error is None} == {1, 3, 4}
    assert sorted(database.stored) == [1, 3, 4]


def test_the_error_of_a_lone_item_reaches_its_caller() -> None:
    database = FakeDatabase()
    with pytest.raises(ValueError, match="bad item"):
        GroupCommit(database.commit, lock=database.lock).submit(-1)
    assert database.stored == []
