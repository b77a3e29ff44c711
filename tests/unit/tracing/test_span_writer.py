"""SpanWriter: groups go in few statements, all or nothing; names are refreshed lazily."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest
from tracing_builders import NOW_US, FakeClock, make_span

from kubelite.tracing import SpanStore, schema
from kubelite.tracing.rows import ROW_WIDTH, as_tuples, rows_from_spans
from kubelite.tracing.writer import EXACT_MAX_ROWS, NAME_REFRESH_US, Batch, SpanWriter
from kubelite.tracing.zipkin_json import decode_span_list


@pytest.fixture
def database(tmp_path: Path) -> Any:
    connection = sqlite3.connect(tmp_path / "w.db", isolation_level=None)
    for statement in (*schema.PRAGMAS, *schema.SCHEMA):
        connection.execute(statement)
    yield connection
    connection.close()


def batch(count: int, *, received: int = NOW_US, service: str = "frontend") -> Batch:
    spans = [make_span(id=f"{i + 1:016x}", service=service) for i in range(count)]
    values, names = rows_from_spans(decode_span_list(orjson.dumps(spans)), received)
    return Batch(values, names, {})


def stored_rows(database: sqlite3.Connection) -> int:
    return int(database.execute("SELECT count(*) FROM spans").fetchone()[0])


def names(database: sqlite3.Connection) -> dict[tuple[str, str, str], int]:
    rows = database.execute("SELECT service, kind, value, last_received FROM names")
    return {(service, kind, value): received for service, kind, value, received in rows}


@pytest.mark.parametrize(
    "sizes",
    [
        pytest.param([3, 4], id="first-size-in-power-of-two-chunks"),
        pytest.param([7, 7, 7], id="repeated-size-in-one-statement"),
        pytest.param([EXACT_MAX_ROWS + 300], id="beyond-the-exact-limit"),
    ],
)
def test_every_row_of_a_group_is_stored_as_built(database: Any, sizes: list[int]) -> None:
    writer = SpanWriter(database)
    groups = [[batch(size)] for size in sizes]

    written = [writer.write(group) for group in groups]

    assert written == sizes
    expected = [row for group in groups for part in group for row in as_tuples(part.values)]
    columns = schema.INSERT_SPAN.split("(", 1)[1].split(")", 1)[0]
    assert database.execute(f"SELECT {columns} FROM spans ORDER BY row").fetchall() == expected


@pytest.mark.parametrize("repeat", [1, 2], ids=["chunked", "one-statement"])
def test_a_failing_group_stores_nothing(database: Any, repeat: int) -> None:
    writer = SpanWriter(database)
    for _ in range(repeat - 1):
        writer.write([batch(5)])
    before = stored_rows(database)
    broken = batch(5)
    broken.values[ROW_WIDTH * 3] = None  # trace_key is NOT NULL

    with pytest.raises(sqlite3.IntegrityError):
        writer.write([broken])

    assert stored_rows(database) == before


def test_names_are_refreshed_at_most_every_refresh_interval(database: Any) -> None:
    writer = SpanWriter(database)
    key = ("frontend", "s", "")
    writer.write([batch(1, received=NOW_US)])
    assert names(database)[key] == NOW_US

    writer.write([batch(1, received=NOW_US + NAME_REFRESH_US - 1)])
    assert names(database)[key] == NOW_US  # fresh enough: not written again

    writer.write([batch(1, received=NOW_US + NAME_REFRESH_US)])
    assert names(database)[key] == NOW_US + NAME_REFRESH_US

    database.execute("DELETE FROM names")
    writer.forget_names()
    writer.write([batch(1, received=NOW_US + NAME_REFRESH_US + 1)])
    assert names(database)[key] == NOW_US + NAME_REFRESH_US + 1


def test_a_failed_group_leaves_its_names_to_be_written_again(database: Any) -> None:
    writer = SpanWriter(database)
    broken = batch(2, service="lost")
    broken.values[0] = None
    with pytest.raises(sqlite3.IntegrityError):
        writer.write([broken])

    writer.write([batch(2, service="lost")])

    assert ("lost", "s", "") in names(database)


def test_retention_keeps_a_name_whose_refresh_was_skipped(tmp_path: Path) -> None:
    """The name's row says NOW, its newest span arrived later: it must outlive NOW's spans."""
    clock = FakeClock()
    store = SpanStore(tmp_path / "s.db", max_age_s=10, clock=clock)
    store.ingest(decode_span_list(orjson.dumps([make_span(trace="a" * 16, service="svc")])))
    clock.advance(NAME_REFRESH_US / 2 / 1e6)
    store.ingest(decode_span_list(orjson.dumps([make_span(trace="b" * 16, service="svc")])))
    clock.advance(10 - NAME_REFRESH_US / 4 / 1e6)  # the first span is expired, the second not

    assert store.enforce_retention() == 1
    assert store.service_names() == ["svc"]
    store.close()
