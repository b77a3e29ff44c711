"""A StatefulSet pod's identity: name, ordinal, labels, hostname and claims.

Pod `NAME-i` is always ordinal i; it carries `statefulset.kubernetes.io/
pod-name`, `apps.kubernetes.io/pod-index` and the `controller-revision-hash`
of the template it was made from; its volume claim templates become PVCs
named `TEMPLATE-NAME-i`, which outlive the pod, so a recreated `db-0` mounts
its own data again.
"""

from __future__ import annotations

import re
from typing import Any

from kubelite.controllers.deployment.util import compute_hash
from kubelite.controllers.objects import Obj, copy, labels, meta, owner_ref_for
from kubelite.controllers.podcontrol import pod_from_template

POD_NAME = "statefulset.kubernetes.io/pod-name"
POD_INDEX = "apps.kubernetes.io/pod-index"
REVISION_HASH = "controller-revision-hash"


def ordinal(sts: Obj, pod: Obj) -> int | None:
    m = re.fullmatch(rf"{re.escape(meta(sts)['name'])}-(\d+)", meta(pod)["name"])
    return int(m.group(1)) if m else None


def revision_name(sts: Obj) -> str:
    return f"{meta(sts)['name']}-{compute_hash(sts['spec']['template'], int((sts.get('status') or {}).get('collisionCount') or 0))}"


def claim_name(template: dict[str, Any], sts: Obj, index: int) -> str:
    return f"{meta(template)['name']}-{meta(sts)['name']}-{index}"


def new_pod(sts: Obj, index: int, revision: str) -> Obj:
    name = f"{meta(sts)['name']}-{index}"
    pod = pod_from_template(sts, sts["spec"]["template"], name=name)
    pod["metadata"].setdefault("labels", {}).update(
        {POD_NAME: name, POD_INDEX: str(index), REVISION_HASH: revision}
    )
    spec = pod["spec"]
    spec["hostname"] = name
    if sts["spec"].get("serviceName"):
        spec["subdomain"] = sts["spec"]["serviceName"]
    claims = {
        meta(t)["name"]: claim_name(t, sts, index)
        for t in sts["spec"].get("volumeClaimTemplates") or []
    }
    volumes = [v for v in spec.get("volumes") or [] if v.get("name") not in claims]
    volumes += [{"name": v, "persistentVolumeClaim": {"claimName": c}} for v, c in claims.items()]
    if volumes:
        spec["volumes"] = volumes
    return pod


def new_claim(sts: Obj, template: dict[str, Any], index: int) -> Obj:
    claim_labels = dict(labels(template))
    claim_labels.update((sts["spec"].get("selector") or {}).get("matchLabels") or {})
    md: dict[str, Any] = {
        "name": claim_name(template, sts, index),
        "namespace": meta(sts)["namespace"],
    }
    if claim_labels:
        md["labels"] = claim_labels
    policy = sts["spec"].get("persistentVolumeClaimRetentionPolicy") or {}
    if policy.get("whenDeleted") == "Delete":
        md["ownerReferences"] = [owner_ref_for(sts)]
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": md,
        "spec": copy(template.get("spec") or {}),
    }
