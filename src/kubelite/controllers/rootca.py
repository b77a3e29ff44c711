"""The root CA publisher: `kube-root-ca.crt` in every namespace holds the cluster CA.

As upstream's root-ca-cert-publisher: every namespace gets a ConfigMap
`kube-root-ca.crt` whose `ca.crt` is the CA that signed the API's serving
certificate, with the upstream description annotation. A namespace that is
added or becomes active, and a change to or deletion of that ConfigMap, is
synced: the ConfigMap is created again or put back as it should be. Pods
mount it (the `kube-api-access` volume) to verify the API over TLS.
"""

from __future__ import annotations

import logging
from pathlib import Path

from kubelite.apiserver import errors
from kubelite.controllers.clock import Clock, system_clock
from kubelite.controllers.controller import Controller
from kubelite.controllers.informer import Handlers
from kubelite.controllers.objects import Obj, copy, create_if_absent, meta
from kubelite.controllers.objects import annotations as annotations_of
from kubelite.controllers.serviceaccounts import active

log = logging.getLogger(__name__)
CONFIGMAP_NAME = "kube-root-ca.crt"
DESCRIPTION_ANNOTATION = "kubernetes.io/description"
DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal "
    "endpoints such as the internal service IP or kubernetes.default.svc. "
    "No other usage is guaranteed across distributions of Kubernetes clusters."
)


def read_root_ca(data_dir: Path) -> str:
    """The cluster CA (PEM) of a data dir, as `kubelite up` wrote it; "" if there is none."""
    path = data_dir / "tls" / "ca.crt"
    return path.read_text() if path.exists() else ""


class RootCACertPublisher(Controller):
    name = "root-ca-cert-publisher"

    def __init__(self, root_ca: str, *, clock: Clock = system_clock) -> None:
        super().__init__(clock=clock)
        self.root_ca = root_ca

    def setup(self) -> None:
        self.namespaces = self.informers.informer("v1", "Namespace")
        self.namespaces.add_handlers(
            Handlers(on_add=self._namespace_added, on_update=self._namespace_updated)
        )
        self.configmaps = self.informers.informer("v1", "ConfigMap")
        self.configmaps.add_handlers(
            Handlers(
                on_update=lambda _old, new: self._configmap_changed(new),
                on_delete=self._configmap_changed,
            )
        )

    def _namespace_added(self, ns: Obj) -> None:
        self.enqueue(meta(ns)["name"])

    def _namespace_updated(self, _old: Obj, ns: Obj) -> None:
        if active(ns):
            self.enqueue(meta(ns)["name"])

    def _configmap_changed(self, cm: Obj) -> None:
        if meta(cm).get("name") == CONFIGMAP_NAME:
            self.enqueue(meta(cm).get("namespace") or "")

    def wanted_data(self) -> dict[str, str]:
        return {"ca.crt": self.root_ca}

    async def reconcile(self, key: str) -> float | None:
        if not self.root_ca:
            return None
        ns = self.namespaces.get(key)
        if ns is None or not active(ns):
            return None
        cm = self.configmaps.get(f"{key}/{CONFIGMAP_NAME}")
        if cm is None:
            await self._create(key)
            return None
        if cm.get("data") == self.wanted_data() and annotations_of(cm).get(DESCRIPTION_ANNOTATION):
            return None
        fixed = copy(cm)
        fixed["data"] = self.wanted_data()
        fixed.pop("binaryData", None)
        fixed["metadata"].setdefault("annotations", {})[DESCRIPTION_ANNOTATION] = DESCRIPTION
        try:
            await self.client.update(fixed)
            log.info("restored ConfigMap %s/%s", key, CONFIGMAP_NAME)
        except errors.NotFound:
            self.enqueue(key)  # deleted meanwhile: the next pass creates it
        return None

    async def _create(self, namespace: str) -> None:
        cm = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": CONFIGMAP_NAME,
                "namespace": namespace,
                "annotations": {DESCRIPTION_ANNOTATION: DESCRIPTION},
            },
            "data": self.wanted_data(),
        }
        if await create_if_absent(self.client, cm):
            log.info("published ConfigMap %s/%s", namespace, CONFIGMAP_NAME)


__all__ = ["CONFIGMAP_NAME", "DESCRIPTION", "RootCACertPublisher", "read_root_ca"]
