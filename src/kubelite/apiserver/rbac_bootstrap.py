"""The default RBAC objects, as kube-apiserver's `rbac/bootstrap-roles` post-start hook makes them.

Every cluster has `cluster-admin`, `admin`, `edit`, `view`, the `system:*`
roles, the `system:controller:*` roles of each controller and their bindings
from its first start; charts and `kubectl create rolebinding --clusterrole=view`
rely on them, and under `--authorization-mode RBAC` they are what grants
(by default kubelite authorizes everyone for everything).

The objects are data, `rbac_defaults.json`: those of Kubernetes 1.32 with its
default feature gates. Each gets the label `kubernetes.io/bootstrapping:
rbac-defaults` and the annotation `rbac.authorization.kubernetes.io/autoupdate:
"true"`; a binding without `role` refers to the role of its own name; a subject
is "Kind name" or "ServiceAccount namespace/name"; a `controllerRoles` entry
NAME is the ClusterRole `system:controller:NAME`, bound to the service account
`kube-system/NAME` by a ClusterRoleBinding of the same name.

Each start reconciles as upstream does: a missing object is created; an
existing one annotated `rbac.authorization.kubernetes.io/autoupdate: "false"`
is left alone; any other gets back what it lost (rules, aggregation selectors,
subjects, labels and annotations are added, never removed, so a user's
additions stay). Rules of aggregated roles are the aggregation controller's.

The hook is a part of the cluster, started before the others so that they
list the objects rather than watch each arrive; `/readyz` lists
`poststarthook/rbac/bootstrap-roles`, failing until the objects are in place.
Writing them takes about 10 ms (the data is read only then), so the cluster
reports itself ready only after them, and `kubelite up --detach` returns with
`/readyz` ok, as it promises; if writing fails, start-up goes on and the hook
retries, with `/readyz` failing meanwhile.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any

import orjson

from kubelite.apiserver import errors

if TYPE_CHECKING:
    from kubelite.apiserver.client import LocalClient
    from kubelite.apiserver.healthz import Health

log = logging.getLogger(__name__)

Obj = dict[str, Any]

RBAC = "rbac.authorization.k8s.io/v1"
RBAC_GROUP = "rbac.authorization.k8s.io"
LABELS = {"kubernetes.io/bootstrapping": "rbac-defaults"}
AUTOUPDATE = "rbac.authorization.kubernetes.io/autoupdate"
HOOK = "poststarthook/rbac/bootstrap-roles"
# The kinds of the defaults, each listed once per start.
KINDS = ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")
RETRY_S = (0.1, 0.5, 1.0, 5.0)


# ---- the objects -------------------------------------------------------------------


def _meta(name: str, namespace: str | None = None, labels: Mapping[str, str] | None = None) -> Obj:
    meta: Obj = {
        "name": name,
        "labels": {**LABELS, **(labels or {})},
        "annotations": {AUTOUPDATE: "true"},
    }
    if namespace is not None:
        meta["namespace"] = namespace
    return meta


def _subject(text: str) -> Obj:
    """A subject from its short form: "Group system:masters", "ServiceAccount ns/name"."""
    kind, _, name = text.partition(" ")
    if kind == "ServiceAccount":
        namespace, _, sa = name.partition("/")
        return {"kind": kind, "name": sa, "namespace": namespace}
    return {"apiGroup": RBAC_GROUP, "kind": kind, "name": name}


def _role(kind: str, spec: Mapping[str, Any], namespace: str | None = None) -> Obj:
    obj: Obj = {"apiVersion": RBAC, "kind": kind}
    obj["metadata"] = _meta(spec["name"], namespace, spec.get("labels"))
    if "aggregationRule" in spec:
        obj["aggregationRule"] = spec["aggregationRule"]
        obj["rules"] = None
    else:
        obj["rules"] = spec["rules"]
    return obj


def _binding(kind: str, spec: Mapping[str, Any], namespace: str | None = None) -> Obj:
    role_kind = "ClusterRole" if kind == "ClusterRoleBinding" else "Role"
    obj: Obj = {"apiVersion": RBAC, "kind": kind, "metadata": _meta(spec["name"], namespace)}
    obj["roleRef"] = {
        "apiGroup": RBAC_GROUP,
        "kind": role_kind,
        "name": spec.get("role", spec["name"]),
    }
    if spec["subjects"]:  # upstream's system:node binding has none (and no `subjects` key)
        obj["subjects"] = [_subject(s) for s in spec["subjects"]]
    return obj


def _objects(data: Mapping[str, Any]) -> Iterator[Obj]:
    for spec in data["clusterRoles"]:
        yield _role("ClusterRole", spec)
    controllers = data["controllerRoles"]
    for name, rules in controllers.items():
        yield _role("ClusterRole", {"name": f"system:controller:{name}", "rules": rules})
    for spec in data["clusterRoleBindings"]:
        yield _binding("ClusterRoleBinding", spec)
    for name in controllers:
        sa = f"ServiceAccount kube-system/{name}"
        yield _binding(
            "ClusterRoleBinding", {"name": f"system:controller:{name}", "subjects": [sa]}
        )
    for namespace, specs in data["roles"].items():
        for spec in specs:
            yield _role("Role", spec, namespace)
    for namespace, specs in data["roleBindings"].items():
        for spec in specs:
            yield _binding("RoleBinding", spec, namespace)


def default_objects() -> list[Obj]:
    """Every default Role, ClusterRole and binding, roles first, read afresh: once a
    start wrote them, nothing holds them in memory."""
    data = resources.files(__package__).joinpath("rbac_defaults.json").read_bytes()
    return list(_objects(orjson.loads(data)))


# ---- covering: does one set of rules grant everything another rule grants? ---------


def _atoms(rule: Mapping[str, Any]) -> Iterator[tuple[str, ...]]:
    """The rule broken into one grant per verb and group/resource/name or URL."""
    verbs = rule.get("verbs") or []
    for url in rule.get("nonResourceURLs") or []:
        for verb in verbs:
            yield ("url", url, verb)
    names = rule.get("resourceNames") or [""]
    for group in rule.get("apiGroups") or []:
        for resource in rule.get("resources") or []:
            for name in names:
                for verb in verbs:
                    yield ("res", group, resource, name, verb)


def _has(values: Iterable[str] | None, value: str) -> bool:
    return any(v == "*" or v == value for v in values or ())


def _resource_covered(owned: Iterable[str] | None, resource: str) -> bool:
    if _has(owned, resource):
        return True
    _, slash, sub = resource.partition("/")
    return bool(slash) and f"*/{sub}" in (owned or ())


def _url_covered(owned: Iterable[str] | None, url: str) -> bool:
    return any(
        u == url or u == "*" or (u.endswith("*") and url.startswith(u[:-1])) for u in owned or ()
    )


def _atom_covered(rule: Mapping[str, Any], atom: tuple[str, ...]) -> bool:
    if atom[0] == "url":
        _, url, verb = atom
        return _has(rule.get("verbs"), verb) and _url_covered(rule.get("nonResourceURLs"), url)
    _, group, resource, name, verb = atom
    names = rule.get("resourceNames") or []
    return (
        _has(rule.get("verbs"), verb)
        and _has(rule.get("apiGroups"), group)
        and _resource_covered(rule.get("resources"), resource)
        and (not names or (bool(name) and name in names))
    )


def covers(owned: Iterable[Mapping[str, Any]], rule: Mapping[str, Any]) -> bool:
    """Whether `owned` grants everything `rule` grants (upstream's validation.Covers)."""
    owned = list(owned)
    if rule in owned:  # the usual case on a restart, and much cheaper than the breakdown
        return True
    return all(any(_atom_covered(o, atom) for o in owned) for atom in _atoms(rule))


# ---- reconciling an existing object ----------------------------------------------


@dataclass(frozen=True)
class Reconciled:
    """What a start does with a default object that exists: `obj` to write back
    (None: nothing to do), `recreate` when its immutable roleRef must change."""

    obj: Obj | None
    recreate: bool = False


def protected(obj: Mapping[str, Any]) -> bool:
    """Annotated autoupdate "false": a start leaves it as its user made it."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return bool(annotations.get(AUTOUPDATE) == "false")


def _merge_meta(result: Obj, wanted: Mapping[str, Any]) -> bool:
    """Add the labels and annotations the object lost; its own values win."""
    changed = False
    meta = result.setdefault("metadata", {})
    for field in ("labels", "annotations"):
        have = meta.get(field) or {}
        merged = {**(wanted["metadata"].get(field) or {}), **have}
        if merged != have:
            meta[field] = merged
            changed = True
    return changed


def _reconcile_role(result: Obj, wanted: Mapping[str, Any]) -> bool:
    if wanted.get("aggregationRule") is None:
        changed = result.get("aggregationRule") is not None
        result.pop("aggregationRule", None)  # not an aggregated role upstream: drop it
        have = result.get("rules") or []
        missing = [r for r in wanted.get("rules") or [] if not covers(have, r)]
        if missing:
            result["rules"] = have + missing
        return changed or bool(missing)
    rule = result.get("aggregationRule") or {}
    selectors = rule.get("clusterRoleSelectors") or []
    lost = [s for s in wanted["aggregationRule"]["clusterRoleSelectors"] if s not in selectors]
    if lost:
        result["aggregationRule"] = {**rule, "clusterRoleSelectors": selectors + lost}
    return bool(lost)


def _reconcile_binding(result: Obj, wanted: Mapping[str, Any]) -> tuple[bool, bool]:
    recreate = result.get("roleRef") != wanted["roleRef"]
    result["roleRef"] = wanted["roleRef"]
    have = result.get("subjects") or []
    lost = [s for s in wanted.get("subjects") or [] if s not in have]
    if lost:
        result["subjects"] = have + lost
    return recreate or bool(lost), recreate


def reconcile(existing: Mapping[str, Any], wanted: Mapping[str, Any]) -> Reconciled:
    """Upstream's reconciliation without removing extra permissions or subjects."""
    if protected(existing):
        return Reconciled(None)
    # Every change below replaces a value, never edits one in place: a shallow copy will do.
    result = {**existing, "metadata": dict(existing.get("metadata") or {})}
    changed = _merge_meta(result, wanted)
    recreate = False
    if wanted["kind"] in ("ClusterRole", "Role"):
        changed = _reconcile_role(result, wanted) or changed
    else:
        lost, recreate = _reconcile_binding(result, wanted)
        changed = lost or changed
    return Reconciled(result if changed else None, recreate)


# ---- writing ---------------------------------------------------------------------------


def _key(obj: Mapping[str, Any]) -> tuple[str, str, str]:
    meta = obj["metadata"]
    return obj["kind"], meta.get("namespace") or "", meta["name"]


async def _existing(client: LocalClient) -> dict[tuple[str, str, str], Obj]:
    found: dict[tuple[str, str, str], Obj] = {}
    for kind in KINDS:
        items, _ = await client.list(RBAC, kind)
        found.update((_key(obj), obj) for obj in items)
    return found


async def _write(client: LocalClient, wanted: Obj, current: Obj | None) -> bool:
    kind, namespace, name = _key(wanted)
    if current is None:
        await client.create_only(wanted)
        return True
    result = reconcile(current, wanted)
    if result.obj is None:
        return False
    if result.recreate:  # roleRef is immutable: upstream deletes and creates again
        await client.delete(RBAC, kind, name, namespace or None)
        for field in ("resourceVersion", "uid", "creationTimestamp", "managedFields"):
            result.obj["metadata"].pop(field, None)
        await client.create_only(result.obj)
    else:
        await client.update(result.obj)
    log.info("reconciled default %s %s", kind, f"{namespace}/{name}" if namespace else name)
    return True


async def ensure_defaults(client: LocalClient) -> int:
    """Create what is missing, reconcile what exists; the number of objects written."""
    current = await _existing(client)
    written = 0
    with client.batch():
        for wanted in default_objects():
            kind, _, name = _key(wanted)
            try:
                written += await _write(client, wanted, current.get(_key(wanted)))
            except (errors.AlreadyExists, errors.Conflict, errors.NotFound):
                log.info("default %s %s changed meanwhile; the next start looks again", kind, name)
    return written


class RbacBootstrapHook:
    """The post-start hook as a part of the cluster (see the module docstring)."""

    name = "rbac-bootstrap-roles"

    def __init__(
        self, health: Health, *, ensure: Callable[[LocalClient], Awaitable[int]] = ensure_defaults
    ) -> None:
        self.done = asyncio.Event()
        self._ensure = ensure
        health.readyz[HOOK] = self.check

    def check(self) -> str | None:
        return None if self.done.is_set() else "the default RBAC objects are not in place yet"

    async def run(self, client: LocalClient, ready: asyncio.Event) -> None:
        try:
            for attempt in itertools.count():
                try:
                    written = await self._ensure(client)
                except asyncio.CancelledError:
                    raise
                except Exception:  # the store or a bad object: retried, /readyz failing
                    log.exception("writing the default RBAC objects failed; will retry")
                    ready.set()  # the rest of the cluster need not wait for it
                    await asyncio.sleep(RETRY_S[min(attempt, len(RETRY_S) - 1)])
                    continue
                log.debug("default RBAC objects in place (%d written)", written)
                self.done.set()
                return
        finally:
            ready.set()


__all__ = [
    "AUTOUPDATE",
    "HOOK",
    "LABELS",
    "RbacBootstrapHook",
    "Reconciled",
    "covers",
    "default_objects",
    "ensure_defaults",
    "protected",
    "reconcile",
]
