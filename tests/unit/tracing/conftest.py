"""Fixtures for the tracing collector tests: a store on a temp file with a fake clock."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The helpers module sits beside the tests; make it importable under any import mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))
try:  # The package is normally installed editable; fall back to the source tree.
    import kubelite.tracing  # noqa: F401
except ModuleNotFoundError:  # pragma: no cover - depends on the environment
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from tracing_builders import FakeClock  # noqa: E402

from kubelite.tracing import SpanStore  # noqa: E402


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[SpanStore]:
    span_store = SpanStore(tmp_path / "spans.db", clock=clock, autocomplete_keys=("http.method",))
    yield span_store
    span_store.close()
