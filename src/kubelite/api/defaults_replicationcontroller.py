"""ReplicationController defaults (core/v1 `SetDefaults_ReplicationController`).

Old manifests often give an RC only a template: upstream then takes the
template's labels as the selector and, when the RC has no labels of its own,
as its labels too, so the manifest still selects its own pods. `replicas`
defaults to 1 and the template gets the pod template defaults.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def default_replication_controller(rc: Obj) -> None:
    from kubelite.api.defaults import _default_template  # defaults imports this module

    spec = rc.get("spec")
    if not isinstance(spec, dict):
        spec = rc["spec"] = {}
    template = spec.get("template")
    template_labels = (
        (template.get("metadata") or {}).get("labels") if isinstance(template, dict) else None
    )
    if template_labels is not None:
        if not spec.get("selector"):
            spec["selector"] = dict(template_labels)
        metadata = rc.get("metadata")
        if isinstance(metadata, dict) and not metadata.get("labels"):
            metadata["labels"] = dict(template_labels)
    if spec.get("replicas") is None:
        spec["replicas"] = 1
    _default_template(spec)


__all__ = ["default_replication_controller"]
