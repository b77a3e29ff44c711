"""SpanStore.enforce_retention: by age (store clock) and by span count."""

from __future__ import annotations

from pathlib import Path

import orjson
from tracing_builders import FakeClock, make_span

from kubelite.tracing import SpanStore
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


def test_oldest_spans_beyond_max_spans_are_dropped(tmp_path: Path, clock: FakeClock) -> None:
    store = SpanStore(tmp_path / "s.db", max_spans=4, clock=clock)
    store.ingest(spans("a" * 16, "first", 3))
    clock.advance(1)
    store.ingest(spans("b" * 16, "second", 3))

    deleted = store.enforce_retention()  # 6 stored - 4 allowed = 2 oldest go

    assert deleted == 2
    assert store.count() == 4
    assert len(store.get_trace("a" * 16)) == 1
    assert len(store.get_trace("b" * 16)) == 3
    store.close()


def test_everything_expired_empties_the_store(tmp_path: Path, clock: FakeClock) -> None:
    store = SpanStore(tmp_path / "s.db", max_age_s=10, clock=clock)
    store.ingest(spans("a" * 16, "svc", 2))
    clock.advance(11)

    assert store.enforce_retention() == 2
    assert (store.count(), store.service_names()) == (0, [])
    store.close()
