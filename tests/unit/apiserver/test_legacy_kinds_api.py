"""ReplicationControllers and ComponentStatuses through the real API app, and the
health endpoints in their verbose and single-check forms."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from kubelite.api.registry import REGISTRY
from kubelite.apiserver import healthz
from kubelite.apiserver.http import ApiApp
from kubelite.apiserver.rest import RestStorage
from kubelite.apiserver.tables import to_table
from kubelite.store import Store

Obj = dict[str, Any]
TOKEN = "t0ken"
RCS = "/api/v1/namespaces/default/replicationcontrollers"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
WARNING = '299 - "v1 ComponentStatus is deprecated in v1.19+"'


@dataclass
class Api:
    storage: RestStorage
    app: ApiApp

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        accept: str = "application/json",
        token: str | None = TOKEN,
    ) -> httpx.Response:
        headers = {"content-type": content_type, "accept": accept}
        if token is not None:
            headers["authorization"] = f"Bearer {token}"

        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
                content = None if body is None else orjson.dumps(body)
                return await client.request(method, path, content=content, headers=headers)

        return asyncio.run(go())


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    store = Store(tmp_path / "db")
    storage = RestStorage(store)
    storage.create(
        storage.registry.by_kind("v1", "Namespace"),  # type: ignore[arg-type]
        None,
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}},
    )
    yield Api(storage, ApiApp(storage, token=TOKEN))
    store.close()


def make_rc(replicas: int = 2) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": replicas,
            "template": {
                "metadata": {"labels": {"app": "web", "tier": "front"}},
                "spec": {"containers": [{"name": "web", "image": "python:3.11"}]},
            },
        },
    }


# ---- ReplicationController -----------------------------------------------------------


def test_registry_entries() -> None:
    rc = REGISTRY.by_path("", "v1", "replicationcontrollers")
    cs = REGISTRY.by_path("", "v1", "componentstatuses")
    assert rc is not None and cs is not None
    assert (rc.kind, rc.short_names, rc.subresources, rc.categories) == (
        "ReplicationController",
        ("rc",),
        ("status", "scale"),
        ("all",),
    )
    assert (cs.kind, cs.namespaced, cs.short_names, cs.verbs, cs.stored) == (
        "ComponentStatus",
        False,
        ("cs",),
        ("get", "list"),
        False,
    )


def test_create_defaults_and_starts_status_afresh(api: Api) -> None:
    rc = make_rc()
    rc["status"] = {"replicas": 7}
    resp = api.call("POST", RCS, rc)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["spec"]["selector"] == {"app": "web", "tier": "front"}
    assert body["metadata"]["labels"] == {"app": "web", "tier": "front"}
    assert body["metadata"]["generation"] == 1
    assert body["status"] == {"replicas": 0}  # afresh; `replicas` has no omitempty


def test_invalid_rc_is_a_422_naming_the_field(api: Api) -> None:
    rc = make_rc(replicas=-1)
    resp = api.call("POST", RCS, rc)
    assert resp.status_code == 422
    causes = resp.json()["details"]["causes"]
    assert [c["field"] for c in causes] == ["spec.replicas"]


def test_scale_reads_and_writes_replicas_with_the_map_selector(api: Api) -> None:
    api.call("POST", RCS, make_rc())
    scale = api.call("GET", f"{RCS}/web/scale").json()
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"] == {"replicas": 2}
    assert scale["status"]["selector"] == "app=web,tier=front"
    patched = api.call(
        "PATCH",
        f"{RCS}/web/scale",
        {"spec": {"replicas": 5}},
        content_type="application/merge-patch+json",
    )
    assert patched.json()["spec"] == {"replicas": 5}
    assert api.call("GET", f"{RCS}/web").json()["spec"]["replicas"] == 5


def test_spec_changes_bump_the_generation_status_writes_do_not(api: Api) -> None:
    api.call("POST", RCS, make_rc())
    api.call(
        "PATCH",
        f"{RCS}/web",
        {"spec": {"replicas": 3}},
        content_type="application/merge-patch+json",
    )
    status = api.call(
        "PATCH",
        f"{RCS}/web/status",
        {"status": {"replicas": 3, "observedGeneration": 2}},
        content_type="application/merge-patch+json",
    ).json()
    assert status["metadata"]["generation"] == 2
    assert status["status"] == {"replicas": 3, "observedGeneration": 2}


def test_status_replicas_is_a_field_selector(api: Api) -> None:
    api.call("POST", RCS, make_rc())
    for replicas, names in (("0", ["web"]), ("1", [])):
        resp = api.call("GET", f"{RCS}?fieldSelector=status.replicas%3D{replicas}")
        assert [i["metadata"]["name"] for i in resp.json()["items"]] == names


def test_rc_table_columns_and_cells() -> None:
    rc = make_rc(replicas=3)
    rc["spec"]["selector"] = {"tier": "front", "app": "web"}
    rc["metadata"]["creationTimestamp"] = (NOW - timedelta(minutes=5)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    rc["status"] = {"replicas": 2, "readyReplicas": 1}
    table = to_table("ReplicationController", [rc], now=NOW)
    columns = [(c["name"], c["priority"]) for c in table["columnDefinitions"]]
    assert columns == [
        ("Name", 0),
        ("Desired", 0),
        ("Current", 0),
        ("Ready", 0),
        ("Age", 0),
        ("Containers", 1),
        ("Images", 1),
        ("Selector", 1),
    ]
    assert table["rows"][0]["cells"] == [
        "web",
        3,
        2,
        1,
        "5m",
        "web",
        "python:3.11",
        "app=web,tier=front",
    ]


# ---- ComponentStatus -----------------------------------------------------------------


def test_componentstatus_list_as_table_with_the_deprecation_warning(api: Api) -> None:
    resp = api.call("GET", "/api/v1/componentstatuses", accept=TABLE)
    assert resp.status_code == 200
    assert resp.headers["warning"] == WARNING
    table = resp.json()
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Status", "Message", "Error"]
    assert [r["cells"] for r in table["rows"]] == [
        ["scheduler", "Healthy", "ok", ""],
        ["controller-manager", "Healthy", "ok", ""],
        ["etcd-0", "Healthy", "ok", ""],
    ]


def test_componentstatus_reports_a_part_that_is_down(api: Api) -> None:
    api.app.health.components["scheduler"] = lambda: "default-scheduler is not running"
    one = api.call("GET", "/api/v1/componentstatuses/scheduler")
    assert one.headers["warning"] == WARNING
    assert one.json() == {
        "kind": "ComponentStatus",
        "apiVersion": "v1",
        "metadata": {"name": "scheduler"},
        "conditions": [
            {"type": "Healthy", "status": "Unknown", "error": "default-scheduler is not running"}
        ],
    }
    row = api.call("GET", "/api/v1/componentstatuses/scheduler", accept=TABLE).json()["rows"][0]
    assert row["cells"] == ["scheduler", "Unhealthy", "", "default-scheduler is not running"]


def test_componentstatus_unknown_name_and_unserved_verbs(api: Api) -> None:
    missing = api.call("GET", "/api/v1/componentstatuses/nope")
    assert missing.status_code == 500
    assert missing.json()["message"] == "Component not found: nope"
    assert api.call("GET", "/api/v1/componentstatuses?watch=true").status_code == 405
    assert api.call("DELETE", "/api/v1/componentstatuses/etcd-0").status_code == 405


def test_componentstatus_list_filters_by_name(api: Api) -> None:
    resp = api.call("GET", "/api/v1/componentstatuses?fieldSelector=metadata.name%3Detcd-0")
    body = resp.json()
    assert body["kind"] == "ComponentStatusList"
    assert [i["metadata"]["name"] for i in body["items"]] == ["etcd-0"]


# ---- health endpoints ----------------------------------------------------------------


def test_plain_health_answers_ok_without_credentials(api: Api) -> None:
    for path in ("/livez", "/readyz", "/healthz", "/livez/ping", "/readyz/etcd"):
        resp = api.call("GET", path, token=None)
        assert (resp.status_code, resp.text) == (200, "ok"), path


def test_verbose_readyz_lists_every_check(api: Api) -> None:
    resp = api.call("GET", "/readyz?verbose", token=None)
    assert resp.text == (
        "[+]ping ok\n[+]etcd ok\n[+]poststarthook/start-cluster-parts ok\nreadyz check passed\n"
    )
    assert api.call("GET", "/livez?verbose").text == "[+]ping ok\n[+]etcd ok\nlivez check passed\n"


def test_exclude_skips_a_check_and_warns_about_unknown_names(api: Api) -> None:
    api.app.health.readyz["etcd"] = lambda: "store closed"
    assert api.call("GET", "/readyz?exclude=etcd").text == "ok"
    text = api.call("GET", "/readyz?verbose&exclude=etcd&exclude=nope").text
    assert text.splitlines() == [
        "[+]ping ok",
        "[+]etcd excluded: ok",
        "[+]poststarthook/start-cluster-parts ok",
        'warn: some health checks cannot be excluded: no matches for "nope"',
        "readyz check passed",
    ]


def test_a_failing_check_is_a_verbose_500_that_withholds_the_reason(api: Api) -> None:
    api.app.health.readyz["etcd"] = lambda: "store closed"
    resp = api.call("GET", "/readyz")
    assert resp.status_code == 500
    assert resp.text.splitlines() == [
        "[+]ping ok",
        "[-]etcd failed: reason withheld",
        "[+]poststarthook/start-cluster-parts ok",
        "readyz check failed",
    ]
    single = api.call("GET", "/readyz/etcd")
    assert (single.status_code, single.text) == (500, "internal server error: store closed\n")
    assert api.call("GET", "/readyz/nope").status_code == 404


def test_part_check_follows_the_task() -> None:
    async def go() -> list[str | None]:
        started = asyncio.Event()
        stop = asyncio.Event()
        task = asyncio.create_task(stop.wait())
        check = healthz.part_check("default-scheduler", task, started)
        out = [check()]
        started.set()
        out.append(check())
        stop.set()
        await task
        out.append(check())
        return out

    assert asyncio.run(go()) == [
        "default-scheduler has not started yet",
        None,
        "default-scheduler is not running",
    ]
