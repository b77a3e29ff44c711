"""Tables of a kind as `kubectl get` prints it, for the kinds the pages show no more of.

The API's Table printer already holds upstream's columns for every served
kind (a Job's STATUS and COMPLETIONS, a CronJob's LAST SCHEDULE, an
Ingress's HOSTS and ADDRESS); the dashboard shows those same columns rather
than a second reading of each kind's status.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from kubelite.apiserver.tables import to_table
from kubelite.dashboard import summaries as s
from kubelite.dashboard.html import Markup, table

Obj = Mapping[str, Any]


def printed_table(
    kind: str,
    items: Sequence[Obj],
    now: datetime,
    *,
    name: Callable[[Obj], object] | None = None,
    empty: str = "None.",
) -> Markup:
    """The namespace, then the kind's default columns (not `-o wide`'s); `name(obj)`
    renders the NAME cell (a link), when given."""
    printed = to_table(kind, [dict(o) for o in items], now=now)
    columns = [i for i, c in enumerate(printed["columnDefinitions"]) if not c.get("priority")]
    headers = [printed["columnDefinitions"][i]["name"].lower() for i in columns]
    rows = []
    for obj, row in zip(items, printed["rows"], strict=True):
        cells: list[object] = [row["cells"][i] for i in columns]
        if name is not None and headers and headers[0] == "name":
            cells[0] = name(obj)
        rows.append([s.meta(obj).get("namespace", ""), *cells])
    return table(["namespace", *headers], rows, empty=empty)
