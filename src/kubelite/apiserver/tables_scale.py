"""The Table of an `autoscaling/v1` Scale (`kubectl get deploy x --subresource=scale`).

Upstream's `scaleColumnDefinitions` and `printScale`: the name (a plain
string column, not `name`-formatted), the desired replicas (`spec.replicas`),
the available ones (`status.replicas`) and the age of the scaled object.
"""

from __future__ import annotations

from datetime import datetime

from kubelite.apiserver.tables_format import since
from kubelite.apiserver.tables_printers import AGE, NAME_DOC, Obj, Printer, Row, col


def _scale(obj: Obj, now: datetime) -> Row:
    md = obj.get("metadata") or {}
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    return [
        md.get("name", ""),
        int(spec.get("replicas") or 0),
        int(status.get("replicas") or 0),
        since(md.get("creationTimestamp"), now),
    ], None


SCALE = Printer(
    (
        col("Name", NAME_DOC),
        col(
            "Desired",
            "replicas is the desired number of instances for the scaled object.",
            "integer",
        ),
        col(
            "Available",
            "replicas is the actual number of observed instances of the scaled object.",
            "integer",
        ),
        AGE,
    ),
    _scale,
)
