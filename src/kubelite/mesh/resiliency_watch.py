"""Resiliency policies from a ConfigMap, reloaded without a restart.

The ConfigMap holds a Dapr Resiliency document under a key ending in `.yaml`
(for example `resiliency.yaml`). The config center watches it; each accepted
version's target for the called app becomes the client's `CallPolicy`:
`timeout` sets the overall deadline, `retry` the retry policy, `circuitBreaker`
the breaker. Parts the document does not set keep the code's policy. An
invalid document is refused like any config (last good stays, Event, counter).
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from typing import Any, Protocol

from kubelite.mesh.config import Config
from kubelite.mesh.resiliency import Resiliency, parse_resiliency
from kubelite.mesh.upstream import CallPolicy

__all__ = ["POLICY_WAIT_S", "bind_resiliency", "policy_for", "wait_for_first_read"]

# How long a client holds its first calls for the policy ConfigMap's first read
# (as long as `Config.value` waits for one).
POLICY_WAIT_S = 10.0


async def wait_for_first_read(loaded: threading.Event | None) -> None:
    """Hold a call until the policy ConfigMap has been read once (no-op without one)."""
    if loaded is not None and not loaded.is_set():
        await asyncio.to_thread(loaded.wait, POLICY_WAIT_S)


class _PolicyTarget(Protocol):
    def set_policy(self, policy: CallPolicy) -> None: ...


def policy_for(spec: Resiliency, app: str, base: CallPolicy | None = None) -> CallPolicy:
    """`base` with the spec's policies for calls to `app` laid over it."""
    policy = base or CallPolicy()
    target = spec.for_app(app)
    changes: dict[str, Any] = {}
    retry = target.retry if target.retry is not None else policy.retry
    if target.timeout is not None and retry is not None:
        # Dapr applies a timeout to each attempt, the retries around it: a slow
        # replica's try times out and the next try goes elsewhere.
        changes["retry"] = dataclasses.replace(retry, per_try_timeout=target.timeout)
    elif target.timeout is not None:
        changes["timeout"] = target.timeout  # one attempt: the same thing
    elif target.retry is not None:
        changes["retry"] = target.retry
    if target.circuit_breaker is not None:
        changes["breaker"] = target.circuit_breaker
        changes["adaptive_throttle"] = False
    return dataclasses.replace(policy, **changes)


def bind_resiliency(
    target: _PolicyTarget,
    configmap: str,
    app: str,
    *,
    namespace: str | None = None,
    base: CallPolicy | None = None,
    **config_options: Any,
) -> Config[Resiliency]:
    """Keep `target`'s policy in step with the Resiliency spec in `configmap`."""
    config: Config[Resiliency] = Config(
        configmap, parse=parse_resiliency, namespace=namespace, start=False, **config_options
    )

    @config.on_change
    def _reload(new: Resiliency, old: Resiliency | None) -> None:
        target.set_policy(policy_for(new, app, base))

    if "override" not in config_options:
        config.start()
    else:
        _reload(config.value, None)
    return config
