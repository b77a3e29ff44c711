"""Reading traces through the collector's Zipkin v2 query API.

The dashboard meets the collector only over HTTP, the same API the Zipkin UI
uses, so it works against kubelite's collector or any Zipkin. The URL is
known only once the cluster has bound its ports, hence a callable. Every
failure — no collector, refused connection, an error status — becomes one
`TracesUnavailable` with a short message for the page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx

Span = dict[str, Any]
TIMEOUT_S = 5.0


class TracesUnavailable(Exception):
    """The collector could not answer; the message is fit for the page."""


class ZipkinClient:
    def __init__(
        self,
        base_url: Callable[[], str | None],
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._base_url = base_url
        self._transport = transport  # a seam: tests pass the collector's ASGI app

    async def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        base = self._base_url()
        if not base:
            raise TracesUnavailable("the tracing collector is not running")
        import httpx  # with the first trace page: an idle cluster does not carry it (5 MB)

        try:
            async with httpx.AsyncClient(
                base_url=base, transport=self._transport, timeout=TIMEOUT_S
            ) as http:
                response = await http.get(f"/api/v2{path}", params=params)
        except httpx.HTTPError as error:
            raise TracesUnavailable(
                f"the tracing collector did not answer ({error.__class__.__name__})"
            ) from None
        if response.status_code == 404:
            raise LookupError(response.text.strip() or "not found")
        if response.status_code != 200:
            text = response.text.strip().splitlines()[0][:200] if response.text.strip() else ""
            raise TracesUnavailable(
                f"the tracing collector answered {response.status_code} {text}".strip()
            )
        try:
            return response.json()
        except ValueError:
            raise TracesUnavailable("the tracing collector sent a body that is not JSON") from None

    async def services(self) -> list[str]:
        return list(await self._get("/services"))

    async def traces(
        self, *, service: str | None, limit: int, lookback_ms: int, end_ts_ms: int
    ) -> list[list[Span]]:
        params: dict[str, Any] = {"limit": limit, "lookback": lookback_ms, "endTs": end_ts_ms}
        if service:
            params["serviceName"] = service
        return list(await self._get("/traces", params))

    async def trace(self, trace_id: str) -> list[Span]:
        """The spans of one trace; LookupError when the collector has no such trace."""
        return list(await self._get(f"/trace/{trace_id}"))

    async def dependencies(self, *, end_ts_ms: int, lookback_ms: int) -> list[dict[str, Any]]:
        return list(await self._get("/dependencies", {"endTs": end_ts_ms, "lookback": lookback_ms}))
