"""Fixtures for the store tests: a store on a temp file and the anyio backend."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The helpers module sits beside the tests; make it importable under any import mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))
try:  # The package is normally installed editable; fall back to the source tree.
    import kubelite.store  # noqa: F401
except ModuleNotFoundError:  # pragma: no cover - depends on the environment
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "src"))

from kubelite.store import Store  # noqa: E402


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture
def store(db_path: Path) -> Iterator[Store]:
    s = Store(db_path)
    yield s
    s.close()
