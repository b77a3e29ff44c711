"""The log route: plain text from the cluster's log source, errors as one line."""

from __future__ import annotations

import httpx
import pytest
from dash_builders import FakeLogs, add_pod, make_pod

from kubelite.apiserver.client import LocalClient
from kubelite.dashboard import Context, create_app

pytestmark = pytest.mark.anyio


@pytest.fixture
async def pod(client: LocalClient, logs: FakeLogs) -> None:
    await add_pod(client, make_pod("web-1", containers=("app", "sidecar")))
    logs.lines = {"app": [f"line {i}" for i in range(10)], "sidecar": ["proxy up"]}


@pytest.mark.usefixtures("pod")
async def test_tail_of_the_first_container(http: httpx.AsyncClient, logs: FakeLogs) -> None:
    response = await http.get("/pods/default/web-1/log", params={"tailLines": "3"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "line 7\nline 8\nline 9\n"
    assert logs.calls[-1]["container"] == "app" and "follow" not in logs.calls[-1]
    assert logs.calls[-1]["limitBytes"]  # a one-shot read is bounded


@pytest.mark.usefixtures("pod")
async def test_follow_and_container_are_passed_on(http: httpx.AsyncClient, logs: FakeLogs) -> None:
    response = await http.get(
        "/pods/default/web-1/log", params={"container": "sidecar", "follow": "true"}
    )
    assert response.text == "proxy up\n"
    assert logs.calls[-1] == {"container": "sidecar", "tailLines": "500", "follow": "true"}


@pytest.mark.usefixtures("pod")
@pytest.mark.parametrize(("tail", "sent"), [("0", "1"), ("999999", "10000"), ("x", "500")])
async def test_tail_is_clamped(
    http: httpx.AsyncClient, logs: FakeLogs, tail: str, sent: str
) -> None:
    await http.get("/pods/default/web-1/log", params={"tailLines": tail})
    assert logs.calls[-1]["tailLines"] == sent


@pytest.mark.usefixtures("pod")
async def test_unknown_container(http: httpx.AsyncClient) -> None:
    response = await http.get("/pods/default/web-1/log", params={"container": "nope"})
    assert (
        response.status_code == 400 and response.text == "container nope is not valid for pod web-1"
    )


@pytest.mark.usefixtures("pod")
async def test_source_error_is_its_message(http: httpx.AsyncClient, logs: FakeLogs) -> None:
    logs.fail = 'container "app" in pod "web-1" is waiting to start: ContainerCreating'
    response = await http.get("/pods/default/web-1/log")
    assert response.status_code == 400 and response.text == logs.fail


@pytest.mark.usefixtures("pod")
async def test_a_stream_that_breaks_says_so(http: httpx.AsyncClient, logs: FakeLogs) -> None:
    logs.break_after = 2
    response = await http.get("/pods/default/web-1/log")
    assert response.text == "line 0\nline 1\n\n[log stream ended: container restarted]\n"


async def test_missing_pod(http: httpx.AsyncClient) -> None:
    response = await http.get("/pods/default/ghost/log")
    assert response.status_code == 404 and "not found" in response.text


async def test_unscheduled_pod(http: httpx.AsyncClient, client: LocalClient) -> None:
    await add_pod(client, make_pod("pending-1", node=None))
    response = await http.get("/pods/default/pending-1/log")
    assert response.status_code == 400 and "waiting to start" in response.text


@pytest.mark.usefixtures("pod")
async def test_without_a_log_source(context: Context) -> None:
    ctx = Context(client=context.client, traces=context.traces)
    transport = httpx.ASGITransport(app=create_app(ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
        response = await http.get("/pods/default/web-1/log")
        page = (await http.get("/pods/default/web-1")).text
    assert response.status_code == 503 and "logs unavailable" in response.text
    assert "Logs unavailable" in page
