"""SpanStore.enforce_retention: by age (store clock), by span count and by file size."""

from __future__ import annotations

import threading
from pathlib import Path

import orjson
import pytest
from tracing_builders import FakeClock, make_span

from kubelite.tracing import SpanStore
from kubelite.tracing import store as store_module
from kubelite.tracing.zipkin_json import decode_span_list

DAY_S = 86_400


def spans(trace: str, service: str, count: int = 1) -> list:
    raw = [make_span(trace=trace, id=f"{i + 1:016x}", service=service) for i in range(count)]
    return decode_span_list(orjson.dumps(raw))


def test_spans_older_than_max_age_are_dropped_with_their_names(
    tmp_path: Path, clock: FakeClock
) -> None:
    store = SpanStore(tmp_path / "s.db", max_age_s=7 * DAY_S, clock=clock)
    store.ingest(spans("a" * 16, "old"))
    clock.advance(6 * DAY_S)
    store.ingest(spans("b" * 16, "new"))
    clock.advance(1 * DAY_S + 1)  # "old" is now 7 days + 1 s old, "new" 1 day + 1 s

    deleted = store.enforce_retention()

    assert deleted == 1
    assert store.trace_json("a" * 16) is None
    assert store.trace_json("b" * 16) is not None
    assert store.service_names() == ["new"]
    store.close()


def test_nothing_is_dropped_before_max_age(tmp_path: Path, clock: FakeClock) -> None:
    store = SpanStore(tmp_path / "s.db", max_age_s=60, clock=clock)
    store.ingest(spans("a" * 16, "svc", 3))
    clock.advance(60)  # exactly max age: kept

    assert store.enforce_retention() == 0
    assert store.count() == 3
    store.close()


def test_oldest_traces_beyond_max_spans_are_dropped_whole(tmp_path: Path, clock: FakeClock) -> None:
    store = SpanStore(tmp_path / "s.db", max_spans=4, clock=clock)
    store.ingest(spans("a" * 16, "first", 3))
    clock.advance(1)
    store.ingest(spans("b" * 16, "second", 3))

    deleted = store.enforce_retention()  # 6 stored, 4 allowed: the oldest trace goes whole

    assert deleted == 3
    assert store.count() == 3
    assert store.get_trace("a" * 16) == []
    assert len(store.get_trace("b" * 16)) == 3
    store.close()


def test_a_trace_is_dropped_whole_with_its_later_spans(tmp_path: Path, clock: FakeClock) -> None:
    """Age order is by a trace's first span: its late spans do not keep it half alive."""
    store = SpanStore(tmp_path / "s.db", max_spans=3, clock=clock)
    store.ingest(spans("a" * 16, "first", 1))
    clock.advance(1)
    store.ingest(spans("b" * 16, "second", 2))
    clock.advance(1)
    late = make_span(trace="a" * 16, id="f" * 16, service="first")
    store.ingest(decode_span_list(orjson.dumps([late])))

    assert store.enforce_retention() == 2  # both spans of trace a, the oldest trace
    assert store.get_trace("a" * 16) == []
    assert len(store.get_trace("b" * 16)) == 2
    assert store.service_names() == ["second"]
    store.close()


def test_max_bytes_drops_the_oldest_traces_until_the_file_fits(
    tmp_path: Path, clock: FakeClock
) -> None:
    store = SpanStore(tmp_path / "s.db", clock=clock)
    for index in range(200):
        store.ingest(spans(f"{index + 1:016x}", "svc", 10))
        clock.advance(1)
    full = store.size_bytes()
    store.max_bytes = full // 2

    deleted = store.enforce_retention()

    assert deleted > 0 and deleted % 10 == 0  # whole traces only
    assert store.size_bytes() <= full // 2
    assert store.get_trace(f"{1:016x}") == []  # the oldest went first
    assert len(store.get_trace(f"{200:016x}")) == 10  # the newest stayed
    store.close()


def test_size_bounds_hold_when_pruning_takes_several_chunks(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "PRUNE_CHUNK", 7)  # many short transactions
    store = SpanStore(tmp_path / "s.db", max_spans=40, clock=clock)
    for index in range(20):
        store.ingest(spans(f"{index + 1:016x}", "svc", 5))
        clock.advance(1)

    assert store.enforce_retention() == 60
    assert store.count() == 40
    assert [len(store.get_trace(f"{index + 1:016x}")) for index in range(20)] == [0] * 12 + [5] * 8
    store.close()


def test_intake_goes_on_while_retention_runs(tmp_path: Path, clock: FakeClock) -> None:
    store = SpanStore(tmp_path / "s.db", max_spans=50, clock=clock)
    for index in range(100):
        store.ingest(spans(f"{index + 1:016x}", "svc", 5))
    done = threading.Event()
    errors: list[BaseException] = []

    def keep_ingesting() -> None:
        try:
            index = 1000
            while not done.is_set():
                store.ingest(spans(f"{index:016x}", "svc", 1))
                index += 1
        except BaseException as error:  # pragma: no cover - reported by the assert below
            errors.append(error)

    writer = threading.Thread(target=keep_ingesting)
    writer.start()
    try:
        store.enforce_retention()
    finally:
        done.set()
        writer.join()
    assert errors == []
    assert store.get_trace(f"{1:016x}") == []
    assert len(store.get_trace(f"{1000:016x}")) == 1
    store.close()


def test_everything_expired_empties_the_store(tmp_path: Path, clock: FakeClock) -> None:
    store = SpanStore(tmp_path / "s.db", max_age_s=10, clock=clock)
    store.ingest(spans("a" * 16, "svc", 2))
    clock.advance(11)

    assert store.enforce_retention() == 2
    assert (store.count(), store.service_names()) == (0, [])
    store.close()


def test_expired_spans_go_in_several_short_transactions(
    tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "PRUNE_CHUNK", 3)
    store = SpanStore(tmp_path / "s.db", max_age_s=60, clock=clock)
    store.ingest(spans("a" * 16, "old", 10))
    clock.advance(61)
    store.ingest(spans("b" * 16, "new", 2))

    assert store.enforce_retention() == 10
    assert store.count() == 2
    assert store.service_names() == ["new"]
    store.close()
