"""Discovery documents: what kubectl resolves kinds, short names and `all` from."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.api.registry import REGISTRY, ResourceType
from kubelite.apiserver import discovery
from kubelite.apiserver.discovery import (
    AGGREGATED_CONTENT_TYPE,
    AGGREGATED_V2BETA1_CONTENT_TYPE,
    aggregated_discovery,
    aggregated_version,
    api_group,
    api_group_list,
    api_resource_list,
    api_versions,
    version_info,
    wants_aggregated,
)

CLIENT_GO_ACCEPT = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json"
)


def resource_id(rt: ResourceType) -> str:
    return f"{rt.plural}.{rt.group or 'core'}"


def aggregated_resources() -> dict[tuple[str, str, str], dict[str, Any]]:
    """(group, version, plural) -> APIResourceDiscovery, from /api and /apis together."""
    out = {}
    for core in (True, False):
        for item in aggregated_discovery(core)["items"]:
            group = item["metadata"].get("name", "")
            for version in item["versions"]:
                for res in version["resources"]:
                    out[(group, version["version"], res["resource"])] = res
    return out


# ---- /version --------------------------------------------------------------------------


def test_version_reports_1_32(monkeypatch: pytest.MonkeyPatch) -> None:
    info = version_info()
    assert (info["major"], info["minor"], info["gitVersion"]) == ("1", "32", "v1.32.4")
    assert info["gitTreeState"] == "clean" and info["compiler"] == "gc"
    assert set(info) == {
        "major",
        "minor",
        "gitVersion",
        "gitCommit",
        "gitTreeState",
        "buildDate",
        "goVersion",
        "compiler",
        "platform",
    }


@pytest.mark.parametrize(
    ("machine", "platform"), [("x86_64", "linux/amd64"), ("aarch64", "linux/arm64")]
)
def test_version_platform_is_this_machine(
    monkeypatch: pytest.MonkeyPatch, machine: str, platform: str
) -> None:
    monkeypatch.setattr(discovery.platform, "machine", lambda: machine)
    assert version_info()["platform"] == platform


# ---- negotiation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (CLIENT_GO_ACCEPT, AGGREGATED_CONTENT_TYPE),
        (
            "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json",
            AGGREGATED_V2BETA1_CONTENT_TYPE,
        ),
        (
            "application/json; as=APIGroupDiscoveryList; v=v2; g=apidiscovery.k8s.io",
            AGGREGATED_CONTENT_TYPE,
        ),
        (
            "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=0,application/json",
            None,
        ),
        ("application/json", None),
        ("application/json, */*", None),
        ("", None),
        ("application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList", None),
        (
            "application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
            None,
        ),
    ],
    ids=[
        "client-go",
        "v2beta1-only",
        "reordered-params",
        "q-zero",
        "json",
        "json-any",
        "empty",
        "v3",
        "protobuf",
    ],
)
def test_wants_aggregated(accept: str, expected: str | None) -> None:
    assert wants_aggregated(accept) == expected


def test_aggregated_version_follows_the_negotiated_type() -> None:
    assert aggregated_version(AGGREGATED_CONTENT_TYPE) == "v2"
    assert aggregated_version(AGGREGATED_V2BETA1_CONTENT_TYPE) == "v2beta1"
    assert (
        aggregated_discovery(False, version="v2beta1")["apiVersion"]
        == "apidiscovery.k8s.io/v2beta1"
    )
    with pytest.raises(ValueError):
        aggregated_discovery(False, version="v1")


# ---- aggregated form --------------------------------------------------------------------------


def test_core_is_one_group_without_a_name() -> None:
    doc = aggregated_discovery(True)
    assert (doc["kind"], doc["apiVersion"], doc["metadata"]) == (
        "APIGroupDiscoveryList",
        "apidiscovery.k8s.io/v2",
        {},
    )
    (core,) = doc["items"]
    assert "name" not in core["metadata"]
    assert [v["version"] for v in core["versions"]] == ["v1"]
    assert core["versions"][0]["freshness"] == "Current"


def test_apis_lists_every_named_group_apps_first() -> None:
    items = aggregated_discovery(False)["items"]
    names = [item["metadata"]["name"] for item in items]
    assert set(names) == {g for g in REGISTRY.groups() if g}
    assert names[0] == "apps"
    assert all(v["freshness"] == "Current" for item in items for v in item["versions"])


@pytest.mark.parametrize("rt", REGISTRY.resources, ids=resource_id)
def test_every_resource_is_discoverable(rt: ResourceType) -> None:
    res = aggregated_resources()[(rt.group, rt.version, rt.plural)]
    assert res["responseKind"] == {"group": rt.group, "version": rt.version, "kind": rt.kind}
    assert res["scope"] == ("Namespaced" if rt.namespaced else "Cluster")
    assert res["singularResource"] == rt.kind.lower()
    assert res["verbs"] == list(rt.verbs)
    assert res.get("shortNames", []) == list(rt.short_names)
    assert res.get("categories", []) == list(rt.categories)
    assert [s["subresource"] for s in res.get("subresources", [])] == sorted(rt.subresources)


@pytest.mark.parametrize(
    ("short", "plural"),
    [
        ("po", "pods"),
        ("deploy", "deployments"),
        ("svc", "services"),
        ("cm", "configmaps"),
        ("ns", "namespaces"),
        ("rs", "replicasets"),
        ("sts", "statefulsets"),
        ("ev", "events"),
        ("pv", "persistentvolumes"),
        ("pvc", "persistentvolumeclaims"),
        ("ep", "endpoints"),
        ("no", "nodes"),
        ("sa", "serviceaccounts"),
        ("sc", "storageclasses"),
        ("pc", "priorityclasses"),
    ],
)
def test_kubectl_short_names(short: str, plural: str) -> None:
    matches = [
        key for key, res in aggregated_resources().items() if short in res.get("shortNames", [])
    ]
    assert plural in [p for (_, _, p) in matches]


def test_category_all() -> None:
    in_all = {
        p for (_, _, p), res in aggregated_resources().items() if "all" in res.get("categories", [])
    }
    assert {"pods", "services", "deployments", "replicasets", "statefulsets"} <= in_all


@pytest.mark.parametrize(
    ("group", "plural", "sub", "kind", "verbs"),
    [
        ("", "pods", "status", ("", "v1", "Pod"), ["get", "patch", "update"]),
        ("", "pods", "log", ("", "v1", "Pod"), ["get"]),
        ("", "pods", "binding", ("", "v1", "Binding"), ["create"]),
        ("", "pods", "eviction", ("policy", "v1", "Eviction"), ["create"]),
        (
            "apps",
            "deployments",
            "scale",
            ("autoscaling", "v1", "Scale"),
            ["get", "patch", "update"],
        ),
        ("apps", "deployments", "status", ("apps", "v1", "Deployment"), ["get", "patch", "update"]),
        (
            "apps",
            "statefulsets",
            "scale",
            ("autoscaling", "v1", "Scale"),
            ["get", "patch", "update"],
        ),
        ("", "namespaces", "status", ("", "v1", "Namespace"), ["get", "patch", "update"]),
    ],
)
def test_subresources(
    group: str, plural: str, sub: str, kind: tuple[str, str, str], verbs: list[str]
) -> None:
    res = aggregated_resources()[(group, "v1", plural)]
    (entry,) = [s for s in res["subresources"] if s["subresource"] == sub]
    assert entry["responseKind"] == dict(zip(("group", "version", "kind"), kind, strict=True))
    assert entry["verbs"] == verbs


def test_resources_are_sorted_by_name() -> None:
    for core in (True, False):
        for item in aggregated_discovery(core)["items"]:
            for version in item["versions"]:
                names = [r["resource"] for r in version["resources"]]
                assert names == sorted(names)


# ---- legacy form --------------------------------------------------------------------------------


def test_api_versions() -> None:
    doc = api_versions(server_address="127.0.0.1:7443")
    assert doc == {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:7443"}
        ],
    }


def test_api_group_list() -> None:
    doc = api_group_list()
    assert (doc["kind"], doc["apiVersion"]) == ("APIGroupList", "v1")
    apps = doc["groups"][0]
    assert apps == {
        "name": "apps",
        "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
        "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"},
    }
    assert {g["name"] for g in doc["groups"]} == {g for g in REGISTRY.groups() if g}


def test_api_group() -> None:
    doc = api_group("storage.k8s.io")
    assert doc is not None
    assert (doc["kind"], doc["name"], doc["preferredVersion"]["groupVersion"]) == (
        "APIGroup",
        "storage.k8s.io",
        "storage.k8s.io/v1",
    )
    assert api_group("extensions") is None
    assert api_group("") is None


@pytest.mark.parametrize("rt", REGISTRY.resources, ids=resource_id)
def test_every_resource_is_in_its_resource_list(rt: ResourceType) -> None:
    doc = api_resource_list(rt.group, rt.version)
    assert doc is not None
    assert doc["groupVersion"] == rt.api_version
    entries = {e["name"]: e for e in doc["resources"]}
    main = entries[rt.plural]
    assert (main["singularName"], main["namespaced"], main["kind"]) == (
        rt.kind.lower(),
        rt.namespaced,
        rt.kind,
    )
    assert main.get("shortNames", []) == list(rt.short_names)
    assert main.get("categories", []) == list(rt.categories)
    assert main["verbs"] == list(rt.verbs)
    for sub in rt.subresources:
        assert f"{rt.plural}/{sub}" in entries


def test_legacy_subresource_entries() -> None:
    doc = api_resource_list("apps", "v1")
    assert doc is not None
    entries = {e["name"]: e for e in doc["resources"]}
    assert entries["deployments/scale"] == {
        "name": "deployments/scale",
        "singularName": "",
        "namespaced": True,
        "group": "autoscaling",
        "version": "v1",
        "kind": "Scale",
        "verbs": ["get", "patch", "update"],
    }
    # Same group version as the list: no group/version fields.
    assert "group" not in entries["deployments/status"]
    assert entries["deployments"]["storageVersionHash"] == "8aSe+NMegvE="


def test_unknown_group_version_has_no_resource_list() -> None:
    assert api_resource_list("extensions", "v1beta1") is None
    assert api_resource_list("", "v2") is None
