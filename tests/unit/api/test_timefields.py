"""Time and MicroTime fields: Go's RFC 3339 parse errors, UTC output, the paths per kind."""

from __future__ import annotations

import pytest

from kubelite.api.registry import REGISTRY
from kubelite.api.timefields import TimeParseError, normalize, normalize_object, plan_for

LAYOUT = '"2006-01-02T15:04:05Z07:00"'
MICRO = '"2006-01-02T15:04:05.000000Z07:00"'


@pytest.mark.parametrize(
    ("value", "micro", "want"),
    [
        ("2024-01-02T03:04:05Z", False, "2024-01-02T03:04:05Z"),
        # Time keeps whole seconds (the fraction is dropped, not rounded), in UTC.
        ("2026-11-28T01:28:47.961307+01:00", False, "2026-11-28T00:28:47Z"),
        ("2024-01-02T03:04:05-05:30", False, "2024-01-02T08:34:05Z"),
        ("2024-12-31T23:30:00-01:00", False, "2025-01-01T00:30:00Z"),
        ("2024-01-02T3:04:05Z", False, "2024-01-02T03:04:05Z"),  # Go's hour is not fixed-width
        ("2024-02-29T00:00:00Z", False, "2024-02-29T00:00:00Z"),
        ("0001-01-01T00:00:00Z", False, None),  # the zero time is written as null
        ("2026-11-28T00:26:43.676189+00:00", True, "2026-11-28T00:26:43.676189Z"),
        ("2024-01-02T03:04:05.000001-01:00", True, "2024-01-02T04:04:05.000001Z"),
    ],
    ids=[
        "canonical",
        "offset-and-fraction",
        "negative-offset",
        "offset-crosses-a-year",
        "one-digit-hour",
        "leap-day",
        "zero-time",
        "micro-offset",
        "micro-negative-offset",
    ],
)
def test_valid_times_come_back_in_utc(value: str, micro: bool, want: str | None) -> None:
    assert normalize(value, micro=micro) == want
    if want is not None:
        assert normalize(want, micro=micro) == want  # idempotent


@pytest.mark.parametrize(
    ("value", "micro", "message"),
    [
        ("yesterday", False, f'as {LAYOUT}: cannot parse "yesterday" as "2006"'),
        ("not a time", True, f'as {MICRO}: cannot parse "not a time" as "2006"'),
        ("2024-01-02 03:04:05Z", False, f'as {LAYOUT}: cannot parse " 03:04:05Z" as "T"'),
        ("2024-01-02T03:04:05", False, f'as {LAYOUT}: cannot parse "" as "Z07:00"'),
        ("2024-01-02T03:04:05+0100", False, f'as {LAYOUT}: cannot parse "+0100" as "Z07:00"'),
        ("2024-13-02T03:04:05Z", False, ": month out of range"),
        ("2023-02-29T03:04:05Z", False, ": day out of range"),
        ("2024-01-02T24:00:00Z", False, ": hour out of range"),
        ("2024-01-02T03:04:05+25:00", False, ": time zone offset hour out of range"),
        ("2024-01-02T03:04:05Zjunk", False, ': extra text: "junk"'),
        # MicroTime wants exactly six fractional digits.
        ("2024-01-02T03:04:05Z", True, f'as {MICRO}: cannot parse "Z" as ".000000"'),
        ("2024-01-02T03:04:05.123Z", True, f'as {MICRO}: cannot parse ".123Z" as ".000000"'),
        ("2024-01-02T03:04:05.1234567Z", True, f'as {MICRO}: cannot parse "7Z" as "Z07:00"'),
    ],
    ids=[
        "word",
        "word-micro",
        "space-for-T",
        "no-zone",
        "zone-without-colon",
        "month",
        "day",
        "hour",
        "offset-hour",
        "extra-text",
        "micro-without-fraction",
        "micro-short-fraction",
        "micro-long-fraction",
    ],
)
def test_invalid_times_fail_with_gos_message(value: str, micro: bool, message: str) -> None:
    with pytest.raises(TimeParseError) as err:
        normalize(value, micro=micro)
    assert str(err.value) == f'parsing time "{value}"' + (
        message if message.startswith(":") else " " + message
    )


def test_micro_fields_are_named_and_the_rest_are_times() -> None:
    lease = dict(plan_for("V1Lease"))
    assert dict(lease["spec"][1]) == {"acquireTime": "m", "renewTime": "m"}
    event = dict(plan_for("CoreV1Event"))
    assert (event["eventTime"], event["firstTimestamp"], event["lastTimestamp"]) == ("m", "t", "t")
    assert plan_for("V1ConfigMap") == (("metadata", plan_for("V1ConfigMap")[0][1]),)


def test_an_object_is_normalized_in_place_lists_and_maps_included() -> None:
    pdb = {
        "metadata": {"name": "p", "creationTimestamp": "2024-01-02T04:04:05+01:00"},
        "status": {
            "conditions": [{"type": "X", "lastTransitionTime": "2024-01-02T03:04:05.5Z"}],
            "disruptedPods": {"a": "2024-01-02T03:04:05-01:00"},
        },
    }
    normalize_object(REGISTRY.by_kind("policy/v1", "PodDisruptionBudget"), pdb)  # type: ignore[arg-type]
    assert pdb["metadata"]["creationTimestamp"] == "2024-01-02T03:04:05Z"
    assert pdb["status"]["conditions"][0]["lastTransitionTime"] == "2024-01-02T03:04:05Z"
    assert pdb["status"]["disruptedPods"] == {"a": "2024-01-02T04:04:05Z"}


def test_a_value_that_is_not_a_string_is_a_decode_error() -> None:
    with pytest.raises(
        TimeParseError, match="cannot unmarshal number into Go value of type string"
    ):
        normalize_object(REGISTRY.by_kind("v1", "Event"), {"firstTimestamp": 5})  # type: ignore[arg-type]


def test_the_generated_plans_are_what_the_client_models_give() -> None:
    """`decode_plans.py` is generated (`python -m kubelite.api.timefields`); run
    that again when the official client's models change."""
    import kubernetes

    from kubelite.api import decode_plans, timefields

    if kubernetes.__version__.split(".")[0] != decode_plans.CLIENT_VERSION.split(".")[0]:
        pytest.skip(
            f"the plans come from kubernetes {decode_plans.CLIENT_VERSION}, "
            f"this is {kubernetes.__version__}"
        )
    assert timefields.computed_plans() == decode_plans.PLANS
    assert "V1Pod" in decode_plans.PLANS and "CoreV1Event" in decode_plans.PLANS
