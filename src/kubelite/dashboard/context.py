"""What every page handler is handed: the API client, the trace source, logs, a clock.

One small object instead of globals, so a test builds the whole dashboard
over an in-process API, the collector's ASGI app and a fixed clock.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from kubelite.dashboard.zipkin import ZipkinClient

if TYPE_CHECKING:
    from kubelite.apiserver.client import LocalClient
    from kubelite.apiserver.subresources import LogSource

Obj = dict[str, Any]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _no_logs() -> LogSource | None:
    return None


@dataclass(frozen=True)
class Context:
    client: LocalClient
    traces: ZipkinClient
    logs: Callable[[], LogSource | None] = _no_logs
    now: Callable[[], datetime] = field(default=_utcnow)

    async def items(
        self,
        api_version: str,
        kind: str,
        namespace: str = "",
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> list[Obj]:
        """Objects sorted by namespace then name; "" means all namespaces."""
        found, _ = await self.client.list(
            api_version,
            kind,
            namespace or None,
            label_selector=label_selector or None,
            field_selector=field_selector or None,
        )
        return sorted(found, key=_ns_name)

    async def table(self, api_version: str, kind: str, namespace: str = "") -> Obj:
        """The kind as `kubectl get` prints it (the API's Table), rows sorted as `items`."""
        printed = await self.client.table(api_version, kind, namespace or None, now=self.now())
        printed["rows"].sort(key=lambda row: _ns_name(row["object"]))
        return printed


def _ns_name(obj: Mapping[str, Any]) -> tuple[str, str]:
    md = obj.get("metadata") or {}
    return md.get("namespace", ""), md.get("name", "")
