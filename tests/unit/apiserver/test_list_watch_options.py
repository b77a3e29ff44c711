"""Lists and watches over HTTP: snapshot pages, resourceVersion semantics, 410s, WatchList,
and timestamps decoded as upstream decodes them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from tests.unit.apiserver.inprocess_api import TOKEN, api_app, call

from kubelite.apiserver.http import ApiApp

CMS = "/api/v1/namespaces/default/configmaps"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[ApiApp]:
    with api_app(tmp_path) as a:
        for i in range(6):
            assert call(a, "POST", CMS, cm(f"s{i}")).status_code == 201
        yield a


def cm(name: str, v: str = "orig") -> dict[str, Any]:
    return {"metadata": {"name": name}, "data": {"v": v}}


def page(app: ApiApp, query: str) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    r = call(app, "GET", f"{CMS}?{query}")
    assert r.status_code == 200, r.text
    body = r.json()
    return [(c["metadata"]["name"], c["data"]["v"]) for c in body["items"]], body["metadata"]


def edit(app: ApiApp) -> None:
    """Change s4, delete s5, add s25: all after the first page was read."""
    patch = {"data": {"v": "CHANGED"}}
    call(app, "PATCH", f"{CMS}/s4", patch, content_type="application/merge-patch+json")
    call(app, "DELETE", f"{CMS}/s5")
    call(app, "POST", CMS, cm("s25", "new"))


# ---- chunked lists and resourceVersion ------------------------------------------------


def test_every_page_of_a_chunked_list_is_the_first_pages_snapshot(app: ApiApp) -> None:
    first, meta = page(app, "limit=3")
    assert [n for n, _ in first] == ["s0", "s1", "s2"]
    edit(app)
    rest, meta2 = page(app, f"limit=3&continue={meta['continue']}")
    assert rest == [("s3", "orig"), ("s4", "orig"), ("s5", "orig")]
    assert meta2 == {"resourceVersion": meta["resourceVersion"]}


def test_exact_reads_at_the_revision_and_not_older_than_reads_now(app: ApiApp) -> None:
    _, meta = page(app, "")
    rv = meta["resourceVersion"]
    edit(app)
    exact, exact_meta = page(app, f"resourceVersion={rv}&resourceVersionMatch=Exact")
    assert ("s5", "orig") in exact and ("s25", "new") not in exact
    assert exact_meta["resourceVersion"] == rv
    # A limit with a resourceVersion reads exactly there too (upstream's legacy rule).
    limited, _ = page(app, f"resourceVersion={rv}&limit=10")
    assert limited == exact
    now, now_meta = page(app, f"resourceVersion={rv}&resourceVersionMatch=NotOlderThan")
    assert ("s4", "CHANGED") in now and int(now_meta["resourceVersion"]) == int(rv) + 3


def test_a_resource_version_not_reached_yet_is_a_504(app: ApiApp) -> None:
    r = call(app, "GET", f"{CMS}?resourceVersion=999&resourceVersionMatch=Exact")
    assert r.status_code == 504
    assert r.json()["message"] == "Timeout: Too large resource version: 999, current: 7"
    assert r.json()["details"]["causes"] == [
        {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}
    ]


def test_compacted_reads_are_410_and_an_old_continue_offers_one_to_go_on(app: ApiApp) -> None:
    _, meta = page(app, "limit=3")
    edit(app)
    store = app.storage.store
    store.keep_revisions = 0
    store.compact()
    r = call(app, "GET", f"{CMS}?limit=3&continue={meta['continue']}")
    assert r.status_code == 410
    body = r.json()
    assert body["reason"] == "Expired"
    assert body["message"].startswith(
        "The provided continue parameter is too old to display a consistent list result. "
        "You can start a new list without the continue parameter, or use the continue token"
    )
    rest, _ = page(app, f"limit=3&continue={body['metadata']['continue']}")
    assert rest == [("s25", "new"), ("s3", "orig"), ("s4", "CHANGED")]  # now, after s2
    r = call(app, "GET", f"{CMS}?resourceVersion={meta['resourceVersion']}&limit=1")
    assert (r.status_code, r.json()["message"]) == (
        410,
        "The resourceVersion for the provided list is too old.",
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "resourceVersionMatch=Exact",
            "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless "
            "resourceVersion is provided",
        ),
        (
            "resourceVersion=0&resourceVersionMatch=Exact",
            'resourceVersionMatch: Forbidden: resourceVersionMatch "exact" is forbidden for '
            'resourceVersion "0"',
        ),
        (
            "resourceVersion=1&resourceVersionMatch=Newest",
            'resourceVersionMatch: Unsupported value: "Newest": supported values: "Exact", '
            '"NotOlderThan", ""',
        ),
        (
            "sendInitialEvents=true",
            "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list",
        ),
    ],
    ids=["match-without-rv", "exact-at-0", "unknown-match", "initial-events-on-list"],
)
def test_bad_list_options_are_422(app: ApiApp, query: str, message: str) -> None:
    r = call(app, "GET", f"{CMS}?{query}")
    assert r.status_code == 422
    assert r.json()["message"] == f'ListOptions.meta.k8s.io "" is invalid: {message}'


def test_continue_with_a_resource_version_is_400(app: ApiApp) -> None:
    _, meta = page(app, "limit=2")
    r = call(app, "GET", f"{CMS}?limit=2&resourceVersion=3&continue={meta['continue']}")
    assert r.status_code == 400
    assert r.json()["message"] == "specifying resource version is not allowed when using continue"


# ---- watch: sendInitialEvents ---------------------------------------------------------


def watch(app: ApiApp, query: str) -> tuple[int, list[dict[str, Any]]]:
    async def go() -> tuple[int, list[dict[str, Any]]]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
            url = f"{CMS}?watch=1&timeoutSeconds=1&{query}"
            async with client.stream("GET", url, headers={"authorization": f"Bearer {TOKEN}"}) as r:
                lines = [orjson.loads(line) async for line in r.aiter_lines() if line]
                return r.status_code, lines

    return asyncio.run(go())


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def test_send_initial_events_ends_with_the_annotated_bookmark(app: ApiApp) -> None:
    q = "sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
    code, events = watch(app, q)
    assert code == 200
    assert kinds(events) == ["ADDED"] * 6 + ["BOOKMARK"]
    assert events[-1]["object"] == {
        "kind": "ConfigMap",
        "apiVersion": "v1",
        "metadata": {
            "resourceVersion": "7",
            "annotations": {"k8s.io/initial-events-end": "true"},
        },
    }


def test_a_watch_from_no_resource_version_defaults_to_initial_events(app: ApiApp) -> None:
    assert kinds(watch(app, "allowWatchBookmarks=true")[1]) == ["ADDED"] * 6 + ["BOOKMARK"]
    assert kinds(watch(app, "resourceVersion=0")[1]) == ["ADDED"] * 6  # no bookmarks asked
    q = "sendInitialEvents=false&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true"
    assert watch(app, q)[1] == []  # from now, no state


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "sendInitialEvents=true",
            "resourceVersionMatch: Forbidden: sendInitialEvents requires setting "
            "resourceVersionMatch to NotOlderThan",
        ),
        (
            "resourceVersionMatch=NotOlderThan",
            "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch "
            "unless sendInitialEvents is provided",
        ),
        (
            "sendInitialEvents=true&resourceVersionMatch=Exact&resourceVersion=1",
            "[resourceVersionMatch: Forbidden: sendInitialEvents requires setting "
            "resourceVersionMatch to NotOlderThan, resourceVersionMatch: Unsupported value: "
            '"Exact": supported values: "NotOlderThan"]',
        ),
    ],
    ids=["initial-events-without-match", "match-without-initial-events", "exact"],
)
def test_bad_watch_options_are_422(app: ApiApp, query: str, message: str) -> None:
    code, body = watch(app, query)
    assert code == 422
    assert body[0]["message"] == f'ListOptions.meta.k8s.io "" is invalid: {message}'


# ---- timestamps -------------------------------------------------------------------------


def test_an_unparsable_time_is_a_400_and_nothing_is_stored(app: ApiApp) -> None:
    event = {
        "metadata": {"name": "e1"},
        "involvedObject": {"kind": "Pod", "name": "p", "namespace": "default"},
        "firstTimestamp": "yesterday",
    }
    r = call(app, "POST", "/api/v1/namespaces/default/events", event)
    assert r.status_code == 400
    assert r.json()["message"] == (
        'Event in version "v1" cannot be handled as a Event: parsing time "yesterday" as '
        '"2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006"'
    )
    assert call(app, "GET", "/api/v1/namespaces/default/events/e1").status_code == 404


def test_times_are_stored_in_utc_on_create_update_and_patch(app: ApiApp) -> None:
    leases = "/apis/coordination.k8s.io/v1/namespaces/default/leases"
    lease = {"metadata": {"name": "l"}, "spec": {"renewTime": "2024-01-02T04:04:05.123456+01:00"}}
    created = call(app, "POST", leases, lease).json()
    assert created["spec"]["renewTime"] == "2024-01-02T03:04:05.123456Z"
    patch = {"spec": {"acquireTime": "2024-01-02T02:00:00.000000-01:00"}}
    r = call(app, "PATCH", f"{leases}/l", patch, content_type="application/merge-patch+json")
    assert r.json()["spec"]["acquireTime"] == "2024-01-02T03:00:00.000000Z"
    bad = {"spec": {"renewTime": "2024-01-02T03:04:05Z"}}  # MicroTime needs six digits
    r = call(app, "PATCH", f"{leases}/l", bad, content_type="application/merge-patch+json")
    assert r.status_code == 422  # as upstream's patcher: the patched object did not decode
    status = r.json()
    assert status["message"].startswith(' "" is invalid: patch: Invalid value: "{')
    assert status["message"].endswith('cannot parse "Z" as ".000000"')
    assert '\\"renewTime\\":\\"2024-01-02T03:04:05Z\\"' in status["message"]
    assert status["details"]["causes"][0]["field"] == "patch"
    lease_now = call(app, "GET", f"{leases}/l").json()
    assert lease_now["spec"]["renewTime"] == "2024-01-02T03:04:05.123456Z"  # nothing changed


@pytest.mark.parametrize("rv", ["abc", "-3"])
def test_a_watch_from_a_bad_resource_version_is_a_400_status(app: ApiApp, rv: str) -> None:
    code, body = watch(app, f"resourceVersion={rv}")
    assert code == 400
    assert body[0]["message"] == f'invalid resource version "{rv}"'


def test_an_object_leaving_a_watchs_selection_is_deleted_as_it_was(app: ApiApp) -> None:
    merge = "application/merge-patch+json"
    labelled = call(app, "PATCH", f"{CMS}/s0", {"metadata": {"labels": {"sel": "yes"}}},
                    content_type=merge).json()  # fmt: skip
    moved = call(app, "PATCH", f"{CMS}/s0", {"metadata": {"labels": {"sel": "no"}}},
                 content_type=merge).json()  # fmt: skip
    rv = labelled["metadata"]["resourceVersion"]
    _, events = watch(app, f"resourceVersion={rv}&labelSelector=sel%3Dyes")
    [deleted] = events
    assert deleted["type"] == "DELETED"
    assert deleted["object"]["metadata"]["labels"] == {"sel": "yes"}  # as it matched
    assert deleted["object"]["metadata"]["resourceVersion"] == moved["metadata"]["resourceVersion"]


def test_a_get_reads_not_older_than_its_resource_version(
    app: ApiApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kubelite.apiserver import listoptions

    monkeypatch.setattr(listoptions, "TOO_LARGE_WAIT_S", 0.1)
    current = call(app, "GET", f"{CMS}/s0").json()["metadata"]["resourceVersion"]
    assert call(app, "GET", f"{CMS}/s0?resourceVersion={current}").status_code == 200
    assert call(app, "GET", f"{CMS}/s0?resourceVersion=0").status_code == 200
    bad = call(app, "GET", f"{CMS}/s0?resourceVersion=abc")
    assert (bad.status_code, bad.json()["message"]) == (400, 'invalid resource version "abc"')
    ahead = call(app, "GET", f"{CMS}/s0?resourceVersion=999999")
    assert ahead.status_code == 504
    assert ahead.json()["message"] == "Timeout: Too large resource version: 999999, current: 7"
