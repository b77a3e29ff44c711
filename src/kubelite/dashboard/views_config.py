"""Services with their endpoints, ConfigMaps, and Secrets (key names only).

A Secret's values never reach a page: the Secret list is built from
`summaries.secret_keys`, which reads key names and nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request

from kubelite.dashboard import summaries as s
from kubelite.dashboard.context import Context
from kubelite.dashboard.html import Markup, badge, dl, link, section, table, tag, url
from kubelite.dashboard.layout import View
from kubelite.dashboard.printed import printed_table

Obj = Mapping[str, Any]
SHOWN_ADDRESSES = 6


def _addresses(values: list[str]) -> str:
    if len(values) <= SHOWN_ADDRESSES:
        return ", ".join(values)
    return ", ".join(values[:SHOWN_ADDRESSES]) + f" and {len(values) - SHOWN_ADDRESSES} more"


async def services(ctx: Context, request: Request) -> View:
    ns = request.query_params.get("ns", "")
    now = ctx.now()
    found = await ctx.items("v1", "Service", ns)
    endpoints = {
        (s.meta(e).get("namespace"), s.meta(e).get("name")): e
        for e in await ctx.items("v1", "Endpoints", ns)
    }
    rows = []
    for svc in found:
        md, spec = s.meta(svc), svc.get("spec") or {}
        ready, not_ready = s.endpoint_addresses(
            endpoints.get((md.get("namespace"), md.get("name")))
        )
        selector = ",".join(f"{k}={v}" for k, v in sorted((spec.get("selector") or {}).items()))
        if not spec.get("selector"):
            count = badge("no selector", "muted")
        else:
            count = badge(f"{len(ready)} ready", "ok" if ready else "bad")
        detail = _addresses(ready) + (f" · not ready: {_addresses(not_ready)}" if not_ready else "")
        rows.append([md.get("namespace"), md.get("name"), spec.get("type", "ClusterIP"),
                     spec.get("clusterIP") or "None", s.service_ports(svc),
                     link(url("/pods", ns=md.get("namespace"), selector=selector), selector) if selector else "—",
                     count, tag("span", detail, cls="mono"), s.age(svc, now)])  # fmt: skip
    headers = [
        "namespace",
        "name",
        "type",
        "cluster IP",
        "ports",
        "selector",
        "endpoints",
        "addresses",
        "age",
    ]
    ingresses = await ctx.table("networking.k8s.io/v1", "Ingress", ns)
    body = Markup(
        section("Services", table(headers, rows, empty="No Services."))
        + section("Ingresses", printed_table(ingresses, empty="No Ingresses."))
    )
    return View("Services", body, path="/services")


async def config(ctx: Context, request: Request) -> View:
    ns = request.query_params.get("ns", "")
    now = ctx.now()
    cms = [
        [
            s.meta(cm).get("namespace"),
            link(
                f"/configmaps/{s.meta(cm).get('namespace')}/{s.meta(cm).get('name')}",
                s.meta(cm).get("name"),
            ),
            ", ".join(s.configmap_keys(cm)) or "—",
            s.age(cm, now),
        ]  # fmt: skip
        for cm in await ctx.items("v1", "ConfigMap", ns)
    ]
    secrets = [
        [
            s.meta(sec).get("namespace"),
            s.meta(sec).get("name"),
            sec.get("type", "Opaque"),
            ", ".join(s.secret_keys(sec)) or "—",
            s.age(sec, now),
        ]  # fmt: skip
        for sec in await ctx.items("v1", "Secret", ns)
    ]
    body = Markup(
        section(
            "ConfigMaps", table(["namespace", "name", "keys", "age"], cms, empty="No ConfigMaps.")
        )
        + section(
            "Secrets",
            tag("p", "Key names only; values are never shown here.", cls="muted"),
            table(["namespace", "name", "type", "keys", "age"], secrets, empty="No Secrets."),
        )  # fmt: skip
    )
    return View("Configuration", body, path="/config")


async def configmap(ctx: Context, request: Request) -> View:
    ns, name = request.path_params["namespace"], request.path_params["name"]
    cm = await ctx.client.get("v1", "ConfigMap", name, ns)
    header = dl([("namespace", ns), ("age", s.age(cm, ctx.now())),
                 ("resource version", s.meta(cm).get("resourceVersion", ""))])  # fmt: skip
    data = [
        [tag("code", key), tag("pre", value, cls="mono", style="margin:0;white-space:pre-wrap")]
        for key, value in sorted((cm.get("data") or {}).items())
    ]
    data += [
        [tag("code", key), tag("span", "binary data", cls="muted")]
        for key in sorted(cm.get("binaryData") or {})
    ]
    body = Markup(
        section("ConfigMap", header)
        + section("Data", table(["key", "value"], data, empty="No data."))
    )
    return View(f"ConfigMap {ns}/{name}", body, path=f"/configmaps/{ns}/{name}")
