"""Discovery documents: `/version`, `/api`, `/apis` and the per-group lists.

kubectl resolves `po`, `deploy`, `all` and every kind it is given from these
documents alone, so they are built from the registry and nothing else. Two
shapes exist upstream and both are served:

- the aggregated form (`apidiscovery.k8s.io/v2` `APIGroupDiscoveryList`), one
  request for `/api` and one for `/apis`; kubectl >= 1.26 asks for it first and
  only trusts it when the Content-Type names it exactly;
- the legacy form (`APIVersions`, `APIGroupList`, `APIGroup`, then one
  `APIResourceList` per group version), with subresources as `pods/status`.

Each document is built once and cached until a CustomResourceDefinition
changes the served types (the registry tells us); callers must not mutate
what they get back (serialise it as is).
"""

from __future__ import annotations

import base64
import hashlib
import platform
from functools import cache
from typing import Any

from kubelite.api.registry import REGISTRY, ResourceType

# ---- /version -----------------------------------------------------------------

# The release we answer as. `/usr/bin/kubectl` is a dispatcher that runs the
# kubectl matching the server's minor version, so minor must stay "32".
GIT_VERSION = "v1.32.4"
GIT_COMMIT = "59526cd4867447956156ae3a602fcbac10a2c335"
BUILD_DATE = "2025-04-22T15:53:47Z"
GO_VERSION = "go1.23.6"

_ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def version_info() -> dict[str, str]:
    """The `/version` object (`version.Info`), reporting this machine's platform."""
    arch = _ARCHES.get(platform.machine().lower(), platform.machine().lower() or "amd64")
    major, minor = GIT_VERSION.lstrip("v").split(".")[:2]
    return {
        "major": major,
        "minor": minor,
        "gitVersion": GIT_VERSION,
        "gitCommit": GIT_COMMIT,
        "gitTreeState": "clean",
        "buildDate": BUILD_DATE,
        "goVersion": GO_VERSION,
        "compiler": "gc",
        "platform": f"linux/{arch}",
    }


# ---- content negotiation ------------------------------------------------------

AGGREGATED_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1_CONTENT_TYPE = (
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
)
_AGGREGATED = {"v2": AGGREGATED_CONTENT_TYPE, "v2beta1": AGGREGATED_V2BETA1_CONTENT_TYPE}


def wants_aggregated(accept: str) -> str | None:
    """The aggregated Content-Type to answer with, or None for the legacy form.

    client-go sends `...;v=v2;as=APIGroupDiscoveryList,...;v=v2beta1;...,application/json`
    and takes the first it can have; a media range with `q=0` is refused, as in
    HTTP. Parameter order and spacing do not matter.
    """
    for media_range in accept.split(","):
        kind, *params = (p.strip() for p in media_range.split(";"))
        if kind.lower() not in ("application/json", "*/*", "application/*"):
            continue
        values = dict(p.split("=", 1) for p in params if "=" in p)
        values = {k.strip().lower(): v.strip().strip('"') for k, v in values.items()}
        if values.get("as") != "APIGroupDiscoveryList" or values.get("g") != "apidiscovery.k8s.io":
            continue
        if values.get("q", "1").strip() in ("0", "0.0", "0.00", "0.000"):
            continue
        if values.get("v") in _AGGREGATED:
            return _AGGREGATED[values["v"]]
    return None


def aggregated_version(content_type: str) -> str:
    """ "v2" or "v2beta1": the `aggregated_discovery` version for a negotiated type."""
    return "v2beta1" if content_type == AGGREGATED_V2BETA1_CONTENT_TYPE else "v2"


# ---- subresources -------------------------------------------------------------

_RW = ("get", "patch", "update")


def _subresource(rt: ResourceType, sub: str) -> tuple[str, str, str, tuple[str, ...]]:
    """(group, version, kind, verbs) that `<plural>/<sub>` answers with."""
    if sub in ("status", "ephemeralcontainers", "approval"):
        return rt.group, rt.version, rt.kind, _RW
    if sub == "scale":
        return "autoscaling", "v1", "Scale", _RW
    if sub == "log":
        return "", "v1", "Pod", ("get",)
    if sub == "binding":
        return "", "v1", "Binding", ("create",)
    if sub == "exec":
        return "", "v1", "PodExecOptions", ("create", "get")
    if sub == "attach":
        return "", "v1", "PodAttachOptions", ("create", "get")
    if sub == "portforward":
        return "", "v1", "PodPortForwardOptions", ("create", "get")
    if sub == "proxy":
        return "", "v1", f"{rt.kind}ProxyOptions", ("create", "delete", "get", "patch", "update")
    if sub == "eviction":
        return "policy", "v1", "Eviction", ("create",)
    if sub == "token":
        return "authentication.k8s.io", "v1", "TokenRequest", ("create",)
    return rt.group, rt.version, rt.kind, ("get",)


def storage_version_hash(rt: ResourceType) -> str:
    """As `discovery.StorageVersionHash`: base64 of the first 8 bytes of sha256(g/v/k) of
    the version objects are stored in (a converted version has its storage's hash)."""
    group, _, version = rt.storage_api_version.rpartition("/")
    digest = hashlib.sha256(f"{group}/{version}/{rt.kind}".encode()).digest()
    return base64.b64encode(digest[:8]).decode()


# ---- aggregated form ----------------------------------------------------------

# kube-aggregator's group priorities put /apis groups in this order; groups not
# listed follow in registry order.
_GROUP_ORDER = (
    "apps",
    "events.k8s.io",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "networking.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "scheduling.k8s.io",
    "coordination.k8s.io",
    "node.k8s.io",
    "discovery.k8s.io",
    "flowcontrol.apiserver.k8s.io",
)


def _named_groups() -> list[str]:
    groups = [g for g in REGISTRY.groups() if g]
    rank = {g: i for i, g in enumerate(_GROUP_ORDER)}
    return sorted(groups, key=lambda g: (rank.get(g, len(rank)), groups.index(g)))


def _resources(group: str, version: str) -> list[ResourceType]:
    return sorted(REGISTRY.in_group_version(group, version), key=lambda rt: rt.plural)


def _resource_discovery(rt: ResourceType) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "resource": rt.plural,
        "responseKind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
        "scope": "Namespaced" if rt.namespaced else "Cluster",
        "singularResource": rt.singular,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        doc["shortNames"] = list(rt.short_names)
    if rt.categories:
        doc["categories"] = list(rt.categories)
    subs = []
    for sub in sorted(rt.subresources):
        group, version, kind, verbs = _subresource(rt, sub)
        subs.append(
            {
                "subresource": sub,
                "responseKind": {"group": group, "version": version, "kind": kind},
                "verbs": list(verbs),
            }
        )
    if subs:
        doc["subresources"] = subs
    return doc


def _group_discovery(group: str) -> dict[str, Any]:
    # Go marshals the empty ObjectMeta's name away; creationTimestamp stays, as null.
    metadata: dict[str, Any] = {"name": group} if group else {}
    metadata["creationTimestamp"] = None
    return {
        "metadata": metadata,
        "versions": [
            {
                "version": version,
                "resources": [_resource_discovery(rt) for rt in _resources(group, version)],
                "freshness": "Current",
            }
            for version in REGISTRY.groups().get(group, [])
        ],
    }


@cache
def _aggregated(core: bool, version: str) -> dict[str, Any]:
    groups = [""] if core else _named_groups()
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": f"apidiscovery.k8s.io/{version}",
        "metadata": {},
        "items": [_group_discovery(g) for g in groups],
    }


def aggregated_discovery(core: bool, *, version: str = "v2") -> dict[str, Any]:
    """The `APIGroupDiscoveryList` for `/api` (core=True) or `/apis`.

    The core group is one item whose name is "" (the field is left out, as Go
    does). `version` is "v2" or "v2beta1" (the body is the same but for its
    apiVersion); see `wants_aggregated` and `aggregated_version`.
    """
    if version not in _AGGREGATED:
        raise ValueError(f"unknown aggregated discovery version {version!r}")
    return _aggregated(core, version)


# ---- legacy form ----------------------------------------------------------------


def api_versions(*, server_address: str = "127.0.0.1:6443") -> dict[str, Any]:
    """`APIVersions` for `GET /api`."""
    return {
        "kind": "APIVersions",
        "versions": list(REGISTRY.groups().get("", [])),
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group_entry(group: str) -> dict[str, Any]:
    versions = [
        {"groupVersion": f"{group}/{v}", "version": v} for v in REGISTRY.groups().get(group, [])
    ]
    return {"name": group, "versions": versions, "preferredVersion": versions[0]}


@cache
def _group_list() -> dict[str, Any]:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group_entry(g) for g in _named_groups()],
    }


def api_group_list() -> dict[str, Any]:
    """`APIGroupList` for `GET /apis`: every named group, preferred version first."""
    return _group_list()


def api_group(group: str) -> dict[str, Any] | None:
    """`APIGroup` for `GET /apis/<group>`, or None if the group is not served."""
    if not group or group not in REGISTRY.groups():
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group_entry(group)}


def _api_resources(rt: ResourceType) -> list[dict[str, Any]]:
    main: dict[str, Any] = {
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": list(rt.verbs),
    }
    if rt.short_names:
        main["shortNames"] = list(rt.short_names)
    if rt.categories:
        main["categories"] = list(rt.categories)
    if rt.has_objects:  # views computed on request (bindings, reviews) have no storage version
        main["storageVersionHash"] = storage_version_hash(rt)
    out = [main]
    for sub in sorted(rt.subresources):
        group, version, kind, verbs = _subresource(rt, sub)
        entry: dict[str, Any] = {
            "name": f"{rt.plural}/{sub}",
            "singularName": "",
            "namespaced": rt.namespaced,
        }
        # group/version appear only when they differ from the list's group version.
        if (group, version) != (rt.group, rt.version):
            entry["group"], entry["version"] = group, version
        entry["kind"], entry["verbs"] = kind, list(verbs)
        out.append(entry)
    return out


@cache
def _resource_list(group: str, version: str) -> dict[str, Any] | None:
    rts = _resources(group, version)
    if not rts:
        return None
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": [entry for rt in rts for entry in _api_resources(rt)],
    }


def api_resource_list(group: str, version: str) -> dict[str, Any] | None:
    """`APIResourceList` for `/api/v1` (group "") or `/apis/<group>/<version>`."""
    return _resource_list(group, version)


def _forget(_groups: frozenset[str]) -> None:
    """The served types changed: rebuild the documents on their next request."""
    _aggregated.cache_clear()
    _group_list.cache_clear()
    _resource_list.cache_clear()


REGISTRY.subscribe(_forget)
