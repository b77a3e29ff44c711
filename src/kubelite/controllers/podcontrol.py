"""Creating and deleting pods on behalf of a controller, with the upstream events.

As `RealPodControl`: a pod made from a template carries the template's
labels, annotations and finalizers, a controller ownerReference, and the
generateName `<owner>-`; every create and delete is recorded as an event on
the owner (SuccessfulCreate "Created pod: NAME", FailedCreate "Error
creating: ...", SuccessfulDelete "Deleted pod: NAME", FailedDelete "Error
deleting: ...").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kubelite.apiserver import errors
from kubelite.controllers.events import NORMAL, WARNING, EventRecorder
from kubelite.controllers.objects import Obj, copy, meta, namespace_terminating, owner_ref_for

if TYPE_CHECKING:
    from kubelite.apiserver.client import LocalClient

SUCCESSFUL_CREATE = "SuccessfulCreate"
FAILED_CREATE = "FailedCreate"
SUCCESSFUL_DELETE = "SuccessfulDelete"
FAILED_DELETE = "FailedDelete"
_MAX_NAME = 63 - 5  # room for the random suffix generateName adds


def pods_prefix(owner_name: str) -> str:
    prefix = f"{owner_name}-"
    return prefix if len(prefix) <= _MAX_NAME else owner_name


def pod_from_template(owner: Obj, template: dict[str, Any], *, name: str | None = None) -> Obj:
    tmeta = template.get("metadata") or {}
    md: dict[str, Any] = {"namespace": meta(owner).get("namespace")}
    if name is None:
        md["generateName"] = pods_prefix(meta(owner)["name"])
    else:
        md["name"] = name
    for field in ("labels", "annotations", "finalizers"):
        if tmeta.get(field):
            md[field] = copy({"v": tmeta[field]})["v"]
    md["ownerReferences"] = [owner_ref_for(owner)]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": md,
        "spec": copy(template.get("spec") or {}),
    }


class PodControl:
    def __init__(self, client: LocalClient, recorder: EventRecorder) -> None:
        self.client = client
        self.recorder = recorder

    async def create(self, owner: Obj, pod: Obj) -> Obj:
        try:
            created = await self.client.create(pod, meta(owner).get("namespace"))
        except errors.ApiError as exc:
            if not namespace_terminating(exc):
                await self.recorder.event(
                    owner, WARNING, FAILED_CREATE, f"Error creating: {exc.message}"
                )
            raise
        await self.recorder.event(
            owner, NORMAL, SUCCESSFUL_CREATE, f"Created pod: {meta(created)['name']}"
        )
        return created

    async def delete(self, owner: Obj, pod: Obj) -> None:
        name, ns = meta(pod)["name"], meta(pod).get("namespace")
        try:
            await self.client.delete("v1", "Pod", name, ns)
        except errors.NotFound:
            raise
        except errors.ApiError as exc:
            await self.recorder.event(
                owner, WARNING, FAILED_DELETE, f"Error deleting: {exc.message}"
            )
            raise
        await self.recorder.event(owner, NORMAL, SUCCESSFUL_DELETE, f"Deleted pod: {name}")
