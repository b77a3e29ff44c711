"""Kubernetes Events from inside a service: what the breaker and config center did.

An operator runs `kubectl describe pod orders-7d9` and should see "circuit
breaker default/payments opened" next to the kubelet's own events, so the SDK
writes core/v1 Events about its pod (`POD_NAME`/`POD_NAMESPACE`, set by the
node agent through the downward API) or about the ConfigMap it refused.

Recording never blocks or fails the caller: events go to a bounded queue that
one daemon thread drains; a full queue or an API error is logged and dropped,
as client-go's event broadcaster does.

A repeat of an event already posted (same object, type, reason and message)
updates that Event — `count` + 1 and a new `lastTimestamp` — instead of making
another, as client-go's EventCorrelator does, so `kubectl describe` shows
"(x6 over 5m)" rather than six lines.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import queue
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

__all__ = ["EventRecorder", "ObjectRef", "pod_ref"]

log = logging.getLogger(__name__)
_QUEUE_SIZE = 1000
_CORRELATION_SIZE = 4096  # client-go's maxLruCacheEntries


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """The object an event is about."""

    kind: str
    name: str
    namespace: str
    api_version: str = "v1"
    uid: str | None = None


def pod_ref() -> ObjectRef | None:
    """This process's pod, when the node agent told us who we are."""
    name = os.environ.get("POD_NAME")
    if not name:
        return None
    return ObjectRef("Pod", name, os.environ.get("POD_NAMESPACE") or "default")


def event_body(
    ref: ObjectRef, *, reason: str, message: str, type_: str, component: str
) -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    involved: dict[str, Any] = {
        "kind": ref.kind, "name": ref.name, "namespace": ref.namespace,
        "apiVersion": ref.api_version,
    }  # fmt: skip
    if ref.uid:
        involved["uid"] = ref.uid
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{ref.name}.{uuid.uuid4().hex[:16]}", "namespace": ref.namespace},
        "involvedObject": involved,
        "reason": reason,
        "message": message,
        "type": type_,
        "source": {"component": component},
        "reportingComponent": component,
        "reportingInstance": os.environ.get("POD_NAME", ""),
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }


_READERS = {"Pod": "read_namespaced_pod", "ConfigMap": "read_namespaced_config_map"}


class EventRecorder:
    """Posts Events in the background; `flush()` waits for the queue (tests)."""

    def __init__(self, access: Any | None = None, *, component: str = "kubelite-mesh") -> None:
        self._access = access
        self.component = component
        self._queue: queue.Queue[dict[str, Any]] = queue.Queue(_QUEUE_SIZE)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._uids: dict[tuple[str, str, str], str | None] = {}
        # (object, type, reason, message) -> (Event name, count) of what was posted
        self._posted: OrderedDict[tuple[str, ...], tuple[str, int]] = OrderedDict()

    def record(self, ref: ObjectRef, *, reason: str, message: str, type_: str = "Normal") -> None:
        body = event_body(
            ref, reason=reason, message=message, type_=type_, component=self.component
        )
        try:
            self._queue.put_nowait(body)
        except queue.Full:
            log.warning(
                "event dropped (queue full): %s %s/%s %s", ref.kind, ref.namespace, ref.name, reason
            )
            return
        self._ensure_thread()

    def flush(self, timeout: float = 10.0) -> None:
        done = threading.Event()

        def waiter() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=waiter, daemon=True).start()
        done.wait(timeout)

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._drain, name="mesh-events", daemon=True)
                self._thread.start()

    def _drain(self) -> None:
        while True:
            body = self._queue.get()
            try:
                self._post(body)
            except Exception as exc:
                involved = body["involvedObject"]
                log.warning("event not recorded for %s %s/%s (%s): %s", involved["kind"],
                            involved["namespace"], involved["name"], body["reason"], exc)  # fmt: skip
            finally:
                self._queue.task_done()

    def _post(self, body: dict[str, Any]) -> None:
        if self._access is None:
            from kubelite.mesh.kube import connect

            self._access = connect()
        involved = body["involvedObject"]
        if "uid" not in involved:
            uid = self._uid_of(involved["kind"], involved["namespace"], involved["name"])
            if uid:
                involved["uid"] = uid
        namespace = body["metadata"]["namespace"]
        key = (involved["kind"], involved["namespace"], involved["name"], body["type"],
               body["reason"], body["message"])  # fmt: skip
        seen = self._posted.get(key)
        if seen is not None and self._bump(namespace, *seen, body["lastTimestamp"]):
            self._remember(key, seen[0], seen[1] + 1)
            return
        self._access.core().create_namespaced_event(namespace, body)
        self._remember(key, body["metadata"]["name"], 1)

    def _bump(self, namespace: str, name: str, count: int, now: str) -> bool:
        """Count one more of a posted Event; False when it is gone (expired, deleted)."""
        patch = {"count": count + 1, "lastTimestamp": now}
        try:
            self._access.core().patch_namespaced_event(  # type: ignore[union-attr]
                name, namespace, patch, _content_type="application/merge-patch+json"
            )
        except Exception as exc:
            if getattr(exc, "status", None) == 404:
                return False
            raise
        return True

    def _remember(self, key: tuple[str, ...], name: str, count: int) -> None:
        self._posted[key] = (name, count)
        self._posted.move_to_end(key)
        while len(self._posted) > _CORRELATION_SIZE:
            self._posted.popitem(last=False)

    def _uid_of(self, kind: str, namespace: str, name: str) -> str | None:
        """The object's uid, read once: `kubectl describe` finds an object's events by
        name, namespace, kind and uid, as client-go's recorder fills them."""
        key = (kind, namespace, name)
        if key not in self._uids:
            read = _READERS.get(kind)
            uid = None
            if read is not None:
                try:
                    core = self._access.core()  # type: ignore[union-attr]
                    uid = getattr(core, read)(name, namespace).metadata.uid
                except Exception as exc:  # gone, or not ours to read: the event goes without
                    log.debug("no uid for %s %s/%s: %s", kind, namespace, name, exc)
            self._uids[key] = uid
        return self._uids[key]
