"""Builders and a harness for driving controllers by hand.

The harness is an in-process API (store, REST storage, local client) with a
fake clock; tests bind controllers to it, call `sync` (relist the informers,
then reconcile one key) and play kubelet and scheduler by patching pod
status themselves. Nothing runs in the background, so tests are exact.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubelite.apiserver.client import LocalClient
from kubelite.apiserver.rest import RestStorage
from kubelite.controllers.clock import FakeClock
from kubelite.controllers.controller import Controller
from kubelite.controllers.informer import InformerFactory
from kubelite.controllers.objects import timestamp
from kubelite.store import Store

Obj = dict[str, Any]


def container(image: str = "app:v1") -> Obj:
    return {"name": "app", "image": image}


def template(labels: dict[str, str] | None = None, image: str = "app:v1") -> Obj:
    return {
        "metadata": {"labels": labels or {"app": "web"}},
        "spec": {"containers": [container(image)]},
    }


def make_rs(
    name: str = "web", replicas: int = 3, *, labels: dict[str, str] | None = None, **spec: Any
) -> Obj:
    labels = labels or {"app": "web"}
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": template(labels),
            **spec,
        },
    }


def make_deployment(
    name: str = "web", replicas: int = 3, *, image: str = "app:v1", **spec: Any
) -> Obj:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": template(labels, image),
            **spec,
        },
    }


def make_pod(
    name: str, *, labels: dict[str, str] | None = None, node: str = "", **meta: Any
) -> Obj:
    spec: Obj = {"containers": [container()]}
    if node:
        spec["nodeName"] = node
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "default",
            "labels": labels or {"app": "web"},
            **meta,
        },
        "spec": spec,
    }


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.clock = FakeClock()
        self.store = Store(tmp_path / "db")
        self.storage = RestStorage(self.store, clock=self.clock)
        self.client = LocalClient(self.storage)
        self.informers = InformerFactory()

    async def start(self) -> None:
        await self.client.create(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}}
        )

    def close(self) -> None:
        self.store.close()

    def bind(self, *controllers: Controller) -> None:
        for c in controllers:
            c.bind(self.client, self.informers)

    async def sync(self, ctrl: Controller, key: str = "default/web") -> float | None:
        await self.informers.relist(self.client)
        return await ctrl.reconcile(key)

    async def create(self, obj: Obj) -> Obj:
        return await self.client.create(obj)

    async def get(self, kind: str, name: str, ns: str | None = "default") -> Obj:
        return await self.client.get(_api_version(kind), kind, name, ns)

    async def list(self, kind: str, ns: str | None = "default", **kw: Any) -> list[Obj]:
        items, _ = await self.client.list(_api_version(kind), kind, ns, **kw)
        return items

    async def pods(self, **kw: Any) -> list[Obj]:
        return [
            p for p in await self.list("Pod", **kw) if not p["metadata"].get("deletionTimestamp")
        ]

    async def set_ready(self, pod: Obj, ready: bool = True, *, node: str = "node-1") -> None:
        """Play scheduler and kubelet: bind the pod and report it Running (and Ready)."""
        name = pod["metadata"]["name"]
        pod = await self.get("Pod", name)
        if not pod["spec"].get("nodeName"):
            await self.client.bind("default", name, node)
        now = timestamp(self.clock())
        status = {
            "phase": "Running",
            "conditions": [
                {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": now}
            ],
        }
        await self.client.patch(
            "v1", "Pod", name, {"status": status}, "default", subresource="status"
        )

    async def ready_all(self, **kw: Any) -> None:
        for pod in await self.pods(**kw):
            if not any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in pod.get("status", {}).get("conditions") or []
            ):
                await self.set_ready(pod)

    async def finish_deletions(self) -> None:
        """Play kubelet: pods being deleted gracefully are gone once their containers stop."""
        for pod in await self.list("Pod"):
            if pod["metadata"].get("deletionTimestamp"):
                await self.client.delete(
                    "v1", "Pod", pod["metadata"]["name"], "default", grace_period_seconds=0
                )

    async def events(self, reason: str | None = None) -> list[str]:
        out = [e for e in await self.list("Event") if reason is None or e["reason"] == reason]
        out.sort(
            key=lambda e: e["metadata"]["resourceVersion"] and int(e["metadata"]["resourceVersion"])
        )
        return [e["message"] for e in out]


def _api_version(kind: str) -> str:
    return (
        "apps/v1"
        if kind in ("Deployment", "ReplicaSet", "StatefulSet", "ControllerRevision")
        else "v1"
    )


async def drain(
    h: Harness, *controllers: Controller, ready: bool = False, rounds: int = 50
) -> None:
    """Run every queued key of every controller until nothing is left to do.

    With `ready`, every pod turns Running and Ready between rounds and pods
    being deleted go (a perfect kubelet). Keys only requeued for later (timers) are not waited for.
    """
    for _ in range(rounds):
        await h.informers.relist(h.client)
        busy = False
        for c in controllers:
            while len(c.queue):
                busy = True
                key = await c.queue.get()
                try:
                    await c.reconcile(str(key))
                finally:
                    c.queue.done(key)
                await h.informers.relist(h.client)
        if ready:
            before = h.store.revision
            await h.ready_all()
            await h.finish_deletions()
            busy = busy or h.store.revision != before
        if not busy:
            return
    raise AssertionError("controllers did not settle")
