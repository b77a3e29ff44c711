"""Daemon pods: how they are made, and which of them run the current template.

A daemon pod is the template with the daemon tolerations, the labels
`controller-revision-hash` (the current ControllerRevision) and
`pod-template-generation` (the DaemonSet's template generation), a
controller ownerReference, the generateName `<ds>-`, and a required affinity
that pins it to its node. It is "updated" when either label says so
(`util.IsPodUpdated`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubelite.apiserver.meta import TEMPLATE_GENERATION_ANNOTATION
from kubelite.controllers import objects
from kubelite.controllers.daemonset.eligibility import add_daemon_tolerations, pin_to_node
from kubelite.controllers.history import HASH_LABEL
from kubelite.controllers.objects import Obj, copy, created_at, labels, meta
from kubelite.controllers.podcontrol import pod_from_template

GENERATION_LABEL = "pod-template-generation"


def template_generation(ds: Obj) -> int | None:
    """The generation the server keeps in an annotation; None when absent or unparsable."""
    value = objects.annotations(ds).get(TEMPLATE_GENERATION_ANNOTATION)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def pod_template(ds: Obj, generation: int | None, hash_: str) -> dict[str, Any]:
    """`CreatePodTemplate`: the template every new daemon pod is cut from."""
    template: dict[str, Any] = copy(((ds.get("spec") or {}).get("template")) or {})
    spec = template.setdefault("spec", {})
    add_daemon_tolerations(spec)
    tmeta = template.setdefault("metadata", {})
    pod_labels = dict(tmeta.get("labels") or {})
    if generation is not None:
        pod_labels[GENERATION_LABEL] = str(generation)
    if hash_:
        pod_labels[HASH_LABEL] = hash_
    tmeta["labels"] = pod_labels
    return template


def new_pod(ds: Obj, template: Mapping[str, Any], node_name: str) -> Obj:
    """A pod of `ds` for `node_name`, left to the default scheduler to bind."""
    pod = pod_from_template(ds, dict(template))
    pod["spec"]["affinity"] = pin_to_node(pod["spec"].get("affinity"), node_name)
    return pod


def is_updated(pod: Obj, hash_: str, generation: int | None) -> bool:
    pod_labels = labels(pod)
    if generation is not None and pod_labels.get(GENERATION_LABEL) == str(generation):
        return True
    return bool(hash_) and pod_labels.get(HASH_LABEL) == hash_


def oldest_first_key(pod: Obj) -> tuple[bool, float, str]:
    """`podByCreationTimestampAndPhase`: bound pods first, then oldest, then by name."""
    return (not (pod.get("spec") or {}).get("nodeName"), created_at(pod), meta(pod)["name"])
