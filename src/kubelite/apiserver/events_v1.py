"""events.k8s.io/v1 Events: upstream's conversion to and from the core/v1 Events they are.

Upstream stores Events once: events.k8s.io/v1 is served from the core Event
storage (`pkg/registry/events/rest`), its objects converted at each end of a
request (`pkg/apis/events/v1/conversion.go`). So an Event a controller
writes with client-go's new recorder shows in `kubectl get events` and
`kubectl describe`, and the kubelet's legacy Events in `EventsV1Api`. The
fields map one to one:

    events.k8s.io/v1             core/v1
    note                         message
    regarding                    involvedObject
    reportingController          reportingComponent
    deprecatedSource             source
    deprecatedFirstTimestamp     firstTimestamp
    deprecatedLastTimestamp      lastTimestamp
    deprecatedCount              count

and `eventTime`, `series`, `related`, `reportingInstance`, `action`,
`reason` and `type` keep their names. Each side is written as Go encodes its
struct: fields tagged without `omitempty` (and struct fields, which
`omitempty` never drops) are always there, empty or null, so a legacy Event
read as events.k8s.io/v1 has `eventTime: null` and `deprecatedSource: {}`,
and an events.k8s.io Event read as core has `firstTimestamp: null` and
`reportingComponent: ""`, exactly as a real cluster answers.

Field selectors are the version's own labels, mapped onto the core ones
(`SELECTOR_LABELS`), as upstream's field label conversion maps them.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]
SERVED = "events.k8s.io/v1"
STORED = "v1"

# events.k8s.io/v1 field label -> the core Event field label it selects on
# (`AddFieldLabelConversionsForEvent`); any other label is refused.
SELECTOR_LABELS = {
    "metadata.name": "metadata.name",
    "metadata.namespace": "metadata.namespace",
    "reason": "reason",
    "regarding.kind": "involvedObject.kind",
    "regarding.namespace": "involvedObject.namespace",
    "regarding.name": "involvedObject.name",
    "regarding.uid": "involvedObject.uid",
    "regarding.apiVersion": "involvedObject.apiVersion",
    "regarding.resourceVersion": "involvedObject.resourceVersion",
    "regarding.fieldPath": "involvedObject.fieldPath",
    "reportingController": "reportingComponent",
    "source": "source",
    "type": "type",
}


def _put(out: Obj, key: str, value: Any) -> None:
    """Go's `omitempty`: an empty value is left out."""
    if value not in (None, "", 0, {}, []):
        out[key] = value


def _dict(obj: Obj, key: str) -> Obj:
    value = obj.get(key)
    return dict(value) if isinstance(value, dict) else {}


def to_core(obj: Obj) -> Obj:
    """An events.k8s.io/v1 Event as the core/v1 Event it is stored as."""
    out: Obj = {"apiVersion": STORED, "kind": "Event", "metadata": _dict(obj, "metadata")}
    out["involvedObject"] = _dict(obj, "regarding")
    _put(out, "reason", obj.get("reason"))
    _put(out, "message", obj.get("note"))
    out["source"] = _dict(obj, "deprecatedSource")
    out["firstTimestamp"] = obj.get("deprecatedFirstTimestamp")
    out["lastTimestamp"] = obj.get("deprecatedLastTimestamp")
    _put(out, "count", obj.get("deprecatedCount"))
    _put(out, "type", obj.get("type"))
    out["eventTime"] = obj.get("eventTime")
    series = obj.get("series")
    if isinstance(series, dict):
        core_series: Obj = {}
        _put(core_series, "count", series.get("count"))
        _put(core_series, "lastObservedTime", series.get("lastObservedTime"))
        out["series"] = core_series
    _put(out, "action", obj.get("action"))
    _put(out, "related", obj.get("related"))
    out["reportingComponent"] = obj.get("reportingController") or ""
    out["reportingInstance"] = obj.get("reportingInstance") or ""
    return out


def to_events(obj: Obj) -> Obj:
    """A stored core/v1 Event as events.k8s.io/v1 serves it."""
    out: Obj = {"kind": "Event", "apiVersion": SERVED, "metadata": _dict(obj, "metadata")}
    out["eventTime"] = obj.get("eventTime")
    series = obj.get("series")
    if isinstance(series, dict):
        out["series"] = {
            "count": series.get("count") or 0,
            "lastObservedTime": series.get("lastObservedTime"),
        }
    _put(out, "reportingController", obj.get("reportingComponent"))
    _put(out, "reportingInstance", obj.get("reportingInstance"))
    _put(out, "action", obj.get("action"))
    _put(out, "reason", obj.get("reason"))
    out["regarding"] = _dict(obj, "involvedObject")
    _put(out, "related", obj.get("related"))
    _put(out, "note", obj.get("message"))
    _put(out, "type", obj.get("type"))
    out["deprecatedSource"] = _dict(obj, "source")
    out["deprecatedFirstTimestamp"] = obj.get("firstTimestamp")
    out["deprecatedLastTimestamp"] = obj.get("lastTimestamp")
    _put(out, "deprecatedCount", obj.get("count"))
    return out
