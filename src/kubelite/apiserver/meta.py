"""Object metadata the server owns: names, uids, timestamps, generations.

These follow `rest.BeforeCreate`/`BeforeUpdate` in kube-apiserver: the server
fills system fields on create and carries them over on update, so a client
can neither forge nor lose them.
"""

from __future__ import annotations

import math
import secrets
import uuid
from datetime import UTC, datetime
from typing import Any

# kube-apiserver's `utilrand.String` alphabet: no vowels, no confusable digits
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
_GENERATED_SUFFIX = 5
_MAX_GENERATE_NAME_PREFIX = 63 - _GENERATED_SUFFIX

# Kinds whose spec changes bump metadata.generation (they have a status.observedGeneration).
GENERATION_KINDS = frozenset(
    {
        "CustomResourceDefinition",
        "Deployment",
        "ReplicaSet",
        "ReplicationController",
        "StatefulSet",
        "DaemonSet",
        "PodDisruptionBudget",
        "Job",
        "CronJob",
        "Ingress",
        "IngressClass",
        "NetworkPolicy",
    }
)
# Kinds with a status subresource: the main resource ignores status writes.
STATUS_KINDS = frozenset(
    {
        "Deployment",
        "ReplicaSet",
        "ReplicationController",
        "StatefulSet",
        "DaemonSet",
        "Pod",
        "Node",
        "Namespace",
        "Service",
        "PersistentVolume",
        "PersistentVolumeClaim",
        "PodDisruptionBudget",
        "Job",
        "CronJob",
        "Ingress",
        "HorizontalPodAutoscaler",
        "ResourceQuota",
        "VolumeAttachment",
        "CertificateSigningRequest",
    }
)


_last_second: list[Any] = [None, ""]


def now_rfc3339(now: float) -> str:
    """RFC 3339 to the second; cached, since every write in a second asks for the same one."""
    second = math.floor(now)
    if _last_second[0] != second:
        _last_second[:] = [
            second,
            datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        ]
    return str(_last_second[1])


def now_micro(now: float) -> str:
    """MicroTime as in Lease.spec.renewTime and events.k8s.io Events."""
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_rfc3339(value: str) -> float:
    text = value.replace("Z", "+00:00")
    return datetime.fromisoformat(text).timestamp()


def generate_name(prefix: str) -> str:
    prefix = prefix[:_MAX_GENERATE_NAME_PREFIX]
    suffix = "".join(secrets.choice(_NAME_ALPHABET) for _ in range(_GENERATED_SUFFIX))
    return prefix + suffix


def new_uid() -> str:
    return str(uuid.uuid4())


def meta(obj: dict[str, Any]) -> dict[str, Any]:
    m = obj.get("metadata")
    if not isinstance(m, dict):
        m = {}
        obj["metadata"] = m
    return m


def fill_create(obj: dict[str, Any], *, now: float) -> None:
    """Set the fields the server owns on a new object."""
    m = meta(obj)
    if not m.get("name") and m.get("generateName"):
        m["name"] = generate_name(str(m["generateName"]))
    m["uid"] = new_uid()
    m["creationTimestamp"] = now_rfc3339(now)
    for field in ("deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
        m.pop(field, None)
    m.pop("resourceVersion", None)
    if obj.get("kind") in GENERATION_KINDS:
        m["generation"] = 1
    else:
        m.pop("generation", None)
    if obj.get("kind") == "DaemonSet":
        _set_template_generation(obj, max(1, _template_generation(obj)))


def carry_over(new: dict[str, Any], old: dict[str, Any]) -> None:
    """Copy system fields from the stored object, as BeforeUpdate does."""
    nm, om = meta(new), meta(old)
    for field in ("uid", "creationTimestamp"):
        if not nm.get(field) and field in om:
            nm[field] = om[field]
    if "generation" in om:
        nm["generation"] = om["generation"]
    else:
        nm.pop("generation", None)
    # An update never removes or moves a deletion; one that starts one is refused by
    # validation (the fields are immutable), as upstream's BeforeUpdate leaves it.
    if om.get("deletionTimestamp"):
        nm["deletionTimestamp"] = om["deletionTimestamp"]
    if (
        om.get("deletionGracePeriodSeconds") is not None
        and nm.get("deletionGracePeriodSeconds") is None
    ):
        nm["deletionGracePeriodSeconds"] = om["deletionGracePeriodSeconds"]
    nm.pop("selfLink", None)


def bump_generation(new: dict[str, Any], old: dict[str, Any]) -> None:
    if new.get("kind") not in GENERATION_KINDS:
        return
    if new.get("spec") != old.get("spec") or _deleting_now(new, old):
        meta(new)["generation"] = int(meta(old).get("generation", 1)) + 1
    if new.get("kind") == "DaemonSet":
        template_changed = (new.get("spec") or {}).get("template") != (old.get("spec") or {}).get(
            "template"
        )
        _set_template_generation(new, _template_generation(old) + int(template_changed))


# A DaemonSet's template generation: server-owned, kept in this annotation in
# apps/v1 (an internal spec field upstream); its pods carry it as a label.
TEMPLATE_GENERATION_ANNOTATION = "deprecated.daemonset.template.generation"


def _template_generation(obj: dict[str, Any]) -> int:
    value = (meta(obj).get("annotations") or {}).get(TEMPLATE_GENERATION_ANNOTATION)
    try:
        return int(value) if value is not None else 0
    except (TypeError, ValueError):
        return 0


def _set_template_generation(obj: dict[str, Any], generation: int) -> None:
    annotations = meta(obj).get("annotations")
    if not isinstance(annotations, dict):
        annotations = meta(obj)["annotations"] = {}
    annotations[TEMPLATE_GENERATION_ANNOTATION] = str(generation)


def _deleting_now(new: dict[str, Any], old: dict[str, Any]) -> bool:
    return bool(meta(new).get("deletionTimestamp")) and not meta(old).get("deletionTimestamp")


# ObjectMeta's map and list fields are `omitempty`: upstream's round trip through
# its Go types drops an empty one, so `finalizers: []` or `labels: {}` is never
# stored nor served.
_OMIT_EMPTY = ("labels", "annotations", "finalizers", "ownerReferences", "managedFields")


def drop_empty_fields(obj: dict[str, Any]) -> None:
    """Remove empty (or null) omitempty map and list fields from `obj`'s metadata."""
    md = obj.get("metadata")
    if not isinstance(md, dict):
        return
    for field in _OMIT_EMPTY:
        if field in md and md[field] in (None, [], {}):
            del md[field]


def same_content(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Equal apart from resourceVersion: such an update writes nothing."""
    am, bm = a.get("metadata", {}), b.get("metadata", {})
    if {k: v for k, v in am.items() if k != "resourceVersion"} != {
        k: v for k, v in bm.items() if k != "resourceVersion"
    }:
        return False
    return {k: v for k, v in a.items() if k != "metadata"} == {
        k: v for k, v in b.items() if k != "metadata"
    }
