from __future__ import annotations

import base64
import threading
from types import SimpleNamespace
from typing import Any

import httpx
import pydantic
import pytest

from kubelite.mesh.balancers import Endpoint
from kubelite.mesh.client_http import MeshTransport
from kubelite.mesh.config import Config, ConfigError, ConfigMapWatch, document_from_data
from kubelite.mesh.discovery import StaticDiscovery
from kubelite.mesh.events import ObjectRef
from kubelite.mesh.resiliency_watch import bind_resiliency


class Settings(pydantic.BaseModel):
    greeting: str = "hello"
    workers: int = 1
    limits: dict[str, int] = {}


class FakeEvents:
    def __init__(self) -> None:
        self.recorded: list[tuple[ObjectRef, str, str, str]] = []

    def record(self, ref: ObjectRef, *, reason: str, message: str, type_: str = "Normal") -> None:
        self.recorded.append((ref, reason, message, type_))


def make_config(**kw: Any) -> tuple[Config[Settings], FakeEvents]:
    events = FakeEvents()
    config = Config(
        "app-config", model=Settings, start=False, namespace="shop", events=events, **kw
    )
    return config, events


def test_document_merges_keys_files_and_secret() -> None:
    doc = document_from_data(
        {"workers": "4", "extra.yaml": "limits: {rps: 10}"},
        {"greeting": base64.b64encode(b"hi").decode()},
    )
    assert doc == {"workers": "4", "limits": {"rps": 10}, "greeting": "hi"}


def test_apply_validates_converts_and_calls_back() -> None:
    config, _ = make_config()
    changes: list[tuple[Settings, Settings | None]] = []
    config.on_change(lambda new, old: changes.append((new, old)))
    assert config.apply({"workers": "4"})
    assert config.value.workers == 4
    assert config.apply({"workers": "4"})  # same value: no callback
    assert config.apply({"workers": "5"})
    assert [(n.workers, o.workers if o else None) for n, o in changes] == [(4, None), (5, 4)]


def test_invalid_change_is_refused_and_last_good_stays() -> None:
    config, events = make_config()
    config.apply({"workers": "4"})
    assert not config.apply({"workers": "many", "greeting": "s3cret"})
    assert config.value.workers == 4
    assert config.refusals == 1
    ((ref, reason, message, type_),) = events.recorded
    assert (ref.kind, ref.name, ref.namespace, reason, type_) == (
        "ConfigMap", "app-config", "shop", "InvalidConfig", "Warning",
    )  # fmt: skip
    assert "workers" in message and "many" not in message  # paths, never values


def test_malformed_yaml_key_is_refused() -> None:
    config, events = make_config()
    assert not config.apply({"settings.yaml": "- a list, not a mapping"})
    assert events.recorded and events.recorded[0][1] == "InvalidConfig"
    with pytest.raises(ConfigError, match="no valid config"):
        _ = config.value


def test_local_override_needs_no_api() -> None:
    config = Config("app-config", model=Settings, override={"workers": 9})
    assert config.value.workers == 9
    assert Config("x", model=Settings, override=Settings(workers=2)).value.workers == 2


RESILIENCY = """
apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata: {name: r}
spec:
  policies:
    timeouts: {fast: 300ms}
    retries: {twice: {policy: constant, duration: 10ms, maxRetries: 2}}
    circuitBreakers: {cb: {maxRequests: 1, timeout: 30s, trip: consecutiveFailures > 2}}
  targets:
    apps:
      orders: {timeout: fast, retry: twice, circuitBreaker: cb}
"""


def test_resiliency_configmap_reloads_client_policy() -> None:
    transport = MeshTransport(
        discovery=StaticDiscovery({"orders": [Endpoint("10.0.0.1", 80)]}),
        inner=httpx.MockTransport(lambda r: httpx.Response(200)),
    )
    up = transport.upstream("orders", "default")
    config = bind_resiliency(
        transport, "resiliency", "orders", override={"spec": {}}, events=FakeEvents()
    )
    assert up.policy.timeout is None  # an empty spec leaves the code's policy
    assert config.apply({"resiliency.yaml": RESILIENCY})
    assert up.retry is not None and up.retry.max_attempts == 3
    assert up.retry.per_try_timeout == 0.3  # Dapr's timeout bounds each try
    assert up.retry.budget is up.budget
    breaker = up.breaker
    assert config.apply({"resiliency.yaml": RESILIENCY.replace("300ms", "2s")})
    assert up.retry is not None and up.retry.per_try_timeout == 2.0
    assert not config.apply({"resiliency.yaml": RESILIENCY.replace("retry: twice", "retry: nope")})
    assert up.retry is not None and up.retry.per_try_timeout == 2.0  # last good stays
    assert breaker is not None


class FakeAccess:
    """What ConfigMapWatch lists through: the objects named `present` exist."""

    namespace = "shop"

    def __init__(self, present: dict[str, dict[str, str]]) -> None:
        self.present = present
        self.api_client = SimpleNamespace(sanitize_for_serialization=lambda result: result)

    def _list(self, namespace: str, *, field_selector: str) -> dict[str, Any]:
        name = field_selector.removeprefix("metadata.name=")
        items = [{"data": self.present[name]}] if name in self.present else []
        return {"items": items, "metadata": {"resourceVersion": "7"}}

    def core(self) -> Any:
        return SimpleNamespace(list_namespaced_config_map=self._list,
                               list_namespaced_secret=self._list)  # fmt: skip


def listed(config: Config[Settings], access: FakeAccess) -> None:
    """One list of each bound object, as the watch threads' first step does it."""
    kinds = [("configmap", config.name)] + ([("secret", config.secret)] if config.secret else [])
    for kind, name in kinds:
        watch = ConfigMapWatch(access, kind, name, "shop", config._on_object,
                               on_missing=config._on_missing)  # fmt: skip
        watch._list()


@pytest.mark.parametrize(
    ("secret", "present", "says"),
    [
        (None, {}, "ConfigMap shop/app-config not found"),
        ("creds", {"app-config": {"workers": "2"}}, "Secret shop/creds not found"),
    ],
    ids=["configmap", "secret"],
)
def test_a_missing_object_is_reported_as_not_found_at_once(
    secret: str | None, present: dict[str, dict[str, str]], says: str
) -> None:
    config, _ = make_config(secret=secret)
    access = FakeAccess(present)
    listed(config, access)
    # answered by the listing: `.value` does not sit out the wait meant for an unreachable API
    assert config._answered.is_set()
    with pytest.raises(ConfigError, match=says):
        _ = config.value
    access.present.update({"app-config": {"workers": "3"}, "creds": {}})  # created later
    listed(config, access)
    assert config.value.workers == 3


def test_unreachable_api_is_still_reported_as_such(monkeypatch: pytest.MonkeyPatch) -> None:
    config, _ = make_config()
    monkeypatch.setattr(config._answered, "wait", lambda timeout: False)  # 10 s, no answer
    with pytest.raises(ConfigError, match="not loaded yet"):
        _ = config.value


def test_a_callback_registered_after_reading_value_hears_only_later_changes() -> None:
    config, _ = make_config()
    in_callback, resume = threading.Event(), threading.Event()
    seen: dict[str, Any] = {}

    def early(new: Settings, old: Settings | None) -> None:
        seen.setdefault("loaded_during_callbacks", config.loaded.is_set())
        in_callback.set()
        assert resume.wait(10.0)

    config.on_change(early)
    first = threading.Thread(target=config.apply, args=({"workers": "4"},))
    first.start()
    assert in_callback.wait(10.0)
    # The value is readable while the first load's callbacks run; a callback
    # registered now (as a program does after reading it) is not told about it.
    assert config.value.workers == 4
    late: list[tuple[int, int | None]] = []
    config.on_change(lambda new, old: late.append((new.workers, old.workers if old else None)))
    resume.set()
    first.join(10.0)
    assert seen["loaded_during_callbacks"] is False  # `loaded` marks the callbacks done
    assert config.loaded.is_set()
    config.apply({"workers": "5"})
    assert late == [(5, 4)]


def test_a_forbidden_read_is_reported_as_forbidden_with_the_apis_message() -> None:
    from kubernetes.client.exceptions import ApiException

    from kubelite.mesh.errors import ForbiddenError

    class DeniedAccess(FakeAccess):
        def _list(self, namespace: str, *, field_selector: str) -> dict[str, Any]:
            error = ApiException(status=403, reason="Forbidden")
            error.body = (
                '{"kind":"Status","code":403,"reason":"Forbidden","message":"configmaps '
                '\\"app-config\\" is forbidden: User \\"system:serviceaccount:shop:default\\" '
                'cannot list resource \\"configmaps\\""}'
            )
            raise error

    config, _ = make_config()
    watch = ConfigMapWatch(DeniedAccess({}), "configmap", "app-config", "shop", config._on_object,
                           on_forbidden=config._on_forbidden)  # fmt: skip
    with pytest.raises(ApiException):
        watch._list()
    watch._report_forbidden(ApiException(status=500))  # other errors are not a 403
    assert not config._answered.is_set()
    try:
        watch._list()
    except ApiException as exc:
        watch._report_forbidden(exc)
    assert config._answered.is_set()  # `.value` answers at once, not after 10 s
    with pytest.raises(ForbiddenError) as caught:
        _ = config.value
    message = str(caught.value)
    assert 'cannot list resource "configmaps"' in message and "403 Forbidden" in message
    assert "not loaded yet" not in message


@pytest.mark.parametrize(
    "data", [{"workers": "many"}, {"workers": "2"}], ids=["refused", "applied"]
)
def test_a_relist_of_unchanged_data_is_not_a_new_reload(data: dict[str, str]) -> None:
    from kubelite.mesh.metrics import METRICS

    config, events = make_config()
    result = "refused" if data["workers"] == "many" else "applied"
    counter = METRICS().config_reloads.labels("app-config", result)
    before = counter._value.get()
    for _ in range(3):  # the first list, then two watch re-lists with the same data
        config._on_object("configmap", dict(data))
    assert counter._value.get() - before == 1
    assert len(events.recorded) == (1 if result == "refused" else 0)
    assert config.refusals == (1 if result == "refused" else 0)
    config._on_object("configmap", {"workers": "5"})  # a real change still counts
    assert config.value.workers == 5
