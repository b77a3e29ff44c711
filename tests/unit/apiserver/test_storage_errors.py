"""A write the store cannot make (a full disk) is a 500 saying why, to HTTP clients and
to kubelite's own parts alike; nothing is stored, and writes work again afterwards."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.unit.apiserver.inprocess_api import api_app, call

from kubelite.apiserver import errors
from kubelite.apiserver.client import LocalClient
from kubelite.apiserver.http import ApiApp

CMS = "/api/v1/namespaces/default/configmaps"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[ApiApp]:
    with api_app(tmp_path) as a:
        yield a


def full_disk(app: ApiApp, monkeypatch: pytest.MonkeyPatch) -> None:
    store = app.storage.store
    execute = store._execute

    def failing(sql: str, *args: Any) -> Any:
        if sql.lstrip().upper().startswith("INSERT"):
            raise sqlite3.OperationalError("database or disk is full")
        return execute(sql, *args)

    monkeypatch.setattr(store, "_execute", failing)


def test_a_failed_write_is_a_500_with_the_stores_words_and_no_reason(
    app: ApiApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    full_disk(app, monkeypatch)
    r = call(app, "POST", CMS, {"metadata": {"name": "c"}, "data": {"a": "b"}})
    assert r.status_code == 500
    body = r.json()
    assert body["message"] == "write of /core/configmaps/default/c failed: database or disk is full"
    assert "reason" not in body  # StatusReasonUnknown: kubectl prints "Error from server: ..."
    monkeypatch.undo()
    assert call(app, "GET", f"{CMS}/c").status_code == 404
    assert call(app, "POST", CMS, {"metadata": {"name": "c"}}).status_code == 201


def test_kubelites_own_writers_get_an_api_error_they_handle(
    app: ApiApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = LocalClient(app.storage)
    full_disk(app, monkeypatch)
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    with pytest.raises(errors.StorageError, match="database or disk is full"):
        asyncio.run(client.create(body, "default"))
