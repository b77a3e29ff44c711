"""Ephemeral containers: the debug containers `kubectl debug` adds to a running pod.

`validate_ephemeral_containers` is what ValidatePodSpec runs on
`spec.ephemeralContainers` (after the regular and init containers): the
common container rules, names unique across all three lists, a
`targetContainerName` that names a regular or init container, and the
fields an ephemeral container may not use (they would make it part of the
workload: ports, probes, lifecycle hooks, resources). What may change through
`pods/ephemeralcontainers` is checked in `validation_pod`.
"""

from __future__ import annotations

from kubelite.api.fielderrors import not_found
from kubelite.api.validation_containers import _container_common
from kubelite.api.validation_meta import (
    Errs,
    Obj,
    PodOptions,
    _dl,
    _s,
    child,
    duplicate,
    forbidden,
    has,
    idx,
    invalid,
    normalize,
)

CANNOT_SET = "cannot be set for an Ephemeral Container"

# Container fields an ephemeral container may not set, in the order upstream's
# EphemeralContainerCommon declares them (the order its errors come out in).
# Pointer fields count as set when non-null, the others when non-empty.
_FORBIDDEN_FIELDS: tuple[tuple[str, bool], ...] = (
    ("ports", False),
    ("resources", False),
    ("resizePolicy", False),
    ("restartPolicy", True),
    ("livenessProbe", True),
    ("readinessProbe", True),
    ("startupProbe", True),
    ("lifecycle", True),
)


def validate_ephemeral_containers(
    ephemeral: list[Obj],
    spec: Obj,
    volumes: dict[str, Obj],
    path: str,
    opts: PodOptions,
) -> Errs:
    """validateEphemeralContainers, for a pod spec's `ephemeralContainers` at `path`."""
    if not ephemeral:
        return []
    others = {_s(c, "name") for key in ("containers", "initContainers") for c in _dl(spec, key)}
    seen = set(others)
    restart_policy = _s(spec, "restartPolicy")
    host_users = spec.get("hostUsers") is not False
    errs: Errs = []
    for i, ec in enumerate(ephemeral):
        cpath = idx(path, i)
        errs += _container_common(ec, volumes, cpath, opts, restart_policy, host_users)
        image = _s(ec, "image")
        if image != image.strip():
            errs.append(
                invalid(
                    child(cpath, "image"), image, "must not have leading or trailing whitespace"
                )
            )
        name = _s(ec, "name")
        if name in seen:
            errs.append(duplicate(child(cpath, "name"), name))
        else:
            seen.add(name)
        target = _s(ec, "targetContainerName")
        if target and target not in others:
            errs.append(not_found(child(cpath, "targetContainerName"), target))
        errs += _forbidden_fields(ec, cpath)
        errs += _sub_paths(ec, cpath)
    return errs


def _forbidden_fields(ec: Obj, path: str) -> Errs:
    errs: Errs = []
    for name, pointer in _FORBIDDEN_FIELDS:
        is_set = has(ec, name) if pointer else normalize(ec.get(name)) not in (None, "", [], {})
        if is_set:
            errs.append(forbidden(child(path, name), CANNOT_SET))
    return errs


def _sub_paths(ec: Obj, path: str) -> Errs:
    """Sub-path mounts are bind mounts that outlive the container: never for a debug one."""
    errs: Errs = []
    for i, mount in enumerate(_dl(ec, "volumeMounts")):
        for field_name in ("subPath", "subPathExpr"):
            if _s(mount, field_name):
                errs.append(
                    forbidden(child(idx(child(path, "volumeMounts"), i), field_name), CANNOT_SET)
                )
    return errs
