"""Per-call cost of the kubelite.mesh policy core, and a failure drill.

Measures, in one run:
- overhead_us: endpoint resolution (a dict lookup), round-robin pick, breaker
  acquire/record, retry-budget bookkeeping and in-flight hooks around an
  in-process async call, minus the same bare call;
- breaker_us vs pybreaker_us: a trivial function called through
  `CircuitBreaker.call` and through `pybreaker.CircuitBreaker.call`;
- the failure drill: an upstream that always fails after 50 ms; how many calls
  until the breaker opens, and the caller's p99 latency once it is open.

Usage: python benchmarks/mesh_overhead.py [--iterations N]
The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time

import pybreaker

from kubelite.mesh.balancers import Endpoint, RoundRobin
from kubelite.mesh.breaker import CircuitBreaker, CircuitBreakerConfig
from kubelite.mesh.errors import CircuitOpenError
from kubelite.mesh.retry import RetryBudget

DRILL_CONFIG = CircuitBreakerConfig(
    sliding_window_size=20, minimum_number_of_calls=10, wait_duration_in_open_state=30
)


async def upstream(endpoint: Endpoint | None = None) -> int:
    return 200


async def bare_loop(n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        await upstream()
    return time.perf_counter() - start


async def mesh_loop(n: int) -> float:
    endpoints = {("default", "orders"): tuple(Endpoint(f"127.244.0.{i}", 80) for i in range(1, 4))}
    balancer = RoundRobin(service="orders")
    breaker = CircuitBreaker("orders")
    budget = RetryBudget()
    now = time.perf_counter
    start = now()
    for _ in range(n):
        endpoint = balancer.pick(endpoints[("default", "orders")])
        breaker.try_acquire()
        budget.on_request()
        balancer.on_start(endpoint)
        t0 = now()
        try:
            await upstream(endpoint)
        except Exception:
            breaker.on_failure(now() - t0)
            raise
        finally:
            balancer.on_done(endpoint)
        breaker.on_success(now() - t0)
    return now() - start


def per_call_us(fn, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def best_of(measure, repeats: int = 5) -> float:
    return min(measure() for _ in range(repeats))


def trivial() -> int:
    return 1


def breaker_figures(n: int) -> tuple[float, float]:
    ours = CircuitBreaker("bench")
    theirs = pybreaker.CircuitBreaker()
    ours_us = best_of(lambda: per_call_us(lambda: ours.call(trivial), n))
    theirs_us = best_of(lambda: per_call_us(lambda: theirs.call(trivial), n))
    return ours_us, theirs_us


async def failure_drill(latency: float = 0.05, open_calls: int = 1000) -> tuple[int, float]:
    breaker = CircuitBreaker("drill", DRILL_CONFIG)

    async def failing() -> None:
        await asyncio.sleep(latency)
        raise ConnectionError("upstream down")

    async def one_call() -> None:
        breaker.try_acquire()
        t0 = time.monotonic()
        try:
            await failing()
        except ConnectionError:
            breaker.on_failure(time.monotonic() - t0)

    calls = 0
    while breaker.state.value != "open":
        calls += 1
        await one_call()
    samples = []
    for _ in range(open_calls):
        t0 = time.perf_counter()
        with contextlib.suppress(CircuitOpenError):
            await one_call()
        samples.append(time.perf_counter() - t0)
    samples.sort()
    return calls, samples[int(len(samples) * 0.99) - 1] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200_000)
    args = parser.parse_args()
    n = args.iterations
    bare = best_of(lambda: asyncio.run(bare_loop(n)))
    mesh = best_of(lambda: asyncio.run(mesh_loop(n)))
    overhead_us = (mesh - bare) / n * 1e6
    breaker_us, pybreaker_us = breaker_figures(n)
    calls_until_open, open_p99_ms = asyncio.run(failure_drill())
    print(f"bare async call      {bare / n * 1e6:8.3f} us")
    print(f"mesh policy overhead {overhead_us:8.3f} us per call")
    print(f"breaker.call         {breaker_us:8.3f} us   pybreaker.call {pybreaker_us:8.3f} us")
    print(f"drill: open after {calls_until_open} calls; p99 while open {open_p99_ms:.4f} ms "
          f"(upstream latency 50 ms)")  # fmt: skip
    print(
        json.dumps(
            {
                "overhead_us": round(overhead_us, 3),
                "breaker_us": round(breaker_us, 3),
                "pybreaker_us": round(pybreaker_us, 3),
                "breaker_vs_pybreaker_ratio": round(pybreaker_us / breaker_us, 2),
                "calls_until_open": calls_until_open,
                "open_p99_ms": round(open_p99_ms, 4),
                "iterations": n,
                "drill_config": {"sliding_window_size": 20, "minimum_number_of_calls": 10,
                                 "failure_rate_threshold": 50},
            }
        )
    )  # fmt: skip


if __name__ == "__main__":
    main()
