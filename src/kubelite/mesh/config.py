"""The config center: a ConfigMap (and optionally a Secret) bound to a pydantic model.

`Config("app-config", model=Settings)` reads the ConfigMap once, then watches
it; `config.value` is the last *good* settings object, read locally with no
I/O. A change is parsed and validated first, and only then swapped in and
announced to `on_change` callbacks. A change that fails validation is refused:
the last good value stays in force, and the refusal is logged (field paths and
messages, never values, since a Secret may be involved), counted in
`kubelite_config_reloads_total{result="refused"}` and recorded as a Warning
Event on the ConfigMap, where `kubectl describe configmap` shows it.

How data becomes a document: each ConfigMap key is a field (`LOG_LEVEL: debug`;
pydantic converts "5" to 5); a key ending in `.yaml`, `.yml` or `.json` is
parsed and its mapping merged in. The Secret's keys are merged last, decoded.

For tests, `Config(..., override={...})` (or a model instance) never touches
the API; `config.apply(data)` is the sync core the watcher also calls.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from kubelite.mesh.errors import ForbiddenError, MeshError

__all__ = ["Config", "ConfigError", "ConfigMapWatch", "document_from_data"]

log = logging.getLogger(__name__)
T = TypeVar("T")
_RETRY_MIN_S, _RETRY_MAX_S = 0.2, 5.0


class ConfigError(MeshError, ValueError):
    """A config document was refused; `causes` lists (field path, message) pairs."""

    def __init__(self, name: str, causes: list[tuple[str, str]]) -> None:
        self.name = name
        self.causes = causes
        detail = "; ".join(f"{field}: {message}" for field, message in causes)
        super().__init__(f'config "{name}" refused: {detail}')


def document_from_data(
    data: Mapping[str, str] | None, secret_data: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """ConfigMap `data` (+ Secret `data`, base64) as one mapping (see the module docstring)."""
    import yaml

    doc: dict[str, Any] = {}
    for key, text in sorted((data or {}).items()):
        if key.endswith((".yaml", ".yml", ".json")):
            parsed = json.loads(text) if key.endswith(".json") else yaml.safe_load(text)
            if not isinstance(parsed, Mapping):
                raise ValueError(f"{key}: must hold a mapping, got {type(parsed).__name__}")
            doc.update(parsed)
        else:
            doc[key] = text
    for key, encoded in sorted((secret_data or {}).items()):
        doc[key] = base64.b64decode(encoded).decode()
    return doc


def _model_parser(model: type[T]) -> Callable[[dict[str, Any]], T]:
    def parse(doc: dict[str, Any]) -> T:
        return model.model_validate(doc)  # type: ignore[attr-defined,no-any-return]

    return parse


def _causes(exc: Exception) -> list[tuple[str, str]]:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        try:  # pydantic: field paths and messages, never the (maybe secret) input
            return [(".".join(str(p) for p in e["loc"]) or "<root>", e["msg"]) for e in errors()]
        except Exception:
            pass
    causes = getattr(exc, "causes", None)
    if causes:
        return list(causes)
    return [("<root>", str(exc))]


class Config(Generic[T]):
    """A live, validated view of a ConfigMap (see the module docstring)."""

    def __init__(
        self,
        name: str,
        model: type[T] | None = None,
        *,
        parse: Callable[[dict[str, Any]], T] | None = None,
        namespace: str | None = None,
        secret: str | None = None,
        override: T | Mapping[str, Any] | None = None,
        access: Any | None = None,
        events: Any | None = None,
        start: bool = True,
    ) -> None:
        if (model is None) == (parse is None):
            raise TypeError("give exactly one of model= or parse=")
        self.name = name
        self.secret = secret
        self._parse = parse or _model_parser(model)  # type: ignore[arg-type]
        self._namespace = namespace
        self._access = access
        self._events = events
        self._callbacks: list[Callable[[T, T | None], None]] = []
        self._value: T | None = None
        self._data: dict[str, Mapping[str, str] | None] = {"configmap": None, "secret": None}
        self._watches: list[ConfigMapWatch] = []
        # The ConfigMap and the Secret are watched on two threads: one change at
        # a time, so a slow parse of an older document cannot land last.
        self._lock = threading.RLock()
        self.loaded = threading.Event()  # a document was applied or refused
        self._missing: set[str] = set()  # the bound kinds the API says do not exist
        self._forbidden: dict[str, str] = {}  # kind -> the API's 403 message
        # The (ConfigMap, Secret) data last validated: a re-list that brings the
        # same data again is no change (no new reload, log line or Event).
        self._last_applied: tuple[Any, Any] | None = None
        self._answered = threading.Event()  # loaded, or a bound object is known missing
        self.refusals = 0
        if override is not None:
            self._value = (
                override if not isinstance(override, Mapping) else self._parse(dict(override))
            )
            self.loaded.set()
            self._answered.set()
        elif start:
            self.start()

    # -- reading ----------------------------------------------------------------------

    @property
    def value(self) -> T:
        """The last good settings (waits for the first answer from the API, at most 10 s)."""
        if self._value is None:
            self._answered.wait(10.0)
        value = self._value
        if value is not None:
            return value
        forbidden = dict(self._forbidden)
        if forbidden:
            names = {"configmap": ("configmaps", self.name), "secret": ("secrets", self.secret)}
            kind = sorted(forbidden)[0]
            raise ForbiddenError(
                f'config "{self.name}": cannot read {names[kind][0]} '
                f"{self.namespace}/{names[kind][1]}",
                forbidden[kind],
                hint="grant the pod's service account get, list and watch on it "
                "with a Role and RoleBinding",
            )
        missing = sorted(self._missing.copy())  # a C-level copy: no lock, like the read above
        if missing:
            names = {"configmap": ("ConfigMap", self.name), "secret": ("Secret", self.secret)}
            found = [f"{names[k][0]} {self.namespace}/{names[k][1]} not found" for k in missing]
            raise ConfigError(self.name, [("<root>", "; ".join(found))])
        if not self.loaded.is_set():
            raise ConfigError(self.name, [("<root>", "not loaded yet (is the API reachable?)")])
        raise ConfigError(self.name, [("<root>", "no valid config has been seen yet")])

    def on_change(self, callback: Callable[[T, T | None], None]) -> Callable[[T, T | None], None]:
        """Call `callback(new, old)` after each accepted change; usable as a decorator."""
        self._callbacks.append(callback)
        return callback

    # -- the sync core ----------------------------------------------------------------

    def apply(
        self, data: Mapping[str, str] | None, secret_data: Mapping[str, str] | None = None
    ) -> bool:
        """Validate and swap in a new document; False (and a refusal) when invalid."""
        with self._lock:
            return self._apply(data, secret_data)

    def _apply(self, data: Mapping[str, str] | None, secret_data: Mapping[str, str] | None) -> bool:
        try:
            new = self._parse(document_from_data(data, secret_data))
        except Exception as exc:
            self._refuse(exc)
            return False
        # The callbacks registered before the new value is published are the ones
        # told about it: one registered after `value` returned it must not hear of
        # it again as a change (`value` never waits for this lock).
        callbacks = list(self._callbacks)
        old = self._value
        self._value = new
        self._count("applied")
        if old is None or new != old:
            for callback in callbacks:
                try:
                    callback(new, old)
                except Exception:
                    log.exception(
                        "config %s/%s: on_change callback failed", self.namespace, self.name
                    )
        # Only now is the first load complete: a client holding its calls for a
        # policy ConfigMap (`loaded`) resumes under the policy the callbacks set.
        self.loaded.set()
        self._answered.set()
        return True

    def _refuse(self, exc: Exception) -> None:
        self.refusals += 1
        causes = _causes(exc)
        error = ConfigError(self.name, causes)
        log.warning("config %s/%s: change refused, keeping the last good config: %s",
                    self.namespace, self.name, error)  # fmt: skip
        self._count("refused")
        self.loaded.set()  # readers get the last good value (or a clear error) at once
        self._answered.set()
        events = self._events
        if events is None and self._access is not None:
            from kubelite.mesh.events import EventRecorder

            events = self._events = EventRecorder(self._access)
        if events is not None:
            from kubelite.mesh.events import ObjectRef

            events.record(ObjectRef("ConfigMap", self.name, self.namespace), reason="InvalidConfig",
                          message=str(error)[:1000], type_="Warning")  # fmt: skip

    def _count(self, result: str) -> None:
        from kubelite.mesh.metrics import METRICS

        METRICS().config_reloads.labels(self.name, result).inc()

    # -- the API side -----------------------------------------------------------------

    @property
    def namespace(self) -> str:
        if self._namespace is None:
            self._namespace = self._api().namespace if self._access is not None else "default"
        return self._namespace

    def _api(self) -> Any:
        if self._access is None:
            from kubelite.mesh.runtime import default_access

            self._access = default_access()
        return self._access

    def start(self) -> None:
        """Start watching the ConfigMap (and Secret); returns at once."""
        access = self._api()
        if self._namespace is None:
            self._namespace = access.namespace
        kinds = [("configmap", self.name)] + ([("secret", self.secret)] if self.secret else [])
        for kind, name in kinds:
            watch = ConfigMapWatch(
                access, kind, name, self.namespace, self._on_object,
                on_missing=self._on_missing, on_forbidden=self._on_forbidden,
            )  # fmt: skip
            self._watches.append(watch)
            watch.start()

    def _on_object(self, kind: str, data: Mapping[str, str] | None) -> None:
        with self._lock:
            self._missing.discard(kind)
            self._forbidden.pop(kind, None)
            self._data[kind] = data
            if self._data["configmap"] is None or (self.secret and self._data["secret"] is None):
                return  # wait until every bound object has been seen once
            seen = (self._data["configmap"], self._data["secret"])
            if seen == self._last_applied:
                return  # a re-list or resync of unchanged objects: nothing changed
            self._last_applied = seen
            self._apply(*seen)

    def _on_forbidden(self, kind: str, message: str) -> None:
        """The API refused the read (403): `value` says so, naming the grant that is missing."""
        with self._lock:
            if self._data[kind] is None:
                self._forbidden[kind] = message
        self._answered.set()

    def _on_missing(self, kind: str) -> None:
        """The API listed no such object: `value` says so now instead of timing out."""
        with self._lock:
            if self._data[kind] is None:
                self._missing.add(kind)
        self._answered.set()

    def close(self) -> None:
        for watch in self._watches:
            watch.stop()


class ConfigMapWatch:
    """Lists then watches one ConfigMap or Secret by name on a daemon thread."""

    def __init__(
        self,
        access: Any,
        kind: str,
        name: str,
        namespace: str,
        on_data: Callable[[str, Mapping[str, str] | None], None],
        *,
        on_missing: Callable[[str], None] | None = None,
        on_forbidden: Callable[[str, str], None] | None = None,
    ) -> None:
        self._access = access
        self.kind = kind
        self.name = name
        self.namespace = namespace
        self._on_data = on_data
        self._on_missing = on_missing
        self._on_forbidden = on_forbidden
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"mesh-{kind}-{namespace}/{name}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _list_fn(self) -> Callable[..., Any]:
        core = self._access.core()
        if self.kind == "secret":
            return core.list_namespaced_secret  # type: ignore[no-any-return]
        return core.list_namespaced_config_map  # type: ignore[no-any-return]

    def _run(self) -> None:
        delay = _RETRY_MIN_S
        while not self._stop.is_set():
            try:
                version = self._list()
                delay = _RETRY_MIN_S
                self._watch(version)
            except Exception as exc:
                log.warning("config %s %s/%s: watch failed (%s); retrying",
                            self.kind, self.namespace, self.name, exc)  # fmt: skip
                self._report_forbidden(exc)
                self._stop.wait(delay)
                delay = min(delay * 2, _RETRY_MAX_S)

    def _report_forbidden(self, exc: Exception) -> None:
        from kubelite.mesh.kube import forbidden_message

        message = forbidden_message(exc)
        if message is not None and self._on_forbidden is not None:
            self._on_forbidden(self.kind, message)

    def _selector(self) -> str:
        return f"metadata.name={self.name}"

    def _list(self) -> str:
        result = self._list_fn()(self.namespace, field_selector=self._selector())
        plain = self._access.api_client.sanitize_for_serialization(result)
        items = plain.get("items") or []
        if items:
            self._on_data(self.kind, items[0].get("data") or {})
        else:
            log.warning(
                "config %s %s/%s: not found; waiting for it", self.kind, self.namespace, self.name
            )
            if self._on_missing is not None:
                self._on_missing(self.kind)
        return str(plain.get("metadata", {}).get("resourceVersion") or "")

    def _watch(self, version: str) -> None:
        from kubernetes import watch

        w = watch.Watch()
        stream = w.stream(
            self._list_fn(), self.namespace, field_selector=self._selector(),
            resource_version=version, timeout_seconds=50,
        )  # fmt: skip
        for event in stream:
            if self._stop.is_set():
                w.stop()
                return
            if event["type"] == "ERROR":
                raise RuntimeError(f"watch error: {event.get('raw_object')}")
            if event["type"] == "DELETED":
                log.warning("config %s %s/%s: deleted; keeping the last good config",
                            self.kind, self.namespace, self.name)  # fmt: skip
                continue
            if event["type"] in ("ADDED", "MODIFIED"):
                obj = self._access.api_client.sanitize_for_serialization(event["object"])
                self._on_data(self.kind, obj.get("data") or {})
