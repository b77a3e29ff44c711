"""Parse Kubernetes REST paths into what they address.

`/api/v1/namespaces/default/pods/web/log` -> pods, namespace default, name web,
subresource log. Hand-split rather than regex-routed: it is on every request's
path and the grammar is small.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubelite.api.registry import REGISTRY, Registry, ResourceType
from kubelite.apiserver import errors


@dataclass(frozen=True, slots=True)
class ResourcePath:
    resource: ResourceType
    namespace: str | None
    name: str | None
    subresource: str = ""
    legacy_watch: bool = False
    proxy_path: str = ""  # `pods/<name>/proxy/<this>`: what is asked of the pod


@dataclass(frozen=True, slots=True)
class GroupPath:
    """`/api`, `/apis`, `/apis/<group>`, `/api/v1`, `/apis/<group>/<version>`."""

    group: str | None
    version: str | None
    core: bool


def parse(path: str, registry: Registry = REGISTRY) -> ResourcePath | GroupPath | None:
    parts = [p for p in path.split("/") if p]
    if not parts or parts[0] not in ("api", "apis"):
        return None
    if parts[0] == "api":
        if len(parts) == 1:
            return GroupPath(None, None, core=True)
        group, version, rest = "", parts[1], parts[2:]
        if not rest:
            return GroupPath("", version, core=True)
    else:
        if len(parts) == 1:
            return GroupPath(None, None, core=False)
        if len(parts) == 2:
            return GroupPath(parts[1], None, core=False)
        group, version, rest = parts[1], parts[2], parts[3:]
        if not rest:
            return GroupPath(group, version, core=False)
    return _resource(group, version, rest, registry)


def _resource(group: str, version: str, rest: list[str], registry: Registry) -> ResourcePath:
    legacy_watch = False
    if rest and rest[0] == "watch":
        legacy_watch, rest = True, rest[1:]
    namespace: str | None = None
    namespace_sub = len(rest) == 3 and rest[2] in ("status", "finalize") and not group
    if len(rest) >= 3 and rest[0] == "namespaces" and not namespace_sub:
        namespace, rest = rest[1], rest[2:]
    if not rest:
        raise errors.NotFound("the server could not find the requested resource")
    plural = rest[0]
    rt = registry.by_path(group, version, plural)
    if rt is None:
        gv = f"{group}/{version}" if group else version
        raise errors.NotFound(
            f'the server could not find the requested resource (resource "{plural}" '
            f'in version "{gv}")',
            details={"kind": plural, "group": group},
        )
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else ""
    if sub == "proxy" and sub in rt.subresources:
        if namespace is not None and not rt.namespaced:
            raise errors.NotFound("the server could not find the requested resource")
        return ResourcePath(rt, namespace, name, sub, proxy_path="/" + "/".join(rest[3:]))
    if len(rest) > 3 or (sub and sub not in rt.subresources and not _namespace_sub(rt, sub)):
        raise errors.NotFound("the server could not find the requested resource")
    if namespace is not None and not rt.namespaced:
        raise errors.NotFound("the server could not find the requested resource")
    return ResourcePath(rt, namespace, name, sub, legacy_watch)


def _namespace_sub(rt: ResourceType, sub: str) -> bool:
    return rt.kind == "Namespace" and sub == "finalize"
