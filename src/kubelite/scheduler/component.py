"""The scheduler as a part of `kubelite up`: informers in, bindings out.

Reflectors keep the scheduler's cache and queue fed from watches of nodes,
pods, namespaces, volumes and the owners whose selectors drive the default
spreading; one loop pops pods and writes each decision through the API
(`pods/binding`, events, the PodScheduled condition), as kube-scheduler does.

The loop shares the event loop with the API server and the other parts: when
pods are waiting it schedules and binds them for up to ``SLICE_S`` before
yielding, so a burst of creates does not starve it to one pod per turn, and
events go to a background writer (:mod:`kubelite.scheduler.recorder`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kubelite.apiserver import errors
from kubelite.apiserver.client import LocalClient
from kubelite.scheduler.binder import apply_result
from kubelite.scheduler.plugins import events as ev
from kubelite.scheduler.profile import load_profiles
from kubelite.scheduler.recorder import EventRecorder
from kubelite.scheduler.scheduler import Scheduler

log = logging.getLogger(__name__)
SLICE_S = 0.02  # scheduling time per turn of the event loop while pods wait
Obj = dict[str, Any]
Handler = Callable[[str, Obj], None]
COMPONENT = "default-scheduler"


async def reflect(
    client: LocalClient,
    api_version: str,
    kind: str,
    handler: Handler,
    synced: asyncio.Event | None = None,
) -> None:
    """List+watch one kind forever, relisting when history was compacted."""
    known: dict[str, Obj] = {}
    while True:
        items, rv = await client.list(api_version, kind)
        fresh = {_key(o): o for o in items}
        for key, obj in known.items():
            if key not in fresh:
                handler("DELETED", obj)
        for key, obj in fresh.items():
            handler("MODIFIED" if key in known else "ADDED", obj)
        known = fresh
        if synced is not None:
            synced.set()
        async for kind_, obj in client.watch(api_version, kind, resource_version=rv):
            if kind_ == "ERROR":
                break
            if kind_ == "BOOKMARK":
                continue
            key = _key(obj)
            if kind_ == "DELETED":
                known.pop(key, None)
            else:
                known[key] = obj
            handler(kind_, obj)


def _key(obj: Obj) -> str:
    md = obj["metadata"]
    return f"{md.get('namespace', '')}/{md['name']}"


class VolumeCache:
    """The VolumeLister the VolumeBinding plugin reads, fed by reflectors."""

    def __init__(self) -> None:
        self.pvcs: dict[str, Obj] = {}
        self.pv_by_name: dict[str, Obj] = {}
        self.classes: dict[str, Obj] = {}

    def pvc(self, namespace: str, name: str) -> Obj | None:
        return self.pvcs.get(f"{namespace}/{name}")

    def pv(self, name: str) -> Obj | None:
        return self.pv_by_name.get(name)

    def pvs(self) -> list[Obj]:
        return list(self.pv_by_name.values())

    def storage_class(self, name: str) -> Obj | None:
        return self.classes.get(name)


class OwnerSelectors:
    """Selectors of Services and workloads, for the default topology spreading."""

    def __init__(self) -> None:
        self.by_kind: dict[str, dict[str, Obj]] = {
            "Service": {},
            "ReplicaSet": {},
            "StatefulSet": {},
        }

    def selector_for(self, pod: Mapping[str, Any]) -> Obj | None:
        from kubelite.api.selectors import selector_from_dict

        ns = pod["metadata"].get("namespace", "")
        labels = pod["metadata"].get("labels") or {}
        match: dict[str, str] = {}
        for kind, objs in self.by_kind.items():
            for obj in objs.values():
                if obj["metadata"].get("namespace") != ns:
                    continue
                spec = obj.get("spec") or {}
                sel = spec.get("selector")
                if kind == "Service":
                    if not sel or not all(labels.get(k) == v for k, v in sel.items()):
                        continue
                    match.update(sel)
                elif sel and selector_from_dict(sel).matches(labels):
                    match.update(sel.get("matchLabels") or {})
        return {"matchLabels": match} if match else None


class SchedulerComponent:
    name = COMPONENT

    def __init__(
        self, *, config_file: Path | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        profiles = load_profiles(config_file.read_text()) if config_file else None
        self.volumes = VolumeCache()
        self.owners = OwnerSelectors()
        self.namespaces: dict[str, Mapping[str, str]] = {}
        self.pdbs: dict[str, Obj] = {}
        self.scheduler = Scheduler(
            profiles=profiles,
            volumes=self.volumes,
            namespace_labels=self._namespace_labels,
            spread_selector=self.owners.selector_for,
            pdbs=lambda: list(self.pdbs.values()),
        )
        self.clock = clock
        self._waiter: asyncio.Future[None] | None = None
        self.recorder: EventRecorder | None = None

    def _wake(self) -> None:
        """Something the queue may care about changed: end the loop's idle wait."""
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _namespace_labels(self, namespace: str) -> Mapping[str, str] | None:
        return self.namespaces.get(namespace, {"kubernetes.io/metadata.name": namespace})

    async def run(self, client: LocalClient, ready: asyncio.Event) -> None:
        recorder = self.recorder = EventRecorder(client)
        binder = ApiBinder(client, self.clock, recorder)
        syncs = {name: asyncio.Event() for name in ("nodes", "pods")}
        async with asyncio.TaskGroup() as tg:
            tg.create_task(reflect(client, "v1", "Node", self._on_node, syncs["nodes"]))
            await syncs["nodes"].wait()
            tg.create_task(reflect(client, "v1", "Pod", self._on_pod, syncs["pods"]))
            tg.create_task(reflect(client, "v1", "Namespace", self._on_namespace))
            tg.create_task(reflect(client, "policy/v1", "PodDisruptionBudget", self._on_pdb))
            for api_version, kind in (
                ("v1", "PersistentVolumeClaim"),
                ("v1", "PersistentVolume"),
                ("storage.k8s.io/v1", "StorageClass"),
            ):
                tg.create_task(reflect(client, api_version, kind, self._on_volume))
            for api_version, kind in (
                ("v1", "Service"),
                ("apps/v1", "ReplicaSet"),
                ("apps/v1", "StatefulSet"),
            ):
                tg.create_task(reflect(client, api_version, kind, self._on_owner))
            await syncs["pods"].wait()
            ready.set()
            tg.create_task(recorder.run())
            tg.create_task(self._loop(binder))

    # ---- informer handlers ---------------------------------------------------

    def _on_node(self, kind: str, node: Obj) -> None:
        s = self.scheduler
        if kind == "ADDED":
            s.on_node_add(node)
        elif kind == "MODIFIED":
            s.on_node_update(node)
        else:
            s.on_node_delete(node)
        self._wake()

    def _on_pod(self, kind: str, pod: Obj) -> None:
        s = self.scheduler
        if kind == "DELETED":
            s.on_pod_delete(pod)
        elif _terminal(pod):
            s.on_pod_delete(pod)  # finished pods free their resources
        elif kind == "ADDED":
            s.on_pod_add(pod)
        else:
            s.on_pod_update(pod)
        self._wake()

    def _on_namespace(self, kind: str, ns: Obj) -> None:
        name = ns["metadata"]["name"]
        if kind == "DELETED":
            self.namespaces.pop(name, None)
        else:
            self.namespaces[name] = {
                "kubernetes.io/metadata.name": name,
                **(ns["metadata"].get("labels") or {}),
            }

    def _on_pdb(self, kind: str, pdb: Obj) -> None:
        if kind == "DELETED":
            self.pdbs.pop(_key(pdb), None)
        else:
            self.pdbs[_key(pdb)] = pdb

    def _on_volume(self, kind: str, obj: Obj) -> None:
        md, v = obj["metadata"], self.volumes
        table, key, add_event, update_event = {
            "PersistentVolumeClaim": (
                v.pvcs,
                f"{md.get('namespace')}/{md['name']}",
                ev.PVC_ADD,
                ev.PVC_UPDATE,
            ),
            "PersistentVolume": (v.pv_by_name, md["name"], ev.PV_ADD, ev.PV_UPDATE),
            "StorageClass": (v.classes, md["name"], ev.STORAGE_CLASS_ADD, ev.STORAGE_CLASS_ADD),
        }[obj["kind"]]
        if kind == "DELETED":
            table.pop(key, None)
            return
        table[key] = obj
        self.scheduler.on_volume_event(add_event if kind == "ADDED" else update_event)
        self._wake()

    def _on_owner(self, kind: str, obj: Obj) -> None:
        table = self.owners.by_kind[obj["kind"]]
        key = _key(obj)
        if kind == "DELETED":
            table.pop(key, None)
        else:
            table[key] = obj

    # ---- the scheduling loop -------------------------------------------------

    async def _loop(self, binder: ApiBinder) -> None:
        queue = self.scheduler.queue
        loop = asyncio.get_running_loop()
        while True:
            queue.flush_backoff_completed()
            queue.flush_unschedulable_leftover()
            with binder.client.batch():  # the slice's bindings commit together
                scheduled = await self._schedule_slice(binder)
            if scheduled:
                await asyncio.sleep(0)  # let watches and requests in between slices
                continue
            wakeup = queue.next_wakeup()
            timeout = 1.0 if wakeup is None else max(0.001, min(1.0, wakeup - time.monotonic()))
            self._waiter = loop.create_future()
            timer = loop.call_later(timeout, self._wake)
            try:
                await self._waiter
            finally:
                timer.cancel()
                self._waiter = None

    async def _schedule_slice(self, binder: ApiBinder) -> int:
        """Schedule and bind waiting pods for up to SLICE_S; how many were tried."""
        deadline = time.monotonic() + SLICE_S
        done = 0
        while True:
            step = self.scheduler.schedule_next()
            if step is None:
                return done
            done += 1
            qpi, result = step
            try:
                if result.scheduled and (result.volume_bindings or result.volume_provisions):
                    await binder.prebind_volumes(qpi.pod, result)
                await apply_result(binder, qpi.pod, result, now=binder.now())
            except errors.NotFound:
                self.scheduler.cache.forget_pod(qpi.pod)
            except errors.ApiError as exc:
                log.warning("binding %s failed: %s", qpi.key, exc)
                if result.scheduled:
                    self.scheduler.binding_failed(qpi)
            if time.monotonic() >= deadline:
                return done


def _terminal(pod: Obj) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


class ApiBinder:
    """The scheduler's API writes, through the in-process client."""

    def __init__(
        self,
        client: LocalClient,
        clock: Callable[[], float],
        recorder: EventRecorder | None = None,
    ) -> None:
        self.client = client
        self.clock = clock
        self.recorder = recorder

    def now(self) -> str:
        from kubelite.apiserver.meta import now_rfc3339

        return now_rfc3339(self.clock())

    async def prebind_volumes(self, pod: Mapping[str, Any], result: Any) -> None:
        """VolumeBinding's PreBind: claim the chosen volumes, ask for the rest.

        A chosen static volume gets the claim in its `claimRef` (the PV
        controller completes the binding); a claim to provision gets the
        `volume.kubernetes.io/selected-node` annotation its provisioner waits for.
        """
        ns = pod["metadata"].get("namespace") or "default"
        for claim, volume in result.volume_bindings.items():
            pvc = await self.client.get("v1", "PersistentVolumeClaim", claim, ns)

            def claim_ref(pv: Obj, pvc: Obj = pvc) -> Obj:
                pv.setdefault("spec", {}).setdefault(
                    "claimRef",
                    {
                        "kind": "PersistentVolumeClaim",
                        "apiVersion": "v1",
                        "namespace": ns,
                        "name": pvc["metadata"]["name"],
                        "uid": pvc["metadata"].get("uid"),
                    },
                )
                pv["metadata"].pop("resourceVersion", None)
                return pv

            await self.client.mutate("v1", "PersistentVolume", volume, claim_ref)
        for claim in result.volume_provisions:

            def select(pvc: Obj) -> Obj:
                pvc["metadata"].setdefault("annotations", {})[
                    "volume.kubernetes.io/selected-node"
                ] = result.node_name
                pvc["metadata"].pop("resourceVersion", None)
                return pvc

            await self.client.mutate("v1", "PersistentVolumeClaim", claim, select, ns)

    async def bind(self, pod: Mapping[str, Any], node_name: str) -> None:
        md = pod["metadata"]
        await self.client.bind_only(md.get("namespace") or "default", md["name"], node_name)

    async def record_event(
        self,
        *,
        regarding: Mapping[str, Any],
        type: str,  # noqa: A002 - the Event field name
        reason: str,
        action: str,
        note: str,
        related: Mapping[str, Any] | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> None:
        from kubelite.apiserver.meta import generate_name, now_micro

        md = regarding["metadata"]
        ns = md.get("namespace") or "default"
        now = self.now()
        meta: Obj = {"name": generate_name(f"{md['name']}."), "namespace": ns}
        if annotations:
            meta["annotations"] = dict(annotations)
        event: Obj = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": meta,
            "involvedObject": {
                "apiVersion": "v1",
                "kind": "Pod",
                "namespace": ns,
                "name": md["name"],
                "uid": md.get("uid"),
                "resourceVersion": md.get("resourceVersion"),
            },
            "reason": reason,
            "message": note,
            "type": type,
            "action": action,
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": COMPONENT,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "eventTime": now_micro(self.clock()),
            "count": 1,
        }
        if self.recorder is not None:
            self.recorder.record(event)
            return
        try:
            await self.client.create(event)
        except errors.ApiError as exc:  # events are best effort, as upstream's recorder
            log.debug("event for %s/%s dropped: %s", ns, md["name"], exc)

    async def update_pod_condition(
        self,
        pod: Mapping[str, Any],
        condition: Mapping[str, Any],
        *,
        nominated_node_name: str | None = None,
    ) -> None:
        md = pod["metadata"]

        def change(current: Obj) -> Obj:
            status = current.setdefault("status", {})
            conds = [
                c for c in status.get("conditions") or [] if c.get("type") != condition["type"]
            ]
            old = next(
                (c for c in status.get("conditions") or [] if c.get("type") == condition["type"]),
                None,
            )
            new = dict(condition)
            if old and old.get("status") == new.get("status") and old.get("lastTransitionTime"):
                new["lastTransitionTime"] = old["lastTransitionTime"]
            status["conditions"] = [*conds, new]
            if nominated_node_name:
                status["nominatedNodeName"] = nominated_node_name
            elif nominated_node_name is not None:
                status.pop("nominatedNodeName", None)
            current["metadata"].pop("resourceVersion", None)
            return current

        await self.client.mutate(
            "v1", "Pod", md["name"], change, md.get("namespace"), subresource="status"
        )

    async def clear_nominated_node_name(self, pod: Mapping[str, Any]) -> None:
        md = pod["metadata"]

        def clear(current: Obj) -> Obj:
            (current.get("status") or {}).pop("nominatedNodeName", None)
            current["metadata"].pop("resourceVersion", None)
            return current

        with contextlib.suppress(errors.NotFound):
            await self.client.mutate(
                "v1", "Pod", md["name"], clear, md.get("namespace"), subresource="status"
            )

    async def delete_pod(
        self, pod: Mapping[str, Any], *, grace_period_seconds: int | None = None
    ) -> None:
        md = pod["metadata"]
        with contextlib.suppress(errors.NotFound):
            await self.client.delete(
                "v1",
                "Pod",
                md["name"],
                md.get("namespace"),
                grace_period_seconds=grace_period_seconds,
            )


__all__ = ["ApiBinder", "SchedulerComponent", "reflect"]
