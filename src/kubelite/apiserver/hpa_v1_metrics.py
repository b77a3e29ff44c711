"""The parts of an autoscaling/v2 HPA that autoscaling/v1 has no fields for.

autoscaling/v1 knows one metric (a cpu utilization target) and no
conditions or behavior. Upstream keeps everything else alive across a v1
read-modify-write by writing it into annotations of the v1 object, in an
older shape: metrics and metric statuses as autoscaling/v1's own (unserved)
`MetricSpec`/`MetricStatus` types, conditions as v1 conditions, and behavior
as the *internal* Go type, which has no JSON tags, so its keys are Go field
names (`ScaleUp`, `StabilizationWindowSeconds`, ...). A v1 write reads them
back. This module does both directions for each of those parts; `hpa_v1`
puts them together.

Encodings follow Go's `encoding/json` so the annotations are byte-for-byte
what kube-apiserver writes: struct field order, `omitempty` only where the
upstream type has it (a non-pointer quantity is always written, as "0" when
unset), and `<`, `>`, `&` escaped. Decoding is as lenient as Go's: keys match
ignoring case, and an annotation that does not decode is ignored as a whole.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

Obj = dict[str, Any]

ZERO_QUANTITY = "0"  # how Go writes a resource.Quantity that was never set

_GO_ESCAPES = (
    (b"<", b"\\u003c"),
    (b">", b"\\u003e"),
    (b"&", b"\\u0026"),
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)


class Undecodable(ValueError):
    """An annotation whose JSON does not fit the type it stands for (Go's Unmarshal error)."""


def go_json(value: Any) -> str:
    """`value` as Go's json.Marshal writes it (compact, HTML-unsafe characters escaped)."""
    raw = orjson.dumps(value)
    for char, escaped in _GO_ESCAPES:
        raw = raw.replace(char, escaped)
    return raw.decode()


def decode_list(text: str | None, item: Callable[[Any], Obj]) -> list[Obj] | None:
    """An annotation holding a JSON list, each item converted; None when absent or undecodable."""
    if text is None:
        return None
    try:
        value = orjson.loads(text)
        if value is None:
            return []
        if not isinstance(value, list):
            raise Undecodable("not a list")
        return [item(_obj(v)) for v in value]
    except (orjson.JSONDecodeError, Undecodable):
        return None


# ---- decoding helpers ------------------------------------------------------------


def _get(obj: Obj, key: str) -> Any:
    """`obj[key]` as Go's decoder finds it: the exact key, else one equal ignoring case."""
    if key in obj:
        return obj[key]
    lowered = key.lower()
    for name, value in obj.items():
        if name.lower() == lowered:
            return value
    return None


def _obj(value: Any) -> Obj:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Undecodable("not an object")
    return value


def _opt_obj(value: Any) -> Obj | None:
    return None if value is None else _obj(value)


def _str(value: Any) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Undecodable("not a string")
    return value


def _opt_str(value: Any) -> str | None:
    return None if value is None else _str(value)


def _opt_int(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise Undecodable("not an integer")
    return value


def _quantity(value: Any) -> str | None:
    """A quantity field: Go accepts a JSON string or number."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Undecodable("not a quantity")
    return str(value)


def _compact(*pairs: tuple[str, Any]) -> Obj:
    """An object of the pairs whose value is set (the `omitempty` ones are passed as None)."""
    return {key: value for key, value in pairs if value is not None}


def _cross_ref(ref: Obj) -> Obj:
    """A CrossVersionObjectReference (kind, name, apiVersion if set), in either direction."""
    return _compact(
        ("kind", _str(_get(ref, "kind"))),
        ("name", _str(_get(ref, "name"))),
        ("apiVersion", _opt_str(_get(ref, "apiVersion")) or None),
    )


def _identity(metric: Obj, selector_key: str = "selector") -> Obj:
    """A v2 MetricIdentifier from a v1 source's metricName and selector."""
    return _compact(
        ("name", _str(_get(metric, "metricName"))),
        ("selector", _opt_obj(_get(metric, selector_key))),
    )


_SOURCES = ("object", "pods", "resource", "containerResource", "external")


def _by_source(metric: Obj, converters: tuple[Callable[[Obj], Obj], ...], *, lenient: bool) -> Obj:
    """A metric's type and each source it has, converted by the converter at the
    source's place in `_SOURCES`; `lenient` reads an annotation's decoded JSON,
    where any field may have the wrong type and is then left out."""
    out: Obj = {"type": _str(_get(metric, "type")) if lenient else metric.get("type") or ""}
    for field, convert in zip(_SOURCES, converters, strict=True):
        source = _opt_obj(_get(metric, field)) if lenient else metric.get(field)
        if source is not None:
            out[field] = convert(source)
    return out


# ---- metric specs: v2 -> v1 (for the annotation) ------------------------------------


def metric_spec_to_v1(metric: Obj) -> Obj:
    """A v2 MetricSpec as autoscaling/v1's MetricSpec (the metrics annotation's items)."""
    return _by_source(
        metric,
        (
            _object_source_to_v1,
            _pods_source_to_v1,
            _resource_source_to_v1,
            _container_source_to_v1,
            _external_source_to_v1,
        ),
        lenient=False,
    )


def _object_source_to_v1(source: Obj) -> Obj:
    target, metric = source.get("target") or {}, source.get("metric") or {}
    return _compact(
        ("target", _cross_ref(source.get("describedObject") or {})),
        ("metricName", metric.get("name") or ""),
        ("targetValue", target.get("value") or ZERO_QUANTITY),
        ("selector", metric.get("selector")),
        ("averageValue", target.get("averageValue")),
    )


def _pods_source_to_v1(source: Obj) -> Obj:
    target, metric = source.get("target") or {}, source.get("metric") or {}
    return _compact(
        ("metricName", metric.get("name") or ""),
        ("targetAverageValue", target.get("averageValue") or ZERO_QUANTITY),
        ("selector", metric.get("selector")),
    )


def _resource_source_to_v1(source: Obj) -> Obj:
    target = source.get("target") or {}
    return _compact(
        ("name", source.get("name") or ""),
        ("targetAverageUtilization", target.get("averageUtilization")),
        ("targetAverageValue", target.get("averageValue")),
    )


def _container_source_to_v1(source: Obj) -> Obj:
    return {**_resource_source_to_v1(source), "container": source.get("container") or ""}


def _external_source_to_v1(source: Obj) -> Obj:
    target, metric = source.get("target") or {}, source.get("metric") or {}
    return _compact(
        ("metricName", metric.get("name") or ""),
        ("metricSelector", metric.get("selector")),
        ("targetValue", target.get("value")),
        ("targetAverageValue", target.get("averageValue")),
    )


# ---- metric specs: v1 (from the annotation) -> v2 ------------------------------------


def metric_spec_from_v1(metric: Obj) -> Obj:
    """An item of the metrics annotation as a v2 MetricSpec."""
    return _by_source(
        metric,
        (
            _object_source_from_v1,
            _pods_source_from_v1,
            _resource_source_from_v1,
            _container_source_from_v1,
            _external_source_from_v1,
        ),
        lenient=True,
    )


def _target(kind: str, *pairs: tuple[str, Any]) -> Obj:
    return _compact(("type", kind), *pairs)


def _object_source_from_v1(source: Obj) -> Obj:
    average = _quantity(_get(source, "averageValue"))
    # The value is always set, "0" when the v1 source had none, as upstream.
    value = _quantity(_get(source, "targetValue")) or ZERO_QUANTITY
    return {
        "describedObject": _cross_ref(_obj(_get(source, "target"))),
        "target": _target(
            "Value" if average is None else "AverageValue",
            ("value", value),
            ("averageValue", average),
        ),
        "metric": _identity(source),
    }


def _pods_source_from_v1(source: Obj) -> Obj:
    average = _quantity(_get(source, "targetAverageValue")) or ZERO_QUANTITY
    return {
        "metric": _identity(source),
        "target": _target("AverageValue", ("averageValue", average)),
    }


def _resource_source_from_v1(source: Obj) -> Obj:
    utilization = _opt_int(_get(source, "targetAverageUtilization"))
    return {
        "name": _str(_get(source, "name")),
        "target": _target(
            "AverageValue" if utilization is None else "Utilization",
            ("averageValue", _quantity(_get(source, "targetAverageValue"))),
            ("averageUtilization", utilization),
        ),
    }


def _container_source_from_v1(source: Obj) -> Obj:
    return {**_resource_source_from_v1(source), "container": _str(_get(source, "container"))}


def _external_source_from_v1(source: Obj) -> Obj:
    value = _quantity(_get(source, "targetValue"))
    return {
        "metric": _identity(source, "metricSelector"),
        "target": _target(
            "AverageValue" if value is None else "Value",
            ("value", value),
            ("averageValue", _quantity(_get(source, "targetAverageValue"))),
        ),
    }


# ---- metric statuses ------------------------------------------------------------------


def metric_status_to_v1(metric: Obj) -> Obj:
    """A v2 MetricStatus as autoscaling/v1's MetricStatus (the current-metrics annotation)."""
    return _by_source(
        metric,
        (
            _object_status_to_v1,
            _pods_status_to_v1,
            _resource_status_to_v1,
            _container_status_to_v1,
            _external_status_to_v1,
        ),
        lenient=False,
    )


def _object_status_to_v1(source: Obj) -> Obj:
    current, metric = source.get("current") or {}, source.get("metric") or {}
    return _compact(
        ("target", _cross_ref(source.get("describedObject") or {})),
        ("metricName", metric.get("name") or ""),
        ("currentValue", current.get("value") or ZERO_QUANTITY),
        ("selector", metric.get("selector")),
        ("averageValue", current.get("averageValue")),
    )


def _pods_status_to_v1(source: Obj) -> Obj:
    current, metric = source.get("current") or {}, source.get("metric") or {}
    return _compact(
        ("metricName", metric.get("name") or ""),
        ("currentAverageValue", current.get("averageValue") or ZERO_QUANTITY),
        ("selector", metric.get("selector")),
    )


def _resource_status_to_v1(source: Obj) -> Obj:
    current = source.get("current") or {}
    return _compact(
        ("name", source.get("name") or ""),
        ("currentAverageUtilization", current.get("averageUtilization")),
        ("currentAverageValue", current.get("averageValue") or ZERO_QUANTITY),
    )


def _container_status_to_v1(source: Obj) -> Obj:
    return {**_resource_status_to_v1(source), "container": source.get("container") or ""}


def _external_status_to_v1(source: Obj) -> Obj:
    current, metric = source.get("current") or {}, source.get("metric") or {}
    return _compact(
        ("metricName", metric.get("name") or ""),
        ("metricSelector", metric.get("selector")),
        ("currentValue", current.get("value") or ZERO_QUANTITY),
        ("currentAverageValue", current.get("averageValue")),
    )


def metric_status_from_v1(metric: Obj) -> Obj:
    """An item of the current-metrics annotation as a v2 MetricStatus."""
    return _by_source(
        metric,
        (
            _object_status_from_v1,
            _pods_status_from_v1,
            _resource_status_from_v1,
            _container_status_from_v1,
            _external_status_from_v1,
        ),
        lenient=True,
    )


def _object_status_from_v1(source: Obj) -> Obj:
    return {
        "metric": _identity(source),
        "current": _compact(
            ("value", _quantity(_get(source, "currentValue")) or ZERO_QUANTITY),
            ("averageValue", _quantity(_get(source, "averageValue"))),
        ),
        "describedObject": _cross_ref(_obj(_get(source, "target"))),
    }


def _pods_status_from_v1(source: Obj) -> Obj:
    average = _quantity(_get(source, "currentAverageValue")) or ZERO_QUANTITY
    return {"metric": _identity(source), "current": {"averageValue": average}}


def _resource_status_from_v1(source: Obj) -> Obj:
    return {
        "name": _str(_get(source, "name")),
        "current": _compact(
            ("averageValue", _quantity(_get(source, "currentAverageValue")) or ZERO_QUANTITY),
            ("averageUtilization", _opt_int(_get(source, "currentAverageUtilization"))),
        ),
    }


def _container_status_from_v1(source: Obj) -> Obj:
    return {**_resource_status_from_v1(source), "container": _str(_get(source, "container"))}


def _external_status_from_v1(source: Obj) -> Obj:
    return {
        "metric": _identity(source, "metricSelector"),
        "current": _compact(
            ("value", _quantity(_get(source, "currentValue")) or ZERO_QUANTITY),
            ("averageValue", _quantity(_get(source, "currentAverageValue"))),
        ),
    }


# ---- conditions -------------------------------------------------------------------------


def condition_to_v1(condition: Obj) -> Obj:
    """A v2 condition as v1's (lastTransitionTime is written even when unset, as null)."""
    return {
        "type": condition.get("type") or "",
        "status": condition.get("status") or "",
        "lastTransitionTime": condition.get("lastTransitionTime"),
        **_compact(
            ("reason", condition.get("reason") or None),
            ("message", condition.get("message") or None),
        ),
    }


def condition_from_v1(condition: Obj) -> Obj:
    """An item of the conditions annotation as a v2 condition."""
    return _compact(
        ("type", _str(_get(condition, "type"))),
        ("status", _str(_get(condition, "status"))),
        ("lastTransitionTime", _opt_str(_get(condition, "lastTransitionTime"))),
        ("reason", _opt_str(_get(condition, "reason")) or None),
        ("message", _opt_str(_get(condition, "message")) or None),
    )


# ---- behavior (the internal Go type, keys are field names) -----------------------------


def behavior_to_internal(behavior: Obj) -> Obj:
    """v2 `spec.behavior` as the behavior annotation holds it."""
    return {
        "ScaleUp": _rules_to_internal(behavior.get("scaleUp")),
        "ScaleDown": _rules_to_internal(behavior.get("scaleDown")),
    }


def _rules_to_internal(rules: Obj | None) -> Obj | None:
    if rules is None:
        return None
    policies = rules.get("policies")
    return {
        "StabilizationWindowSeconds": rules.get("stabilizationWindowSeconds"),
        "SelectPolicy": rules.get("selectPolicy"),
        "Policies": None
        if policies is None
        else [
            {
                "Type": p.get("type") or "",
                "Value": p.get("value") or 0,
                "PeriodSeconds": p.get("periodSeconds") or 0,
            }
            for p in policies
        ],
    }


def decode_behavior(text: str | None) -> Obj | None:
    """The behavior annotation as v2 `spec.behavior`; None when absent, empty or undecodable."""
    if text is None:
        return None
    try:
        behavior = _obj(orjson.loads(text))
        up = _rules_from_internal(_opt_obj(_get(behavior, "ScaleUp")))
        down = _rules_from_internal(_opt_obj(_get(behavior, "ScaleDown")))
    except (orjson.JSONDecodeError, Undecodable):
        return None
    if up is None and down is None:
        return None  # the zero value: upstream leaves behavior unset
    return _compact(("scaleUp", up), ("scaleDown", down))


def _rules_from_internal(rules: Obj | None) -> Obj | None:
    if rules is None:
        return None
    policies = _get(rules, "Policies")
    if policies is not None and not isinstance(policies, list):
        raise Undecodable("policies is not a list")
    return _compact(
        ("stabilizationWindowSeconds", _opt_int(_get(rules, "StabilizationWindowSeconds"))),
        ("selectPolicy", _opt_str(_get(rules, "SelectPolicy"))),
        ("policies", [_policy_from_internal(_obj(p)) for p in policies] if policies else None),
    )


def _policy_from_internal(policy: Obj) -> Obj:
    return {
        "type": _str(_get(policy, "Type")),
        "value": _opt_int(_get(policy, "Value")) or 0,
        "periodSeconds": _opt_int(_get(policy, "PeriodSeconds")) or 0,
    }
