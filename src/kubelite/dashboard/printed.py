"""Tables of a kind as `kubectl get` prints it, for the kinds the pages show no more of.

The API's Table already holds upstream's columns for every served kind (a
Job's STATUS and COMPLETIONS, a CronJob's LAST SCHEDULE, an Ingress's HOSTS
and ADDRESS); the dashboard asks for it (`Context.table`) and shows those
same columns rather than a second reading of each kind's status.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kubelite.dashboard import summaries as s
from kubelite.dashboard.html import Markup, table

Obj = Mapping[str, Any]


def printed_table(
    printed: Obj, *, name: Callable[[Obj], object] | None = None, empty: str = "None."
) -> Markup:
    """The namespace, then the Table's default columns (not `-o wide`'s); `name(obj)`
    renders the NAME cell (a link), when given. The rows must carry their objects."""
    definitions = printed["columnDefinitions"]
    columns = [i for i, c in enumerate(definitions) if not c.get("priority")]
    headers = [definitions[i]["name"].lower() for i in columns]
    rows = []
    for row in printed["rows"]:
        obj = row["object"]
        cells: list[object] = [row["cells"][i] for i in columns]
        if name is not None and headers and headers[0] == "name":
            cells[0] = name(obj)
        rows.append([s.meta(obj).get("namespace", ""), *cells])
    return table(["namespace", *headers], rows, empty=empty)
