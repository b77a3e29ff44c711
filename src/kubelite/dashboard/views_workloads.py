"""Workloads and pods: Deployments, StatefulSets, DaemonSets, Jobs, CronJobs,
ReplicaSets, the pod list and one pod.

The pod page's log viewer streams `pods/log` from the cluster's log source
through `/pods/{ns}/{name}/log` as plain text; a few lines of script read the
stream with `fetch` and append to the page, so "follow" needs no websocket.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from kubelite.apiserver import errors
from kubelite.apiserver.tables_format import InvalidSelector, selector_string
from kubelite.dashboard import summaries as s
from kubelite.dashboard.context import Context
from kubelite.dashboard.html import Markup, badge, dl, link, section, table, tag, url
from kubelite.dashboard.layout import View
from kubelite.dashboard.printed import printed_table
from kubelite.dashboard.views_cluster import events_table, pod_link

log = logging.getLogger(__name__)
Obj = Mapping[str, Any]
DEFAULT_TAIL = 500
MAX_TAIL = 10_000
LOG_LIMIT_BYTES = 4 * 1024 * 1024  # a one-shot read; following is unbounded


def _selector(obj: Obj) -> str:
    try:
        return selector_string((obj.get("spec") or {}).get("selector"))
    except InvalidSelector:
        return ""


def _pods_link(ns: str, obj: Obj, text: object) -> Markup:
    selector = _selector(obj)
    return link(url("/pods", ns=ns, selector=selector), text) if selector else Markup(str(text))


def _conditions(obj: Obj) -> Markup:
    parts = []
    for kind, status, reason in s.conditions_text(obj):
        tone = "ok" if status == "True" else "bad" if status == "False" else "muted"
        if kind in ("ReplicaFailure",):  # a true ReplicaFailure is bad news
            tone = "bad" if status == "True" else "ok"
        parts.append(
            badge(
                f"{kind}{'' if status == 'True' else '=' + status}"
                + (f" ({reason})" if reason else ""),
                tone,
            )
        )
    return Markup(" ".join(parts))


def _deployments(items: Sequence[Obj], now: datetime) -> Markup:
    rows = []
    for d in items:
        md = s.meta(d)
        ready, updated, available = s.deployment_counts(d)
        rows.append([md.get("namespace"), _pods_link(md.get("namespace", ""), d, md.get("name")), ready,
                     updated, available, s.revision(d), _conditions(d), ", ".join(s.images(d)),
                     s.age(d, now)])  # fmt: skip
    headers = ["namespace", "name", "ready", "up-to-date", "available", "revision", "conditions",
               "images", "age"]  # fmt: skip
    return table(headers, rows, empty="No Deployments.")


def _replicasets(items: Sequence[Obj], now: datetime) -> Markup:
    rows = []
    for rs in items:
        md, st = s.meta(rs), rs.get("status") or {}
        owner = s.owner(rs)
        rows.append([md.get("namespace"), _pods_link(md.get("namespace", ""), rs, md.get("name")),
                     (rs.get("spec") or {}).get("replicas", 1), st.get("replicas", 0),
                     st.get("readyReplicas", 0), s.revision(rs), f"{owner[0]}/{owner[1]}" if owner else "—",
                     s.age(rs, now)])  # fmt: skip
    headers = ["namespace", "name", "desired", "current", "ready", "revision", "owner", "age"]
    return table(headers, rows, empty="No ReplicaSets.")


def _statefulsets(items: Sequence[Obj], now: datetime) -> Markup:
    rows = []
    for ss in items:
        md, st, spec = s.meta(ss), ss.get("status") or {}, ss.get("spec") or {}
        rows.append([md.get("namespace"), _pods_link(md.get("namespace", ""), ss, md.get("name")),
                     f"{st.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
                     st.get("updatedReplicas", 0), spec.get("serviceName", ""),
                     ", ".join(s.images(ss)), s.age(ss, now)])  # fmt: skip
    headers = ["namespace", "name", "ready", "updated", "service", "images", "age"]
    return table(headers, rows, empty="No StatefulSets.")


async def workloads(ctx: Context, request: Request) -> View:
    ns = request.query_params.get("ns", "")
    now = ctx.now()
    deployments = await ctx.items("apps/v1", "Deployment", ns)
    replicasets = await ctx.items("apps/v1", "ReplicaSet", ns)
    statefulsets = await ctx.items("apps/v1", "StatefulSet", ns)
    daemonsets = await ctx.table("apps/v1", "DaemonSet", ns)
    jobs = await ctx.table("batch/v1", "Job", ns)
    cronjobs = await ctx.table("batch/v1", "CronJob", ns)

    def pods_of(obj: Obj) -> Markup:
        return _pods_link(s.meta(obj).get("namespace", ""), obj, s.meta(obj).get("name"))

    # Old ReplicaSets scaled to zero are history, not workload: list them last.
    replicasets.sort(key=lambda rs: (rs.get("spec") or {}).get("replicas", 1) == 0)
    body = Markup(
        section("Deployments", _deployments(deployments, now))
        + section("StatefulSets", _statefulsets(statefulsets, now))
        + section(
            "DaemonSets",
            printed_table(daemonsets, name=pods_of, empty="No DaemonSets."),
        )
        + section("Jobs", printed_table(jobs, name=pods_of, empty="No Jobs."))
        + section("CronJobs", printed_table(cronjobs, empty="No CronJobs."))
        + section("ReplicaSets", _replicasets(replicasets, now))
    )
    return View("Workloads", body, path="/workloads")


def pods_table(items: Sequence[Obj], now: datetime) -> Markup:
    rows = []
    for pod in items:
        p = s.pod_summary(pod, now)
        rows.append([p.namespace, pod_link(p.namespace, p.name), p.ready,
                     badge(p.status, s.tone(p.status)), p.restarts, s.age(pod, now),
                     p.ip or "—", p.node or "—"])  # fmt: skip
    headers = ["namespace", "name", "ready", "status", "restarts", "age", "ip", "node"]
    return table(headers, rows, empty="No pods.")


async def pods(ctx: Context, request: Request) -> View:
    ns = request.query_params.get("ns", "")
    selector = request.query_params.get("selector", "")
    items = await ctx.items("v1", "Pod", ns, label_selector=selector)
    note = Markup("")
    if selector:
        note = tag("p", "Pods matching ", tag("code", selector), " · ", link(url("/pods", ns=ns), "all pods"),
                   cls="muted")  # fmt: skip
    return View("Pods", Markup(note + pods_table(items, ctx.now())), path="/pods")


def _containers(pod: Obj, *, init: bool) -> Markup:
    spec, st = pod.get("spec") or {}, pod.get("status") or {}
    statuses = {
        c.get("name"): c
        for c in st.get("initContainerStatuses" if init else "containerStatuses") or []
    }
    rows = []
    for c in spec.get("initContainers" if init else "containers") or []:
        status = statuses.get(c.get("name")) or {}
        state, detail = s.container_state(status) if status else ("pending", "")
        tone = {"running": "ok", "waiting": "warn", "terminated": "muted"}.get(state, "muted")
        if state == "terminated" and (status.get("state") or {}).get("terminated", {}).get(
            "exitCode"
        ):
            tone = "bad"
        if state == "waiting" and detail in (
            "CrashLoopBackOff",
            "ErrImagePull",
            "ImagePullBackOff",
        ):
            tone = "bad"
        ports = ", ".join(
            f"{p.get('containerPort')}/{p.get('protocol') or 'TCP'}" for p in c.get("ports") or []
        )
        rows.append([c.get("name"), tag("code", c.get("image", "")), badge(state, tone), detail,
                     "yes" if status.get("ready") else "no", status.get("restartCount", 0),
                     s.last_termination(status), ports or "—"])  # fmt: skip
    headers = ["name", "image", "state", "detail", "ready", "restarts", "last termination", "ports"]
    return table(headers, rows, empty="None.")


def _pod_header(pod: Obj, now: datetime) -> Markup:
    md, spec, st = s.meta(pod), pod.get("spec") or {}, pod.get("status") or {}
    p = s.pod_summary(pod, now)
    owner = s.owner(pod)
    labels = " ".join(f"{k}={v}" for k, v in sorted((md.get("labels") or {}).items()))
    return dl([
        ("namespace", md.get("namespace")),
        ("status", badge(p.status, s.tone(p.status))),
        ("ready", p.ready),
        ("restarts", p.restarts),
        ("phase", st.get("phase", "")),
        ("node", spec.get("nodeName") or "not scheduled"),
        ("pod IP", p.ip or "—"),
        ("QoS class", st.get("qosClass", "")),
        ("started", st.get("startTime", "")),
        ("age", s.age(pod, now)),
        ("controlled by", f"{owner[0]}/{owner[1]}" if owner else "—"),
        ("labels", tag("code", labels) if labels else "—"),
        ("message", st.get("message") or "—"),
    ])  # fmt: skip


def _conditions_table(pod: Obj) -> Markup:
    rows = [
        [
            c.get("type"),
            badge(c.get("status", ""), "ok" if c.get("status") == "True" else "warn"),
            c.get("reason") or "",
            c.get("message") or "",
            c.get("lastTransitionTime") or "",
        ]  # fmt: skip
        for c in (pod.get("status") or {}).get("conditions") or []
    ]
    return table(["type", "status", "reason", "message", "since"], rows, empty="No conditions yet.")


async def pod(ctx: Context, request: Request) -> View:
    ns, name = request.path_params["namespace"], request.path_params["name"]
    obj = await ctx.client.get("v1", "Pod", name, ns)
    now = ctx.now()
    uid = s.meta(obj).get("uid", "")
    pod_events = s.newest_first(
        await ctx.items("v1", "Event", ns, field_selector=f"involvedObject.uid={uid}")
    )
    body = Markup(
        section("Pod", _pod_header(obj, now))
        + section("Containers", _containers(obj, init=False))
        + (
            section("Init containers", _containers(obj, init=True))
            if (obj.get("spec") or {}).get("initContainers")
            else ""
        )
        + section("Conditions", _conditions_table(obj))
        + section("Events", events_table(pod_events, now, with_object=False))
    )
    return View(f"Pod {ns}/{name}", body, path=f"/pods/{ns}/{name}", after=_log_viewer(obj, ctx))


def _log_viewer(pod: Obj, ctx: Context) -> Markup:
    md, spec = s.meta(pod), pod.get("spec") or {}
    names = [c.get("name", "") for c in spec.get("containers") or []]
    names += [c.get("name", "") for c in spec.get("initContainers") or []]
    if ctx.logs() is None:
        return section(
            "Logs", tag("p", "Logs unavailable: this dashboard has no log source.", cls="muted")
        )
    base = f"/pods/{md.get('namespace')}/{md.get('name')}/log"
    controls = tag(
        "form",
        tag("label", "container ", tag("select", *(tag("option", n, value=n) for n in names), name="container")),
        tag("label", " tail ", tag("input", type="number", name="tailLines", value=DEFAULT_TAIL, min=1,
                                   max=MAX_TAIL, style="width:6em")),
        tag("label", tag("input", type="checkbox", name="previous", value="true"), " previous"),
        tag("button", "show", type="submit", data_mode="once"),
        tag("button", "follow", type="button", id="follow"),
        tag("button", "stop", type="button", id="stop", disabled=True),
        cls="controls", id="logform", method="get", action=base, target="_blank",
    )  # fmt: skip
    out = tag("pre", "Choose a container and press show or follow.", cls="log", id="log")
    return section("Logs", controls, out, Markup(f"<script>{_LOG_JS}</script>"))


# Reads the log response as a stream; "follow" keeps appending until stopped.
_LOG_JS = """
(function(){const f=document.getElementById('logform'),out=document.getElementById('log'),
fol=document.getElementById('follow'),stop=document.getElementById('stop');let ctl=null;
async function run(follow){if(ctl)ctl.abort();ctl=new AbortController();const q=new URLSearchParams(new FormData(f));
if(follow)q.set('follow','true');out.textContent='';stop.disabled=!follow;
try{const r=await fetch(f.action+'?'+q.toString(),{signal:ctl.signal});
if(!r.ok){out.textContent=await r.text();stop.disabled=true;return;}
const rd=r.body.getReader(),dec=new TextDecoder();for(;;){const x=await rd.read();if(x.done)break;
const atEnd=out.scrollTop+out.clientHeight>=out.scrollHeight-4;out.append(dec.decode(x.value,{stream:true}));
if(atEnd)out.scrollTop=out.scrollHeight;}if(follow)out.append('\\n[stream ended]');}
catch(e){if(e.name!=='AbortError')out.append('\\n[log stream failed]');}stop.disabled=true;}
f.addEventListener('submit',function(e){e.preventDefault();run(false);});
fol.onclick=function(){run(true);};stop.onclick=function(){if(ctl)ctl.abort();stop.disabled=true;};})();
"""


def _log_options(request: Request, container: str) -> dict[str, str]:
    q = request.query_params
    try:
        tail = max(1, min(int(q.get("tailLines") or DEFAULT_TAIL), MAX_TAIL))
    except ValueError:
        tail = DEFAULT_TAIL
    options = {"container": container, "tailLines": str(tail)}
    if q.get("previous") == "true":
        options["previous"] = "true"
    elif q.get("follow") == "true":
        options["follow"] = "true"
    if "follow" not in options:
        options["limitBytes"] = str(LOG_LIMIT_BYTES)
    return options


async def pod_log(ctx: Context, request: Request) -> Response:
    """Plain-text log; errors are a short plain-text message, never a traceback."""
    ns, name = request.path_params["namespace"], request.path_params["name"]
    source = ctx.logs()
    if source is None:
        return PlainTextResponse("logs unavailable: this dashboard has no log source", 503)
    try:
        obj = await ctx.client.get("v1", "Pod", name, ns)
        containers = [c.get("name", "") for c in (obj.get("spec") or {}).get("containers") or []]
        containers += [
            c.get("name", "") for c in (obj.get("spec") or {}).get("initContainers") or []
        ]
        container = request.query_params.get("container") or (containers[0] if containers else "")
        if container not in containers:
            return PlainTextResponse(f"container {container} is not valid for pod {name}", 400)
        if not (obj.get("spec") or {}).get("nodeName"):
            return PlainTextResponse(
                f'container "{container}" in pod "{name}" is waiting to start: not scheduled', 400
            )
        stream = source.stream(obj, _log_options(request, container))
    except errors.ApiError as error:
        return PlainTextResponse(error.message, error.code if 400 <= error.code < 600 else 500)
    return StreamingResponse(_guarded(stream, ns, name), media_type="text/plain; charset=utf-8",
                             headers={"x-accel-buffering": "no"})  # fmt: skip


async def _guarded(stream: AsyncIterator[bytes], ns: str, name: str) -> AsyncIterator[bytes]:
    """End a broken stream with a line saying so instead of cutting the response."""
    try:
        async for chunk in stream:
            yield chunk
    except errors.ApiError as error:
        yield f"\n[log stream ended: {error.message}]\n".encode()
    except Exception:
        log.exception("log stream for pod %s/%s failed", ns, name)
        yield b"\n[log stream ended: internal error, see the kubelite log]\n"
