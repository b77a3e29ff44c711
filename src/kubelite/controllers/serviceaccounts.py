"""The service-account controller: a `default` ServiceAccount in every namespace.

As upstream's serviceaccounts-controller: a namespace that is added or
updated, or loses its `default` service account, is synced; an active
namespace without one gets it created again. Pods rely on it: ServiceAccount
admission refuses a pod whose service account does not exist, and `default`
is what a pod runs as unless it names another.
"""

from __future__ import annotations

import logging

from kubelite.controllers.clock import Clock, system_clock
from kubelite.controllers.controller import Controller
from kubelite.controllers.informer import Handlers
from kubelite.controllers.objects import Obj, create_if_absent, deleting, meta

log = logging.getLogger(__name__)
DEFAULT_SERVICE_ACCOUNTS = ("default",)


def active(ns: Obj) -> bool:
    return not deleting(ns) and (ns.get("status") or {}).get("phase", "Active") == "Active"


class ServiceAccountsController(Controller):
    name = "serviceaccount-controller"

    def __init__(
        self, *, accounts: tuple[str, ...] = DEFAULT_SERVICE_ACCOUNTS, clock: Clock = system_clock
    ) -> None:
        super().__init__(clock=clock)
        self.accounts = accounts

    def setup(self) -> None:
        self.namespaces = self.informers.informer("v1", "Namespace")
        self.namespaces.add_handlers(
            Handlers(
                on_add=self._namespace_changed,
                on_update=lambda _old, new: self._namespace_changed(new),
            )
        )
        self.service_accounts = self.informers.informer("v1", "ServiceAccount")
        self.service_accounts.add_handlers(Handlers(on_delete=self._service_account_deleted))

    def _namespace_changed(self, ns: Obj) -> None:
        self.enqueue(meta(ns)["name"])

    def _service_account_deleted(self, sa: Obj) -> None:
        if meta(sa).get("name") in self.accounts:
            self.enqueue(meta(sa).get("namespace") or "")

    async def reconcile(self, key: str) -> float | None:
        ns = self.namespaces.get(key)
        if ns is None or not active(ns):
            return None  # nothing is created in a namespace that is going away
        for name in self.accounts:
            if self.service_accounts.get(f"{key}/{name}") is not None:
                continue
            sa = {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": name, "namespace": key},
            }
            if await create_if_absent(self.client, sa):
                log.info("created ServiceAccount %s/%s", key, name)
        return None


__all__ = ["DEFAULT_SERVICE_ACCOUNTS", "ServiceAccountsController"]
