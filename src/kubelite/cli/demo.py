"""`kubelite demo`: the sample shop deployed on a cluster, ready to open.

The shop (`examples/shop`: frontend -> orders -> payments) is deployed the way a
user would deploy it: its Dockerfile is built with the code `kubelite build`
runs, its manifests are sent to the API by server-side apply (so running the
demo twice changes nothing), and readiness is what the Deployments report.

Two things differ per machine and are supplied here rather than in the
examples. The image's `FROM python:X.Y` is pinned to this interpreter (the
only Python a kubelite image can have), and the image is given this
installation's kubelite SDK on `PYTHONPATH`, as the e2e tests run the same
services with kubelite's own interpreter. Cluster facts (the collector's
address, a kubeconfig for the SDK's discovery) go into the optional
`shop-env` ConfigMap and `shop-kubeconfig` Secret the manifests refer to;
the SDK prefers in-cluster service-account credentials whenever a pod has
them, so the kubeconfig only matters where the node agent gives none.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import json
import re
import shutil
import ssl
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

import kubelite
from kubelite.cli import build_cmd
from kubelite.cli.datadir import DataDir

Obj = dict[str, Any]

IMAGE = "kubelite-shop:demo"
NAMESPACE = "default"
FIELD_MANAGER = "kubelite-demo"
ENV_CONFIGMAP = "shop-env"
KUBECONFIG_SECRET = "shop-kubeconfig"
KUBECONFIG_MOUNT = "/etc/kubelite/kubeconfig"  # the Secret's mountPath in k8s.yaml + key
ENTRY_SERVICE = "frontend"
SHOP_SERVICES = ("frontend", "orders", "payments")

# Where each kind lives in the API (the demo applies nothing else).
_RESOURCES = {
    ("v1", "ConfigMap"): "/api/v1/namespaces/{ns}/configmaps/{name}",
    ("v1", "Secret"): "/api/v1/namespaces/{ns}/secrets/{name}",
    ("v1", "Service"): "/api/v1/namespaces/{ns}/services/{name}",
    ("apps/v1", "Deployment"): "/apis/apps/v1/namespaces/{ns}/deployments/{name}",
    ("rbac.authorization.k8s.io/v1", "Role"): (
        "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles/{name}"
    ),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): (
        "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings/{name}"
    ),
}
_FROM_PYTHON = re.compile(r"^(\s*FROM\s+)(?:docker\.io/)?(?:library/)?python:\S+(.*)$", re.I)


class DemoError(RuntimeError):
    """One line for the user: what went wrong and where to look."""


# ---- pure parts ---------------------------------------------------------------------


def pin_dockerfile(text: str, python: str, sdk_path: list[str]) -> str:
    """The Dockerfile with FROM python:X.Y set to `python` and the SDK on PYTHONPATH."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = _FROM_PYTHON.match(line)
        if match:
            lines[i] = f"{match.group(1)}python:{python}{match.group(2)}"
            lines.insert(i + 1, f"ENV PYTHONPATH={':'.join(sdk_path)}")
            return "\n".join(lines) + "\n"
    raise DemoError("the shop's Dockerfile has no FROM python:X.Y line")


def resource_path(doc: Obj, namespace: str) -> str:
    """The object's URL path, for the kinds the demo applies."""
    key = (doc.get("apiVersion", ""), doc.get("kind", ""))
    template = _RESOURCES.get(key)
    if template is None:
        raise DemoError(f"the demo cannot apply {key[1] or 'an object'} ({key[0]})")
    return template.format(ns=namespace, name=doc["metadata"]["name"])


def cluster_objects(manifests: str, *, zipkin: str, kubeconfig: str) -> list[Obj]:
    """What the demo applies: the per-cluster ConfigMap and Secret, then the manifests."""
    env = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": ENV_CONFIGMAP},
        "data": {
            "KUBECONFIG": KUBECONFIG_MOUNT,
            "OTEL_EXPORTER_ZIPKIN_ENDPOINT": f"{zipkin}/api/v2/spans",
            "OTEL_BSP_SCHEDULE_DELAY": "500",  # spans reach the collector within a second
        },
    }
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": KUBECONFIG_SECRET},
        "type": "Opaque",
        "data": {
            Path(KUBECONFIG_MOUNT).name: base64.b64encode(kubeconfig.encode()).decode(),
        },
    }
    docs = [d for d in yaml.safe_load_all(manifests) if d]
    return [env, secret, *docs]


def rollout_message(deployment: Obj) -> str | None:
    """None once the Deployment is rolled out and available, else why not (kubectl's words)."""
    name = deployment["metadata"]["name"]
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    if deployment["metadata"].get("generation", 0) > status.get("observedGeneration", 0):
        return "waiting for deployment spec update to be observed"
    for cond in status.get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") == "ProgressDeadlineExceeded":
            return f'deployment "{name}" exceeded its progress deadline'
    want = spec.get("replicas", 1)
    updated = status.get("updatedReplicas", 0)
    if updated < want:
        return (
            f'waiting for deployment "{name}" rollout to finish: '
            f"{updated} out of {want} new replicas have been updated"
        )
    if status.get("replicas", 0) > updated:
        old = status.get("replicas", 0) - updated
        return (
            f'waiting for deployment "{name}" rollout to finish: '
            f"{old} old replicas are pending termination"
        )
    available = status.get("availableReplicas", 0)
    if available < updated:
        return (
            f'waiting for deployment "{name}" rollout to finish: '
            f"{available} of {updated} updated replicas are available"
        )
    return None


def pod_problem(pods: list[Obj]) -> str | None:
    """The first reason a pod gives for not being ready (a waiting reason, or not ready)."""
    for pod in pods:
        name = pod["metadata"]["name"]
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            waiting = (cs.get("state") or {}).get("waiting")
            if waiting and waiting.get("reason"):
                return f"pod {name}: {waiting['reason']}"
            if not cs.get("ready"):
                return f"pod {name}: not ready"
        if not (pod.get("status") or {}).get("containerStatuses"):
            return f"pod {name}: {(pod.get('status') or {}).get('phase', 'Pending')}"
    return None


@dataclass(frozen=True)
class Urls:
    frontend: str
    frontend_cluster: str
    node_port: int
    dashboard: str
    zipkin: str
    kubeconfig: str
    data_dir: str


def frontend_urls(service: Obj) -> tuple[str, str, int]:
    """(host URL through the NodePort, ClusterIP URL, node port) of the frontend Service."""
    spec = service["spec"]
    port = spec["ports"][0]
    node_port = int(port.get("nodePort") or 0)
    if not node_port:
        raise DemoError(f'service "{ENTRY_SERVICE}" has no node port: is it type NodePort?')
    cluster_port = "" if port["port"] == 80 else f":{port['port']}"
    return (
        f"http://127.0.0.1:{node_port}/checkout",
        f"http://{spec['clusterIP']}{cluster_port}/checkout",
        node_port,
    )


def render(urls: Urls, *, default_dir: bool) -> str:
    """What the user reads last: where to click, and how to reach the cluster."""
    down = "kubelite down" if default_dir else f"kubelite down --data-dir {urls.data_dir}"
    rows = [
        ("frontend", urls.frontend),
        ("", f"(NodePort {urls.node_port}; in the cluster {urls.frontend_cluster})"),
        ("dashboard", urls.dashboard),
        ("traces", f"{urls.dashboard}/traces?service={ENTRY_SERVICE}"),
        ("zipkin", f"{urls.zipkin}/api/v2/traces?serviceName={ENTRY_SERVICE}"),
    ]
    lines = ["", "The shop is ready: frontend -> orders -> payments", ""]
    lines += [f"  {k:<10} {v}" for k, v in rows]
    lines += [
        "",
        f"export KUBECONFIG={urls.kubeconfig}",
        "kubectl get deployments,pods,services",
        f"{down}   # stops the cluster",
    ]
    return "\n".join(lines) + "\n"


# ---- the build ------------------------------------------------------------------------


def shop_dir() -> Path:
    """examples/shop of the checkout this kubelite runs from."""
    path = Path(kubelite.__file__).resolve().parents[2] / "examples" / "shop"
    if not (path / "Dockerfile").is_file() or not (path / "k8s.yaml").is_file():
        raise DemoError(
            f"the sample services are not here ({path}): "
            "run kubelite demo from a kubelite source checkout"
        )
    return path


def sdk_path() -> list[str]:
    """Directories that make `import kubelite.mesh` and its dependencies work in the image."""
    if importlib.util.find_spec("opentelemetry.sdk") is None:
        raise DemoError("the shop needs the mesh SDK's dependencies: pip install 'kubelite[mesh]'")
    paths = [str(Path(kubelite.__file__).resolve().parents[1])]
    for key in ("purelib", "platlib"):
        found = sysconfig.get_paths()[key]
        if found not in paths:
            paths.append(found)
    return paths


def build_image(source: Path, data: DataDir) -> str:
    """Build the shop image from a pinned copy of its context; return its digest."""
    python = "{}.{}".format(*sys.version_info[:2])
    with tempfile.TemporaryDirectory(prefix="kubelite-demo-") as tmp:
        context = Path(tmp) / "shop"
        shutil.copytree(source, context, ignore=shutil.ignore_patterns("__pycache__"))
        dockerfile = context / "Dockerfile"
        dockerfile.write_text(pin_dockerfile(dockerfile.read_text(), python, sdk_path()))
        try:
            return build_cmd.build(IMAGE, context, data.root, quiet=True)
        except build_cmd.BuildFailed as exc:
            raise DemoError(f"building {IMAGE} failed: {exc}") from None


# ---- the API ------------------------------------------------------------------------


class Api:
    """The cluster's API as the CLI reaches it: its CA, its bearer token, plain JSON."""

    def __init__(self, data: DataDir, server: str) -> None:
        ctx = ssl.create_default_context(cafile=str(data.tls / "ca.crt"))
        headers = {"Authorization": f"Bearer {data.token()}"}
        self.http = httpx.Client(base_url=server, verify=ctx, headers=headers, timeout=30)

    def apply(self, doc: Obj, namespace: str) -> Obj:
        """Server-side apply: create or update, and a no-op when nothing changed."""
        resp = self._send(
            "PATCH",
            resource_path(doc, namespace),
            params={"fieldManager": FIELD_MANAGER, "force": "true"},
            content=json.dumps(doc),
            headers={"Content-Type": "application/apply-patch+yaml"},
        )
        if resp.status_code >= 400:
            kind, name = doc["kind"], doc["metadata"]["name"]
            raise DemoError(f"applying {kind.lower()} {name} failed: {_message(resp)}")
        return dict(resp.json())

    def get(self, path: str, **params: str) -> Obj:
        resp = self._send("GET", path, params=params)
        if resp.status_code >= 400:
            raise DemoError(f"GET {path} failed: {_message(resp)}")
        return dict(resp.json())

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise DemoError(f"cannot reach the API at {self.http.base_url}: {exc}") from None

    def close(self) -> None:
        self.http.close()


def _message(resp: httpx.Response) -> str:
    try:
        return str(resp.json().get("message") or resp.text)
    except ValueError:
        return f"HTTP {resp.status_code}"


def wait_available(api: Api, names: list[str], *, timeout: float, err: Console) -> None:
    """Poll the Deployments until each is available, showing progress; one line on timeout."""
    base = f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments"
    deadline = time.monotonic() + timeout
    columns = (SpinnerColumn(), TextColumn("{task.description:<10}"), BarColumn(),
               MofNCompleteColumn(), TextColumn("available"))  # fmt: skip
    with Progress(*columns, console=err, transient=False) as progress:
        tasks = {n: progress.add_task(n, total=1) for n in names}
        while True:
            pending: dict[str, str] = {}
            for name in names:
                dep = api.get(f"{base}/{name}")
                want = (dep.get("spec") or {}).get("replicas", 1)
                have = (dep.get("status") or {}).get("availableReplicas", 0)
                progress.update(tasks[name], total=want, completed=min(have, want))
                message = rollout_message(dep)
                if message is not None:
                    pending[name] = message
            if not pending:
                return
            if time.monotonic() >= deadline:
                raise DemoError(_not_ready(api, pending, timeout))
            time.sleep(0.5)


def _not_ready(api: Api, pending: dict[str, str], timeout: float) -> str:
    name, message = next(iter(pending.items()))
    selector = f"app.kubernetes.io/name={name}"
    pods = api.get(f"/api/v1/namespaces/{NAMESPACE}/pods", labelSelector=selector)
    problem = pod_problem(pods.get("items") or [])
    others = f" (and {len(pending) - 1} more)" if len(pending) > 1 else ""
    why = f"; {problem}" if problem else ""
    return (
        f'deployment "{name}"{others} not available after {timeout:g} s: {message}{why}; '
        f"see `kubectl describe deployment {name}` and `kubectl logs deployment/{name}`"
    )


# ---- traffic and traces ---------------------------------------------------------------


def exercise(url: str, *, requests: int = 5, timeout: float = 60.0) -> None:
    """Send a few checkouts, the first retried while the Service's rules catch up."""
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        try:
            resp = httpx.get(url, timeout=10)
            if resp.status_code == 200:
                break
            last = f"HTTP {resp.status_code}: {resp.text[:200]}"
        except httpx.HTTPError as exc:
            last = str(exc) or type(exc).__name__
        if time.monotonic() >= deadline:
            raise DemoError(
                f"the frontend at {url} does not answer ({last}); "
                "see `kubectl logs deployment/frontend`"
            )
        time.sleep(0.5)
    for _ in range(requests - 1):  # one checkout answered: the rest only add traces
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(url, timeout=10)


def wait_for_trace(zipkin: str, *, timeout: float = 30.0) -> bool:
    """True once the collector holds a checkout trace with all three services' server spans."""
    deadline = time.monotonic() + timeout
    query = {"serviceName": ENTRY_SERVICE, "limit": "10"}
    while time.monotonic() < deadline:
        try:
            traces = httpx.get(f"{zipkin}/api/v2/traces", params=query, timeout=5).json()
        except (httpx.HTTPError, ValueError):
            traces = []
        for spans in traces:
            servers = {
                (s.get("localEndpoint") or {}).get("serviceName")
                for s in spans
                if s.get("kind") == "SERVER"
            }
            if set(SHOP_SERVICES) <= servers:
                return True
        time.sleep(0.5)
    return False


# ---- the command ---------------------------------------------------------------------


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise DemoError(f"cannot read {path}: {exc.strerror}") from None


def run(
    data: DataDir,
    *,
    start: Callable[[], None],
    read_state: Callable[[], Obj | None],
    out: Callable[[str], object],
    err: Console,
    timeout: float,
) -> None:
    """Start (if needed), build, apply, wait, exercise, and print where to look."""
    source = shop_dir()
    state = read_state()
    if state is None:
        start()
        state = read_state()
        if state is None:
            raise DemoError(f"kubelite did not stay up in {data.root}; see {data.log}")
    else:
        where = escape(f"{data.root} (pid {state['pid']})")
        err.print(f"using the cluster running in {where}", soft_wrap=True)
    err.print(escape(f"building {IMAGE} from {source}"), soft_wrap=True)
    build_image(source, data)
    api = Api(data, state["api"])
    try:
        docs = cluster_objects(
            _read(source / "k8s.yaml"),
            zipkin=state["zipkin"],
            kubeconfig=_read(data.kubeconfig),
        )
        applied = {(d["kind"], d["metadata"]["name"]): api.apply(d, NAMESPACE) for d in docs}
        names = [n for kind, n in applied if kind == "Deployment"]
        wait_available(api, names, timeout=timeout, err=err)
        front, cluster_url, node_port = frontend_urls(applied[("Service", ENTRY_SERVICE)])
    finally:
        api.close()
    exercise(front)
    if not wait_for_trace(state["zipkin"]):
        err.print("[yellow]note:[/yellow] the checkout trace has not reached the collector yet")
    urls = Urls(front, cluster_url, node_port, state["dashboard"], state["zipkin"],
                str(data.kubeconfig), str(data.root))  # fmt: skip
    out(render(urls, default_dir=data == DataDir.at(None)))
