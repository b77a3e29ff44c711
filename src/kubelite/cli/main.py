"""The `kubelite` command.

Every failure a user can meet ends in one clear line on stderr and a
non-zero exit, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any, NoReturn

import orjson
import typer
from rich.console import Console
from rich.markup import escape

from kubelite.cli.datadir import DataDir

app = typer.Typer(
    name="kubelite",
    help="Kubernetes for one machine: a cluster in one process, pods as local processes.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# No emoji codes and no wrapping: a path, a tag or a Dockerfile line such as
# `app:x:1000:...` is printed as written, and a result line stays one line in a pipe.
console = Console(stderr=True, highlight=False, emoji=False, soft_wrap=True)
out = Console(highlight=False, emoji=False, soft_wrap=True)

DataDirOpt = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Where the cluster keeps its state (default ~/.kubelite)."),
]


# `kubelite up --authorization-mode`: kube-apiserver's modes kubelite has.
AUTHORIZATION_MODES = ("AlwaysAllow", "RBAC")


def fail(message: str, code: int = 1) -> NoReturn:
    console.print(f"[red]error:[/red] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


def read_state(data: DataDir) -> dict[str, Any] | None:
    """The running cluster's status file, if its process is alive."""
    try:
        state = orjson.loads(data.state.read_bytes())
    except (OSError, ValueError):
        return None
    pid = int(state.get("pid", 0))
    if pid <= 0 or not _alive(pid):
        return None
    return state


def lock_holder(data: DataDir) -> int | None:
    """The pid of a kubelite that holds DIR's lock: one starting up, or one whose
    state file is gone. `up` holds the lock as long as it runs and writes its pid
    there (`Cluster.acquire`), so the lock, not the state file, says who runs."""
    try:
        pid = int(data.lock.read_text().split()[0])
        fd = os.open(data.lock, os.O_RDONLY)
    except (OSError, ValueError, IndexError):
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return pid if _alive(pid) else None
    except OSError:
        return None
    finally:
        os.close(fd)  # and with it the shared lock, if it was free
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


@app.command()
def up(
    data_dir: DataDirOpt = None,
    port: Annotated[
        int,
        typer.Option(min=0, max=65535, help="API port; 0 picks free ports for every listener."),
    ] = 6443,
    nodes: Annotated[
        int, typer.Option(min=1, max=5000, help="Nodes to register on this machine.")
    ] = 1,
    detach: Annotated[
        bool, typer.Option("--detach", "-d", help="Return once ready; log to DIR/kubelite.log.")
    ] = False,
    scheduler_config: Annotated[
        Path | None,
        typer.Option(help="A KubeSchedulerConfiguration YAML: profiles, plugins, weights."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="A cluster config YAML: `nodes: [{name, capacity, labels, taints}]`.",
        ),
    ] = None,
    authorization_mode: Annotated[
        str,
        typer.Option(
            "--authorization-mode",
            help="AlwaysAllow (any authenticated user may do anything) or RBAC.",
        ),
    ] = "AlwaysAllow",
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log at debug level.")] = False,
) -> None:
    """Start the whole cluster in this process."""
    if authorization_mode not in AUTHORIZATION_MODES:
        fail(
            f'unknown --authorization-mode "{authorization_mode}": '
            f"use {' or '.join(AUTHORIZATION_MODES)}"
        )
    data = DataDir.at(data_dir)
    running = read_state(data)
    if running is not None:
        fail(
            f"kubelite is already running in {data.root} (pid {running['pid']}); "
            "`kubelite down` stops it"
        )
    if scheduler_config is not None:
        scheduler_config = _check_scheduler_config(scheduler_config)
    extra = ["--scheduler-config", str(scheduler_config)] if scheduler_config else []
    cluster_config = None
    if config is not None:
        cluster_config = _check_cluster_config(config, nodes, data)
        extra += ["--config", str(config.resolve())]
    if authorization_mode != "AlwaysAllow":
        extra += ["--authorization-mode", authorization_mode]
    if detach:
        _detach(data, port, nodes, verbose, extra)
        return
    if authorization_mode != "AlwaysAllow":
        _run_foreground(
            data, port, nodes, verbose, scheduler_config, cluster_config, authorization_mode
        )
        return
    _run_foreground(data, port, nodes, verbose, scheduler_config, cluster_config)


def _check_cluster_config(path: Path, nodes: int, data: DataDir) -> dict[str, Any]:
    """Refuse a bad cluster config before starting anything: one clear line."""
    from kubelite.cli.nodeconfig import ConfigError, read_cluster_config

    try:
        return read_cluster_config(path, nodes, data.root)
    except OSError as exc:
        fail(f"cannot read cluster config {path}: {exc.strerror or exc}")
    except ConfigError as exc:
        fail(f"invalid cluster config {path}: {exc}")


def _check_scheduler_config(path: Path) -> Path:
    """Refuse a bad profile before starting anything: one clear line."""
    from kubelite.scheduler import ProfileError, load_profiles

    try:
        load_profiles(path.read_text())
    except OSError as exc:
        fail(f"cannot read scheduler config {path}: {exc.strerror}")
    except (ProfileError, ValueError) as exc:
        fail(f"invalid scheduler config {path}: {exc}")
    return path.resolve()


def _run_foreground(
    data: DataDir,
    port: int,
    nodes: int,
    verbose: bool,
    scheduler_config: Path | None = None,
    cluster_config: dict[str, Any] | None = None,
    authorization_mode: str = "AlwaysAllow",
) -> None:
    from kubelite.apiserver.gctuning import freeze_startup_heap, tune_collector
    from kubelite.cli.cluster import AlreadyRunning, Cluster, UpOptions, install_signal_handlers
    from kubelite.cli.logs import configure_logging
    from kubelite.store import StoreError

    configure_logging(verbose=verbose)
    quiet = os.environ.get("KUBELITE_DETACHED") == "1"

    def announce(cluster: Cluster) -> None:
        freeze_startup_heap()
        if not quiet:
            _print_started(cluster.status)

    async def main() -> None:
        stop = asyncio.Event()
        install_signal_handlers(stop)
        options = UpOptions(
            data_dir=data,
            port=port,
            nodes=nodes,
            scheduler_config=scheduler_config,
            authorization_mode=authorization_mode,
        )
        if cluster_config is not None:
            options.extra["config"] = cluster_config
        cluster = Cluster(options)
        await cluster.run(stop, on_ready=announce)

    tune_collector()
    try:
        _run_loop(main())
    except AlreadyRunning as exc:
        fail(str(exc))
    except StoreError as exc:  # a store file that is not one, or is damaged
        fail(f"cannot start: {exc}")
    except OSError as exc:  # the path or the address is in the message
        where = f"{exc.filename}: " if exc.filename else ""
        fail(f"cannot start: {where}{exc.strerror or exc}")


def _run_loop(coro: Any) -> None:
    try:
        import uvloop

        uvloop.run(coro)
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        asyncio.run(coro)


LISTENER_LABELS = (
    ("api", "api"),
    ("dashboard", "dashboard"),
    ("zipkin", "zipkin"),
    ("ingress", "ingress"),
    ("ingressHttps", "ingress"),
    ("dns", "dns"),
)


def _print_started(status: dict[str, Any]) -> None:
    out.print(f"[bold green]kubelite is up[/bold green] in {status.get('startupMs', 0):.0f} ms")
    for key, label in LISTENER_LABELS:
        if status.get(key):
            out.print(f"  {label:<10} {escape(str(status[key]))}")
    out.print(f"  {'proxy':<10} {escape(str(status.get('proxyMode')))}")
    out.print(f"  {'data':<10} {escape(str(status['dataDir']))}")
    out.print(f"\nexport KUBECONFIG={escape(str(status['kubeconfig']))}")


def _detach(data: DataDir, port: int, nodes: int, verbose: bool, extra: list[str]) -> None:
    data.ensure()
    cmd = [
        sys.executable,
        "-m",
        "kubelite",
        "up",
        "--data-dir",
        str(data.root),
        "--port",
        str(port),
        "--nodes",
        str(nodes),
    ]
    if verbose:
        cmd.append("--verbose")
    cmd += extra
    env = dict(os.environ, KUBELITE_DETACHED="1")
    with contextlib_open_log(data) as log:
        proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, start_new_session=True
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = read_state(data)
        if state is not None and state.get("pid") == proc.pid:
            _print_started(state)
            return
        if proc.poll() is not None:
            tail = _tail(data.log, 5)
            fail(
                f"kubelite exited during start-up (code {proc.returncode}); see {data.log}:\n{tail}"
            )
        time.sleep(0.01)
    proc.terminate()
    fail(f"kubelite did not become ready within 60 s; see {data.log}")


def contextlib_open_log(data: DataDir) -> Any:
    fd = os.open(data.log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    return os.fdopen(fd, "ab")


def _tail(path: Path, lines: int) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


@app.command()
def down(
    data_dir: DataDirOpt = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for pods to stop.")] = 90.0,
) -> None:
    """Stop the cluster gracefully (pods get their grace period)."""
    from kubelite.cli import leftovers

    data = DataDir.at(data_dir)
    state = read_state(data)
    pid = int(state["pid"]) if state is not None else lock_holder(data)
    if pid is None:
        left = leftovers.find(data.root)
        if left:  # kubelite crashed or was killed; its pods did not
            fail(f"kubelite is not running in {data.root}, but {leftovers.describe(left)}")
        sys.stdout.write(f"kubelite is not running in {data.root}\n")
        return
    with contextlib.suppress(ProcessLookupError):  # gone already
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    if not _alive(pid):
        sys.stdout.write(f"kubelite stopped (pid {pid})\n")
        return
    with contextlib.suppress(ProcessLookupError):  # gone already
        os.kill(pid, signal.SIGKILL)
    gone = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < gone:  # before asking its shims
        time.sleep(0.02)
    left = leftovers.find(data.root)
    fail(
        f"kubelite (pid {pid}) did not stop within {timeout:.0f} s and was killed"
        + (f"; {leftovers.describe(left)}" if left else "")
    )


@app.command()
def status(
    data_dir: DataDirOpt = None,
    output: Annotated[
        str, typer.Option("--output", "-o", help="json, or text for people.")
    ] = "text",
) -> None:
    """Show whether the cluster runs and where every listener is."""
    data = DataDir.at(data_dir)
    state = read_state(data)
    if state is None:
        if output == "json":
            pid = lock_holder(data)
            doc: dict[str, Any] = {"running": pid is not None, "dataDir": str(data.root)}
            if pid is not None:  # starting, or its state file is gone: no listeners to give
                doc.update(pid=pid, ready=False)
            sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")
            raise typer.Exit(1)
        _not_running(data)
        return
    from kubelite.cli.live import live_status

    state = {"running": True, **state, **live_status(data, state)}
    if output == "json":
        sys.stdout.write(orjson.dumps(state, option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    if output != "text":
        fail(f'unknown output format "{output}": use json or text')
    _print_started(state)
    for node in state.get("nodes") or []:
        out.print(escape(f"  node       {node.get('name')} {node.get('status')}"))


def _not_running(data: DataDir) -> NoReturn:
    """No state file: not running, or running without one (still starting, or deleted)."""
    pid = lock_holder(data)
    if pid is not None:
        fail(
            f"kubelite runs in {data.root} (pid {pid}) but has no state file {data.state} "
            "(it is starting, or the file was deleted); `kubelite down` stops it"
        )
    fail(f"kubelite is not running in {data.root}")


@app.command()
def explain(
    kind: Annotated[str, typer.Argument(help="pod (the only kind the scheduler places)")],
    name: Annotated[str, typer.Argument(help="The pod's name.")],
    namespace: Annotated[str, typer.Option("--namespace", "-n")] = "default",
    data_dir: DataDirOpt = None,
    output: Annotated[str, typer.Option("--output", "-o", help="table or json")] = "table",
) -> None:
    """Show, per node, each filter's verdict and each score plugin's score for a pod."""
    from kubelite.cli import explain as ex

    if output not in ("table", "json"):
        fail(f'unknown output format "{output}": use table or json')
    if kind not in ("pod", "pods", "po"):
        fail(f'cannot explain "{kind}": only pods are scheduled')
    data = DataDir.at(data_dir)
    state = read_state(data)
    if state is None:
        _not_running(data)
        return
    config = state.get("schedulerConfig")
    try:
        cluster_state = ex.fetch_state(data, state["api"])
        result = ex.explain(cluster_state, namespace, name, Path(config) if config else None)
    except ex.ExplainError as exc:
        fail(str(exc))
        return
    if output == "json":
        sys.stdout.write(orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2).decode() + "\n")
        return
    pod = next(
        p
        for p in cluster_state["pods"]
        if p["metadata"]["name"] == name and p["metadata"].get("namespace") == namespace
    )
    out.print(ex.render(result, f"{namespace}/{name}", pod["spec"].get("nodeName")))


@app.command()
def build(
    context: Annotated[Path, typer.Argument(help="Directory holding the Dockerfile.")],
    tag: Annotated[str, typer.Option("--tag", "-t", help="NAME:TAG of the image to build.")],
    data_dir: DataDirOpt = None,
) -> None:
    """Build a local image from CONTEXT/Dockerfile."""
    from kubelite.cli import build_cmd

    data = DataDir.at(data_dir)
    data.ensure()
    try:
        digest = build_cmd.build(tag, context, data.root)
    except build_cmd.BuildFailed as exc:
        fail(str(exc))
        return
    sys.stdout.write(f"built {tag} {digest}\n")


@app.command()
def images(data_dir: DataDirOpt = None) -> None:
    """List the local images."""
    from kubelite.cli import build_cmd

    data = DataDir.at(data_dir)
    sys.stdout.write(build_cmd.format_images(build_cmd.list_images(data.root)) + "\n")


@app.command()
def demo(
    data_dir: DataDirOpt = None,
    port: Annotated[
        int, typer.Option(help="API port if a cluster must be started; 0 picks free ports.")
    ] = 6443,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the services to become available.")
    ] = 300.0,
) -> None:
    """Deploy the sample shop (starting a cluster if none runs) and print the URLs to open."""
    from rich.markup import escape

    from kubelite.cli import demo as demo_cmd

    data = DataDir.at(data_dir)
    try:
        demo_cmd.run(
            data,
            start=lambda: _detach(data, port, 1, False, []),
            read_state=lambda: read_state(data),
            out=sys.stdout.write,
            err=console,
            timeout=timeout,
        )
    except demo_cmd.DemoError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}", soft_wrap=True)  # one line
        raise typer.Exit(1) from None


@app.command()
def kubeconfig(data_dir: DataDirOpt = None) -> None:
    """Print the kubeconfig of the cluster in DATA_DIR."""
    data = DataDir.at(data_dir)
    try:
        sys.stdout.write(data.kubeconfig.read_text())
    except OSError as exc:
        state = read_state(data)
        pid = int(state["pid"]) if state is not None else lock_holder(data)
        if pid is None:
            fail(f"no kubeconfig in {data.root}: start the cluster with `kubelite up` first")
        if isinstance(exc, FileNotFoundError):
            fail(
                f"{data.kubeconfig} is missing though kubelite runs there (pid {pid}): "
                "`kubelite down` and `kubelite up` write it again"
            )
        fail(f"cannot read {data.kubeconfig}: {exc.strerror or exc}")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        raise SystemExit(130) from None


if __name__ == "__main__":
    main()
