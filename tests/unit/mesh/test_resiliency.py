from __future__ import annotations

import pytest

from kubelite.mesh.breaker import CircuitBreaker, Counts, State
from kubelite.mesh.clock import FakeClock
from kubelite.mesh.errors import ResiliencySpecError
from kubelite.mesh.resiliency import parse_go_duration, parse_resiliency, parse_trip

SPEC = {
    "apiVersion": "dapr.io/v1alpha1",
    "kind": "Resiliency",
    "metadata": {"name": "shop"},
    "scopes": ["frontend"],
    "spec": {
        "policies": {
            "timeouts": {"general": "5s", "fast": "250ms"},
            "retries": {
                "retryFive": {"policy": "constant", "duration": "1s", "maxRetries": 5},
                "forever": {"policy": "exponential", "maxInterval": "15s", "maxRetries": -1},
                "only5xx": {
                    "maxRetries": 2,
                    "matching": {"httpStatusCodes": "429,500-502", "gRPCStatusCodes": "14"},
                },
            },
            "circuitBreakers": {
                "simpleCB": {
                    "maxRequests": 1, "interval": "8s", "timeout": "45s",
                    "trip": "consecutiveFailures > 5",
                },
            },
        },
        "targets": {
            "apps": {
                "orders": {"timeout": "general", "retry": "retryFive", "circuitBreaker": "simpleCB"},
                "payments": {"timeout": "fast", "retry": "forever"},
            }
        },
    },
}  # fmt: skip


def test_parses_targets_into_policies() -> None:
    res = parse_resiliency(SPEC)
    assert (res.name, res.scopes) == ("shop", ("frontend",))
    orders = res.for_app("orders")
    assert orders.timeout == 5.0
    assert orders.retry is not None and orders.retry.max_attempts == 6  # 5 retries + first try
    assert orders.retry.backoff.delay(3) == 1.0  # constant
    assert orders.circuit_breaker is not None
    assert orders.circuit_breaker.wait_duration_in_open_state == 45.0
    assert orders.circuit_breaker.counts_interval == 8.0
    assert orders.circuit_breaker.permitted_number_of_calls_in_half_open_state == 1
    payments = res.for_app("payments")
    assert payments.timeout == 0.25 and payments.circuit_breaker is None
    assert payments.retry is not None and payments.retry.max_attempts is None  # unlimited
    assert payments.retry.backoff.ceiling(10) == 15.0
    assert res.for_app("unknown").retry is None


def test_matching_codes_and_defaults() -> None:
    res = parse_resiliency(SPEC)
    only = res.retries["only5xx"]
    assert only.retry_on_statuses == {429, 500, 501, 502}
    assert only.retry_on_grpc_codes == {14}
    assert only.backoff.delay(0) == 5.0  # constant policy, duration defaults to 5s
    every = res.retries["retryFive"]
    assert 404 in every.retry_on_statuses and 503 in every.retry_on_statuses  # all errors


def test_breaker_from_spec_trips_after_six_consecutive_failures() -> None:
    config = parse_resiliency(SPEC).for_app("orders").circuit_breaker
    clock = FakeClock()
    breaker = CircuitBreaker("orders", config, clock=clock)
    for _ in range(5):
        breaker.try_acquire()
        breaker.on_failure(0.1)
    assert breaker.state is State.CLOSED
    breaker.try_acquire()
    breaker.on_failure(0.1)
    assert breaker.state is State.OPEN
    clock.advance(45)
    breaker.try_acquire()
    breaker.on_success(0.1)  # maxRequests 1 success closes
    assert breaker.state is State.CLOSED


def test_accepts_a_bare_spec() -> None:
    assert parse_resiliency(SPEC["spec"]).for_app("orders").timeout == 5.0


def broken(path: list[str], value: object) -> dict:
    import copy

    doc = copy.deepcopy(SPEC)
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


def test_zero_max_requests_means_one_probe() -> None:
    # gobreaker reads MaxRequests 0 as 1, so Dapr accepts it.
    doc = broken(["spec", "policies", "circuitBreakers", "simpleCB", "maxRequests"], 0)
    breaker = parse_resiliency(doc).for_app("orders").circuit_breaker
    assert breaker is not None
    assert breaker.permitted_number_of_calls_in_half_open_state == 1


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        pytest.param(["spec", "policies", "timeouts", "general"], "5 seconds",
                     "spec.policies.timeouts.general", id="bad-duration"),
        pytest.param(["spec", "policies", "retries", "retryFive", "policy"], "linear",
                     "spec.policies.retries.retryFive.policy", id="bad-retry-policy"),
        pytest.param(["spec", "policies", "retries", "retryFive", "maxRetries"], -2,
                     "spec.policies.retries.retryFive.maxRetries", id="max-retries-below-minus-1"),
        pytest.param(["spec", "policies", "retries", "retryFive", "maxRetries"], "5",
                     "spec.policies.retries.retryFive.maxRetries", id="max-retries-string"),
        pytest.param(["spec", "policies", "retries", "retryFive", "backoff"], "1s",
                     "spec.policies.retries.retryFive.backoff", id="unknown-field"),
        pytest.param(["spec", "policies", "retries", "only5xx", "matching", "httpStatusCodes"],
                     "500-700", "spec.policies.retries.only5xx.matching.httpStatusCodes",
                     id="status-out-of-range"),
        pytest.param(["spec", "policies", "circuitBreakers", "simpleCB", "trip"],
                     "failures > 5", "spec.policies.circuitBreakers.simpleCB.trip",
                     id="unknown-trip-counter"),
        pytest.param(["spec", "policies", "circuitBreakers", "simpleCB", "maxRequests"], -1,
                     "spec.policies.circuitBreakers.simpleCB.maxRequests",
                     id="negative-max-requests"),
        pytest.param(["spec", "policies", "circuitBreakers", "simpleCB", "timeout"], "-1s",
                     "spec.policies.circuitBreakers.simpleCB.timeout", id="negative-timeout"),
        pytest.param(["spec", "targets", "apps", "orders", "retry"], "retryTen",
                     "spec.targets.apps.orders.retry", id="undefined-reference"),
        pytest.param(["spec", "policies", "retries"], ["a"], "spec.policies.retries",
                     id="not-a-mapping"),
    ],
)  # fmt: skip
def test_errors_name_the_bad_field(path, value, field) -> None:
    with pytest.raises(ResiliencySpecError) as info:
        parse_resiliency(broken(path, value))
    assert field in info.value.fields
    assert field in str(info.value)


def test_reports_every_problem_at_once() -> None:
    doc = broken(["spec", "policies", "timeouts", "general"], "x")
    doc["spec"]["targets"]["apps"]["orders"]["circuitBreaker"] = "nope"
    with pytest.raises(ResiliencySpecError) as info:
        parse_resiliency(doc)
    assert len(info.value.causes) == 2


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5s", 5), ("100ms", 0.1), ("1m30s", 90), ("1h", 3600), ("1.5h", 5400), ("0", 0),
        ("300us", 0.0003), ("2µs", 2e-6), ("10ns", 1e-8), ("-1.5s", -1.5), (".5s", 0.5),
    ],
)  # fmt: skip
def test_go_durations(text, seconds) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "5", "s", "5 s", "1d", "--5s", "5sec", "1.2.3s"])
def test_bad_go_durations(text) -> None:
    with pytest.raises(ValueError):
        parse_go_duration(text)


@pytest.mark.parametrize(
    ("expression", "counts", "trips"),
    [
        ("consecutiveFailures > 5", Counts(consecutive_failures=6), True),
        ("consecutiveFailures > 5", Counts(consecutive_failures=5), False),
        ("requests >= 10 && totalFailures >= 5", Counts(requests=10, total_failures=5), True),
        ("requests >= 10 && totalFailures >= 5", Counts(requests=9, total_failures=9), False),
        ("consecutiveFailures > 3 || totalFailures > 100", Counts(total_failures=101), True),
    ],
)
def test_trip_expressions(expression, counts, trips) -> None:
    assert parse_trip(expression)(counts) is trips


def test_rereading_an_unchanged_spec_keeps_an_open_breaker() -> None:
    # The config watch re-lists the ConfigMap on every reconnect; an equal
    # document must compare equal, or each re-read would close an open breaker.
    from kubelite.mesh.resiliency_watch import policy_for
    from kubelite.mesh.upstream import Upstream

    doc = {
        "spec": {
            "policies": {"circuitBreakers": {"cb": {"trip": "consecutiveFailures > 1"}}},
            "targets": {"apps": {"orders": {"circuitBreaker": "cb"}}},
        }
    }
    first, again = parse_resiliency(doc), parse_resiliency(doc)
    assert first == again
    up = Upstream("orders", "shop", policy_for(first, "orders"), clock=FakeClock())
    breaker = up.breaker
    assert breaker is not None
    for _ in range(2):
        breaker.on_failure(0.0, breaker.try_acquire())
    up.set_policy(policy_for(again, "orders"))
    assert up.breaker is breaker and breaker.state is State.OPEN  # type: ignore[attr-defined]


def test_trip_condition_equality_and_text() -> None:
    trip = parse_trip("consecutiveFailures>5 && requests >= 10 || totalFailures == 3")
    assert trip == parse_trip("consecutiveFailures > 5 && requests>=10 || totalFailures==3")
    assert trip != parse_trip("consecutiveFailures > 6")
    assert str(trip) == "consecutiveFailures > 5 && requests >= 10 || totalFailures == 3"


def test_a_timeout_with_retries_bounds_each_try_as_dapr_does() -> None:
    """Dapr's retries wrap its timeout: each attempt gets the timeout, so a slow
    replica's try is cut short and the next one goes elsewhere."""
    from kubelite.mesh.resiliency_watch import policy_for
    from kubelite.mesh.upstream import CallPolicy

    spec = parse_resiliency(SPEC["spec"])
    orders = policy_for(spec, "orders")
    assert orders.timeout is None
    assert orders.retry is not None and orders.retry.per_try_timeout == 5.0
    assert orders.retry.max_attempts == spec.for_app("orders").retry.max_attempts  # type: ignore[union-attr]
    alone = {
        "spec": {
            "policies": {"timeouts": {"t": "2s"}},
            "targets": {"apps": {"a": {"timeout": "t"}}},
        }
    }
    only_timeout = policy_for(parse_resiliency(alone["spec"]), "a")
    assert only_timeout.retry is not None and only_timeout.retry.per_try_timeout == 2.0
    no_retries = policy_for(parse_resiliency(alone["spec"]), "a", CallPolicy(retry=None))
    assert no_retries.timeout == 2.0  # one attempt: a deadline for the call
