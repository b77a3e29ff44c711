"""An in-process cluster API, an in-process collector, and the dashboard over both."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

# The builders module sits beside the tests; make it importable under any import mode.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dash_builders import NOW, FakeLogs  # noqa: E402

from kubelite.apiserver.admission import default_plugins  # noqa: E402
from kubelite.apiserver.bootstrap import bootstrap_objects  # noqa: E402
from kubelite.apiserver.client import LocalClient  # noqa: E402
from kubelite.apiserver.rest import RestStorage  # noqa: E402
from kubelite.apiserver.service_ips import ServiceIPAllocator  # noqa: E402
from kubelite.dashboard import Context, ZipkinClient, create_app  # noqa: E402
from kubelite.store import Store  # noqa: E402
from kubelite.tracing import SpanStore, create_zipkin_app  # noqa: E402


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[LocalClient]:
    store = Store(tmp_path / "db")
    storage = RestStorage(store, admission=[*default_plugins(), ServiceIPAllocator()])
    for obj in bootstrap_objects(api_port=6443):
        storage.create(storage.registry.by_kind(obj["apiVersion"], obj["kind"]), None, obj)
    yield LocalClient(storage)
    store.close()


@pytest.fixture
def spans(tmp_path: Path) -> Iterator[SpanStore]:
    store = SpanStore(tmp_path / "spans.db", clock=lambda: NOW.timestamp())
    yield store
    store.close()


@pytest.fixture
def logs() -> FakeLogs:
    return FakeLogs()


@pytest.fixture
def context(client: LocalClient, spans: SpanStore, logs: FakeLogs) -> Context:
    collector = create_zipkin_app(spans, now_ms=lambda: int(NOW.timestamp() * 1000))
    traces = ZipkinClient(lambda: "http://collector", transport=httpx.ASGITransport(app=collector))
    return Context(client=client, traces=traces, logs=lambda: logs, now=lambda: NOW)


@pytest.fixture
async def http(context: Context) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(context))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:9090") as c:
        yield c
