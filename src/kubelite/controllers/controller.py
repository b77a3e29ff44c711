"""The controller skeleton: informers feed a work queue, workers reconcile keys.

Every controller is level-triggered: its event handlers only enqueue a
`namespace/name` key; a worker takes the key, `reconcile(key)` re-reads the
object from the cache, copies before changing anything, treats a missing
object as done and converges what exists. A failed reconcile comes back with
rate-limited backoff; a reconcile may ask to be looked at again after a delay
(minReadySeconds, progress deadlines). A key is never worked on by two
workers at once (the work queue guarantees it).

`ControllerManager` is the Component `kubelite up` runs: the controllers
share one `InformerFactory`, so each kind is listed and watched once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable
from typing import TYPE_CHECKING

from kubelite.apiserver import errors
from kubelite.controllers.clock import Clock, system_clock
from kubelite.controllers.events import EventRecorder
from kubelite.controllers.informer import InformerFactory
from kubelite.controllers.workqueue import WorkQueue

if TYPE_CHECKING:
    from kubelite.apiserver.client import LocalClient

log = logging.getLogger(__name__)


class SyncError(Exception):
    """A sync that failed in a way already reported to the user (an event, a status
    condition): retried with backoff and logged in one line, without a traceback."""


class Controller:
    """Subclasses set `name`, implement `setup` and `reconcile`."""

    name = "controller"
    workers = 2

    def __init__(self, *, clock: Clock = system_clock) -> None:
        self.clock = clock
        self.queue = WorkQueue()
        self._client: LocalClient | None = None
        self._recorder: EventRecorder | None = None
        self.informers = InformerFactory()

    @property
    def client(self) -> LocalClient:
        assert self._client is not None, "controller not bound to a client"
        return self._client

    @property
    def recorder(self) -> EventRecorder:
        assert self._recorder is not None, "controller not bound to a client"
        return self._recorder

    def bind(self, client: LocalClient, informers: InformerFactory | None = None) -> None:
        """Attach the API client and (shared) informers, and register handlers."""
        self._client = client
        self._recorder = EventRecorder(client, self.name, clock=self.clock)
        if informers is not None:
            self.informers = informers
        self.setup()

    def setup(self) -> None:
        """Ask `self.informers` for the kinds this controller reads; add handlers."""

    async def reconcile(self, key: str) -> float | None:
        """Converge one object; return seconds after which to look again, or None."""
        raise NotImplementedError

    def enqueue(self, key: Hashable) -> None:
        self.queue.add(key)

    # ---- running ---------------------------------------------------------------------

    async def run(self, client: LocalClient, ready: asyncio.Event) -> None:
        """Standalone: own informers, then workers, until cancelled."""
        self.bind(client)
        async with asyncio.TaskGroup() as tg:
            synced = asyncio.Event()
            tg.create_task(self.informers.run(client, synced))
            await synced.wait()
            ready.set()
            tg.create_task(self.run_workers())

    async def run_workers(self) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                for _ in range(self.workers):
                    tg.create_task(self._work())
        finally:
            self.queue.close()

    async def _work(self) -> None:
        while True:
            key = await self.queue.get()
            try:
                after = await self.reconcile(str(key))
            except asyncio.CancelledError:
                raise
            except errors.Conflict:
                # A stale cache: the watch catches up, the retry reads fresh state.
                log.debug("%s: %s changed while syncing; will retry", self.name, key)
                self.queue.add_rate_limited(key)
            except SyncError as exc:
                log.warning("%s: syncing %s failed; will retry: %s", self.name, key, exc)
                self.queue.add_rate_limited(key)
            except Exception:
                log.exception("%s: syncing %s failed; will retry", self.name, key)
                self.queue.add_rate_limited(key)
            else:
                self.queue.forget(key)
                if after is not None:
                    self.queue.add_after(key, after)
            finally:
                self.queue.done(key)


class ControllerManager:
    """Runs controllers over shared informers: kubelite's kube-controller-manager."""

    name = "kube-controller-manager"

    def __init__(self, controllers: list[Controller]) -> None:
        self.controllers = controllers
        self.informers = InformerFactory()

    def bind(self, client: LocalClient) -> None:
        for c in self.controllers:
            c.bind(client, self.informers)

    async def run(self, client: LocalClient, ready: asyncio.Event) -> None:
        self.bind(client)
        async with asyncio.TaskGroup() as tg:
            synced = asyncio.Event()
            tg.create_task(self.informers.run(client, synced))
            await synced.wait()
            ready.set()
            for c in self.controllers:
                tg.create_task(c.run_workers())
