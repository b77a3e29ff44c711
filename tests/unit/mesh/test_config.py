from __future__ import annotations

import base64
from typing import Any

import httpx
import pydantic
import pytest

from kubelite.mesh.balancers import Endpoint
from kubelite.mesh.client_http import MeshTransport
from kubelite.mesh.config import Config, ConfigError, document_from_data
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
    assert up.policy.timeout == 0.3
    assert up.retry is not None and up.retry.max_attempts == 3
    assert up.retry.budget is up.budget
    breaker = up.breaker
    assert config.apply({"resiliency.yaml": RESILIENCY.replace("300ms", "2s")})
    assert up.policy.timeout == 2.0
    assert not config.apply({"resiliency.yaml": RESILIENCY.replace("retry: twice", "retry: nope")})
    assert up.policy.timeout == 2.0  # last good stays
    assert breaker is not None
