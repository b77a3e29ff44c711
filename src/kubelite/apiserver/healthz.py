"""`/livez`, `/readyz` and `/healthz` as kube-apiserver answers them.

Each endpoint runs a list of named checks. Without `verbose` a pass is the
plain `ok` that scripts and `kubelite up --detach` wait for; with it, one
`[+]name ok` line per check, then `<endpoint> check passed`. A failure is
always verbose, a 500 ending in `<endpoint> check failed`, and keeps its
reason out of the public answer (it goes to the log). `?exclude=name` skips
a check; `/<endpoint>/<name>` runs one. The same checks tell the
ComponentStatus view whether the scheduler, the controller manager and the
store run, so `kubectl get cs` reports what `/readyz` knows.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

log = logging.getLogger(__name__)

# None when passing, else why not (logged, never sent on the public endpoints).
Check = Callable[[], str | None]

ENDPOINTS = ("livez", "readyz", "healthz")
TEXT = "text/plain; charset=utf-8"


def ping() -> str | None:
    return None


@dataclass
class Health:
    """The checks of each endpoint, in order, and the components ComponentStatus reports."""

    livez: dict[str, Check] = field(default_factory=dict)
    readyz: dict[str, Check] = field(default_factory=dict)
    components: dict[str, Check] = field(default_factory=dict)

    @classmethod
    def basic(cls, *, store_closed: Callable[[], bool], started: Callable[[], bool]) -> Health:
        """What an API server knows alone: it answers, its store is open, its parts started."""

        def etcd() -> str | None:
            return "the store is closed" if store_closed() else None

        def parts_started() -> str | None:
            return None if started() else "not every part of the cluster runs yet"

        return cls(
            livez={"ping": ping, "etcd": etcd},
            readyz={"ping": ping, "etcd": etcd, "poststarthook/start-cluster-parts": parts_started},
            components={"scheduler": ping, "controller-manager": ping, "etcd-0": etcd},
        )

    def checks(self, endpoint: str) -> dict[str, Check]:
        # /healthz is the deprecated union upstream; here it is what /livez checks.
        return self.readyz if endpoint == "readyz" else self.livez


def part_check(name: str, task: asyncio.Task[None], started: asyncio.Event) -> Check:
    """A part of the cluster is healthy while its task runs and after it said it started."""

    def check() -> str | None:
        if task.done():
            return f"{name} is not running"
        if not started.is_set():
            return f"{name} has not started yet"
        return None

    return check


def is_health_path(path: str) -> bool:
    return path.strip("/").partition("/")[0] in ENDPOINTS


def respond(health: Health, path: str, query_string: bytes) -> tuple[int, str]:
    """(HTTP status, text body) for a GET of a health path."""
    endpoint, _, single = path.strip("/").partition("/")
    checks = health.checks(endpoint)
    if single:
        check = checks.get(single)
        if check is None:
            return 404, "404 page not found\n"
        reason = check()
        return (200, "ok") if reason is None else (500, f"internal server error: {reason}\n")
    params = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    excluded = [v for k, v in params if k == "exclude"]
    verbose = any(k == "verbose" for k, _ in params)
    return _run(endpoint, checks, excluded, verbose=verbose)


def _run(
    endpoint: str, checks: dict[str, Check], excluded: list[str], *, verbose: bool
) -> tuple[int, str]:
    lines: list[str] = []
    failed: list[str] = []
    unmatched = sorted({name for name in excluded if name not in checks})
    for name, check in checks.items():
        if name in excluded:
            lines.append(f"[+]{name} excluded: ok")
            continue
        reason = check()
        if reason is None:
            lines.append(f"[+]{name} ok")
        else:
            lines.append(f"[-]{name} failed: reason withheld")
            log.info("%s check %s failed: %s", endpoint, name, reason)
            failed.append(name)
    if unmatched:
        quoted = ",".join(json.dumps(name) for name in unmatched)
        lines.append(f"warn: some health checks cannot be excluded: no matches for {quoted}")
    body = "".join(line + "\n" for line in lines)
    if failed:
        return 500, f"{body}{endpoint} check failed\n"
    if not verbose:
        return 200, "ok"
    return 200, f"{body}{endpoint} check passed\n"


__all__ = ["Check", "Health", "is_health_path", "part_check", "ping", "respond"]
