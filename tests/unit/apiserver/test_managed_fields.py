"""Server-side apply ownership: conflicts, forced takeover, dropped fields, plain writes.

The first tests pin the field paths and the upstream wording; the rest drive the
real API app in process, as kubectl sends its requests (`fieldManager`, the
User-Agent naming the manager of a plain write, `/scale` merge patches).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.unit.apiserver.inprocess_api import api_app, call

from kubelite.apiserver import managedfields as mf
from kubelite.apiserver.http import ApiApp

Obj = dict[str, Any]
DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"
CMS = "/api/v1/namespaces/default/configmaps"
APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
KUBECTL_UA = "kubectl/v1.32.4 (linux/amd64) kubernetes/4cb5f07"


def make_deploy(*, replicas: int = 1, image: str = "python:3.11", **labels: str) -> Obj:
    meta: Obj = {"name": "web"}
    if labels:
        meta["labels"] = labels
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta,
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": image}]},
            },
        },
    }


# ---- paths and wording ---------------------------------------------------------------


def test_owned_fields_key_list_elements_and_skip_server_metadata() -> None:
    obj = make_deploy(team="a")
    obj["metadata"]["resourceVersion"] = "7"
    obj["spec"]["template"]["spec"]["containers"][0]["ports"] = [{"containerPort": 8080}]
    obj["status"] = {"replicas": 1}
    paths = set(mf.owned_fields(obj, "Deployment"))
    container = ("f:spec", "f:template", "f:spec", "f:containers", 'k:{"name":"c"}')
    port = (*container, "f:ports", 'k:{"containerPort":8080,"protocol":"TCP"}')
    assert paths == {
        ("f:metadata", "f:labels", "f:team"),
        ("f:spec", "f:replicas"),
        ("f:spec", "f:selector", "f:matchLabels", "f:app"),
        ("f:spec", "f:template", "f:metadata", "f:labels", "f:app"),
        container,
        (*container, "f:name"),
        (*container, "f:image"),
        port,
        (*port, "f:containerPort"),
    }
    # The trie marks list elements with "." and reads back to the same paths.
    trie = mf.to_fields_v1(paths)
    assert trie["f:spec"]["f:template"]["f:spec"]["f:containers"]['k:{"name":"c"}']["."] == {}
    assert mf.paths_of(trie) == paths


@pytest.mark.parametrize(
    ("path", "text"),
    [
        (("f:spec", "f:replicas"), ".spec.replicas"),
        (
            ("f:spec", "f:containers", 'k:{"name":"c"}', "f:image"),
            '.spec.containers[name="c"].image',
        ),
        (
            ("f:ports", 'k:{"containerPort":80,"protocol":"TCP"}'),
            '.ports[containerPort=80,protocol="TCP"]',
        ),
        (("f:metadata", "f:finalizers", 'v:"x"'), '.metadata.finalizers[="x"]'),
    ],
    ids=["field", "keyed-element", "two-keys", "set-value"],
)
def test_path_strings_as_upstream_prints_them(path: tuple[str, ...], text: str) -> None:
    assert mf.path_string(path) == text


def test_conflict_messages_one_and_many() -> None:
    scale = {"manager": "kubectl", "operation": "Update", "apiVersion": "apps/v1"}
    scale["subresource"] = "scale"
    applier = {"manager": "helm", "operation": "Apply", "apiVersion": "apps/v1"}
    one = mf.conflict_error([(scale, ("f:spec", "f:replicas"))])
    assert one.code == 409 and one.reason == "Conflict"
    assert one.message == (
        'Apply failed with 1 conflict: conflict with "kubectl" with subresource "scale" '
        "using apps/v1: .spec.replicas"
    )
    assert one.details == {
        "causes": [
            {
                "reason": "FieldManagerConflict",
                "message": 'conflict with "kubectl" with subresource "scale" using apps/v1',
                "field": ".spec.replicas",
            }
        ]
    }
    many = mf.conflict_error(
        [(applier, ("f:spec", "f:replicas")), (applier, ("f:spec", "f:paused"))]
    )
    assert many.message == (
        'Apply failed with 2 conflicts: conflicts with "helm":\n- .spec.replicas\n- .spec.paused'
    )


# ---- through the API -----------------------------------------------------------------


@dataclass
class Api:
    app: ApiApp

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        content_type: str = "application/json",
        agent: str = KUBECTL_UA,
    ) -> httpx.Response:
        return call(self.app, method, path, body, content_type=content_type, user_agent=agent)

    def apply(self, obj: Obj, *, manager: str = "kubectl", force: bool = False) -> httpx.Response:
        query = f"?fieldManager={manager}" + ("&force=true" if force else "")
        plural = DEPLOYS if obj["kind"] == "Deployment" else CMS
        return self.call(
            "PATCH", f"{plural}/{obj['metadata']['name']}{query}", obj, content_type=APPLY
        )


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    with api_app(tmp_path) as app:
        yield Api(app)


def managers(obj: Obj) -> dict[tuple[str, str, str], set[str]]:
    """Each entry's (manager, operation, subresource) with its paths, printed."""
    return {
        (e["manager"], e["operation"], e.get("subresource", "")): {
            mf.path_string(p) for p in mf.entry_paths(e)
        }
        for e in obj["metadata"]["managedFields"]
    }


def test_apply_after_scale_conflicts_until_forced(api: Api) -> None:
    assert api.apply(make_deploy(replicas=1)).status_code == 201
    scaled = api.call(
        "PATCH", f"{DEPLOYS}/web/scale", {"spec": {"replicas": 2}}, content_type=MERGE
    )
    assert scaled.status_code == 200
    owners = managers(api.call("GET", f"{DEPLOYS}/web").json())
    assert owners[("kubectl", "Update", "scale")] == {".spec.replicas"}
    assert ".spec.replicas" not in owners[("kubectl", "Apply", "")]

    refused = api.apply(make_deploy(replicas=3))
    assert refused.status_code == 409
    assert refused.json()["message"] == (
        'Apply failed with 1 conflict: conflict with "kubectl" with subresource "scale" '
        "using apps/v1: .spec.replicas"
    )
    assert api.call("GET", f"{DEPLOYS}/web").json()["spec"]["replicas"] == 2  # unchanged

    # Applying the live value co-owns it: no conflict.
    assert api.apply(make_deploy(replicas=2)).status_code == 200

    forced = api.apply(make_deploy(replicas=3), force=True)
    assert forced.status_code == 200
    assert forced.json()["spec"]["replicas"] == 3
    owners = managers(forced.json())
    assert ("kubectl", "Update", "scale") not in owners  # it owned nothing else
    assert ".spec.replicas" in owners[("kubectl", "Apply", "")]


def test_conflict_between_two_appliers(api: Api) -> None:
    api.apply(make_deploy(image="python:3.11"), manager="ci")
    other = api.apply(make_deploy(image="python:3.12"), manager="dev")
    assert other.status_code == 409
    cause = other.json()["details"]["causes"][0]
    assert cause == {
        "reason": "FieldManagerConflict",
        "message": 'conflict with "ci"',
        "field": '.spec.template.spec.containers[name="c"].image',
    }


def test_dropped_fields_are_removed_unless_someone_else_owns_them(api: Api) -> None:
    api.apply(make_deploy(team="a", tier="web"))
    labelled = api.call(
        "PATCH", f"{DEPLOYS}/web", {"metadata": {"labels": {"extra": "1"}}}, content_type=MERGE
    )
    assert labelled.status_code == 200
    api.apply(make_deploy(team="a"))  # tier and nothing else dropped
    labels = api.call("GET", f"{DEPLOYS}/web").json()["metadata"]["labels"]
    assert labels == {"team": "a", "extra": "1"}


def test_dropped_list_element_is_removed(api: Api) -> None:
    two = make_deploy()
    two["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "busybox"})
    api.apply(two)
    api.apply(make_deploy())
    containers = api.call("GET", f"{DEPLOYS}/web").json()["spec"]["template"]["spec"]
    assert [c["name"] for c in containers["containers"]] == ["c"]


def test_reapplying_the_same_configuration_writes_nothing(api: Api) -> None:
    first = api.apply(make_deploy(team="a")).json()
    again = api.apply(make_deploy(team="a")).json()
    assert again["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
    assert again["metadata"]["managedFields"] == first["metadata"]["managedFields"]


def test_plain_writes_leave_unapplied_objects_untracked(api: Api) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}
    assert api.call("POST", CMS, cm).status_code == 201
    patched = api.call("PATCH", f"{CMS}/c", {"data": {"a": "2"}}, content_type=MERGE).json()
    assert "managedFields" not in patched["metadata"]


def test_update_manager_comes_from_field_manager_or_user_agent(api: Api) -> None:
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}}
    api.apply(cm)
    api.call(
        "PATCH",
        f"{CMS}/c?fieldManager=kubectl-edit",
        {"data": {"b": "2"}},
        content_type=MERGE,
    )
    api.call("PATCH", f"{CMS}/c", {"data": {"a": "3"}}, content_type=MERGE, agent="tool/1.0")
    owners = managers(api.call("GET", f"{CMS}/c").json())
    assert owners == {
        ("kubectl-edit", "Update", ""): {".data.b"},
        ("tool", "Update", ""): {".data.a"},
    }


def test_an_undeclared_field_fails_the_apply_as_upstream_words_it(api: Api) -> None:
    bad = make_deploy()
    bad["spec"]["replica"] = 2
    bad["spec"]["template"]["spec"]["containers"][0]["imagee"] = "x"
    for query in ("", "&fieldValidation=Ignore"):  # the typed conversion does not ask
        resp = api.call(
            "PATCH", f"{DEPLOYS}/web?fieldManager=kubectl{query}", bad, content_type=APPLY
        )
        assert resp.status_code == 500
        assert resp.json()["message"] == (
            "failed to create typed patch object (default/web; apps/v1, Kind=Deployment): "
            "errors:\n"
            "  .spec.replica: field not declared in schema\n"
            '  .spec.template.spec.containers[name="c"].imagee: field not declared in schema'
        )
    assert api.call("GET", f"{DEPLOYS}/web").status_code == 404


def test_an_empty_list_keeps_the_entries_and_a_list_of_one_empty_entry_resets(api: Api) -> None:
    api.apply(make_deploy(team="a"))
    kept = api.call(
        "PATCH", f"{DEPLOYS}/web", {"metadata": {"managedFields": []}}, content_type=MERGE
    ).json()
    assert ("kubectl", "Apply", "") in managers(kept)
    reset = api.call(
        "PATCH", f"{DEPLOYS}/web", {"metadata": {"managedFields": [{}]}}, content_type=MERGE
    ).json()
    assert "managedFields" not in reset["metadata"]


def test_an_autoscalers_in_process_scale_is_a_scale_write_of_the_controller_manager(
    api: Api,
) -> None:
    from kubelite.apiserver.client import LocalClient

    api.apply(make_deploy(replicas=1))
    client = LocalClient(api.app.storage)

    async def autoscale() -> None:
        scale = await client.get_scale("apps/v1", "Deployment", "web", "default")
        await client.update_scale("apps/v1", "Deployment", scale, 4, "default")

    asyncio.run(autoscale())
    owners = managers(api.call("GET", f"{DEPLOYS}/web").json())
    assert owners[("kube-controller-manager", "Update", "scale")] == {".spec.replicas"}
    refused = api.apply(make_deploy(replicas=1))
    assert refused.json()["message"] == (
        'Apply failed with 1 conflict: conflict with "kube-controller-manager" with subresource '
        '"scale" using apps/v1: .spec.replicas'
    )
