"""Execute a parsed Dockerfile into the local image store.

`FROM python:X.Y` is the host's own interpreter (an error if the version
differs) with a per-image virtualenv in which RUN lines execute, so
`RUN pip install -r requirements.txt` installs into the image and nowhere
else. `FROM scratch` has no interpreter. COPY places files under the image's
`rootfs/` at the paths the Dockerfile names, from the build context less what
its `.dockerignore` excludes (`buildcontext`); inside a container they appear
at those same absolute paths, owned and moded as `--chown`/`--chmod` say. Each RUN line sees the image as its containers
will, in a mount namespace of its own (`buildroot`): it writes into the
image, and never to the host.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from kubelite.kubelet import buildroot
from kubelite.kubelet import dockerfile as df
from kubelite.kubelet.buildcontext import BuildContext, ContextError
from kubelite.kubelet.clock import rfc3339
from kubelite.kubelet.dockerignore import IgnoreError
from kubelite.kubelet.imageconfig import content_digest, oci_config, tree_digest
from kubelite.kubelet.images import (
    DEFAULT_PATH,
    Image,
    ImageStore,
    base_python,
    host_python_version,
    normalize,
    python_version,
)


class BuildError(RuntimeError):
    pass


class _State:
    def __init__(self, image_dir: Path) -> None:
        self.dir = image_dir
        self.rootfs = image_dir / "rootfs"
        self.env: dict[str, str] = {}
        self.workdir = "/"
        self.entrypoint: list[str] | None = None
        self.cmd: list[str] | None = None
        self.cmd_from_base = False
        self.exposed: list[str] = []
        self.venv: Path | None = None

    def host_path(self, container_path: str) -> Path:
        rel = PurePosixPath(container_path)
        if not rel.is_absolute():
            rel = PurePosixPath(self.workdir) / rel
        return self.rootfs / str(rel).lstrip("/")


def build(
    store: ImageStore, ref: str, context: Path, *, say: Callable[[str], None] = lambda s: None
) -> Image:
    dockerfile = context / "Dockerfile"
    if not dockerfile.is_file():
        raise BuildError(f"no Dockerfile in {context}")
    # bytes that are not UTF-8 stay as they are (in a COPY path, say), as BuildKit keeps them
    parsed = df.parse(dockerfile.read_bytes().decode("utf-8", errors="surrogateescape"))
    try:
        files = BuildContext.open(context)
    except IgnoreError as exc:
        raise BuildError(str(exc)) from None
    image_dir = store.root / "store" / uuid.uuid4().hex
    state = _State(image_dir)
    state.rootfs.mkdir(parents=True)
    try:
        total = len(parsed.instructions) + 1
        say(f"STEP 1/{total}: FROM {parsed.base}")
        _from(
            state,
            parsed.base,
            needs_pip=any(i.keyword == "RUN" and "pip" in i.args for i in parsed.instructions),
        )
        for n, instr in enumerate(parsed.instructions, start=2):
            say(f"STEP {n}/{total}: {instr.keyword} {instr.args}")
            _apply(state, instr, files)
        return _commit(store, ref, state)
    except BaseException:
        shutil.rmtree(image_dir, ignore_errors=True)
        raise


def _from(state: _State, base: str, *, needs_pip: bool) -> None:
    if base == "scratch":
        state.env["PATH"] = DEFAULT_PATH
        return
    version = python_version(normalize(base))
    if version is None:
        raise BuildError(
            f"Dockerfile line 1: base image {base!r} is not supported "
            "(use FROM python:X.Y for the host's Python, or FROM scratch)"
        )
    host = host_python_version()
    if version != host:
        raise BuildError(
            f"Dockerfile line 1: FROM {base} asks for Python {version[0]}.{version[1]} "
            f"but this machine has Python {host[0]}.{host[1]}"
        )
    venv = state.dir / "venv"
    cmd = [base_python(), "-m", "venv", str(venv)]
    if not needs_pip:
        cmd.insert(3, "--without-pip")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"creating the image's virtualenv failed: {proc.stderr.strip()}")
    state.venv = venv
    state.env.update(
        PATH=f"{venv}/bin:{DEFAULT_PATH}",
        VIRTUAL_ENV=str(venv),
        PYTHON_VERSION=f"{host[0]}.{host[1]}",
    )
    state.cmd = ["python3"]
    state.cmd_from_base = True


def _apply(state: _State, instr: df.Instruction, context: BuildContext) -> None:
    kw, args, line = instr.keyword, instr.args, instr.line
    if kw == "WORKDIR":
        path = df.substitute(args, state.env)
        state.workdir = str(PurePosixPath(state.workdir) / path)
        state.host_path(state.workdir).mkdir(parents=True, exist_ok=True)
    elif kw == "ENV":
        state.env.update(df.parse_env(line, args, state.env))
    elif kw == "EXPOSE":
        state.exposed.extend(df.parse_expose(line, args, state.env))
    elif kw == "COPY":
        _copy(state, line, context, df.parse_copy(line, args, state.env))
    elif kw == "RUN":
        _run(state, line, df.shell_or_exec(instr))
    elif kw == "ENTRYPOINT":
        state.entrypoint = df.shell_or_exec(instr)
        if state.cmd_from_base:
            state.cmd = None
    elif kw == "CMD":
        state.cmd = df.shell_or_exec(instr)
        state.cmd_from_base = False


def _copy(state: _State, line: int, context: BuildContext, args: df.CopyArgs) -> None:
    sources, dest = args.sources, args.dest
    owner = None if args.chown is None else _owner(state, line, args.chown)
    target = state.host_path(dest)
    found = []
    for src in sources:
        try:
            found.extend(context.find(src))
        except ContextError as exc:
            raise BuildError(f"Dockerfile line {line}: COPY {src}: {exc}") from None
    if not found:
        raise BuildError(f"Dockerfile line {line}: COPY {' '.join(sources)}: no source files")
    into = dest.endswith("/") or len(found) > 1 or target.is_dir()
    parents = _missing_dirs(target if into else target.parent, state.rootfs)
    written: list[Path] = []
    for source in found:
        written += context.copy(source, target, into=into)
    if owner is not None:  # the directories the copy made get the owner too, as in BuildKit
        for path in parents + written:
            os.lchown(path, *owner)
    if args.chmod is not None:  # after chown, which clears set-id bits
        for path in written:
            if not path.is_symlink():
                path.chmod(args.chmod)


def _missing_dirs(directory: Path, rootfs: Path) -> list[Path]:
    """The directories from `directory` up that do not exist yet (a copy will make them)."""
    missing = []
    while directory != rootfs and not os.path.lexists(directory):
        missing.append(directory)
        directory = directory.parent
    return missing


def _owner(state: _State, line: int, chown: str) -> tuple[int, int] | None:
    """`--chown=user[:group]` as ids, names looked up as the image's containers see
    /etc/passwd and /etc/group; None where the files already have that owner."""
    user, _, group = chown.partition(":")
    uid, gid = _id(state, line, user, "passwd") if user else (0, 0)
    if group:
        gid = _id(state, line, group, "group")[0]
    if os.geteuid() != 0:  # the builder's files are root's in its containers (a user namespace)
        if (uid, gid) == (0, 0):
            return None
        raise BuildError(
            f"Dockerfile line {line}: COPY --chown={chown}: giving files another owner "
            "needs kubelite build to run as root"
        )
    return uid, gid


def _id(state: _State, line: int, name: str, database: str) -> tuple[int, int]:
    """A user's (uid, primary gid) or a group's (gid, gid); a number stands for itself."""
    if name.isdigit():
        return int(name), int(name)
    own = state.rootfs / "etc" / database
    path = own if own.is_file() else Path("/etc") / database
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        lines = []
    for entry in lines:
        fields = entry.split(":")
        if fields[0] == name and len(fields) > 3 and fields[2].isdigit():
            gid = fields[3] if database == "passwd" else fields[2]
            return int(fields[2]), int(gid) if gid.isdigit() else int(fields[2])
    what = "user" if database == "passwd" else "group"
    raise BuildError(
        f"Dockerfile line {line}: COPY --chown: unable to find {what} {name}: "
        f"no matching entries in {database} file"
    )


def _run(state: _State, line: int, argv: list[str]) -> None:
    state.host_path(state.workdir).mkdir(parents=True, exist_ok=True)
    writable = [] if state.venv is None else [state.venv]
    if buildroot.overlays() is not None:
        home = "/root"  # root's, as under docker build: what it writes there is the image's
    else:  # no overlays: /root is the host's, read-only; a home of the image's own instead
        (state.dir / "home").mkdir(exist_ok=True)
        home = str(state.dir / "home")
        writable.append(state.dir / "home")
    env = {"HOME": home, **state.env}  # an ENV HOME wins, as in Docker
    try:
        code = buildroot.run_line(
            argv,
            env=env,
            rootfs=state.rootfs,
            workdir=state.workdir,
            writable=writable,
            visible=_interpreter_paths(env),
        )
    except buildroot.RunError as exc:
        raise BuildError(f"Dockerfile line {line}: RUN {' '.join(argv)}: {exc}") from None
    if code != 0:
        raise BuildError(
            f"Dockerfile line {line}: RUN {' '.join(argv)} failed with exit code {code}"
        )


def _interpreter_paths(env: dict[str, str]) -> list[Path]:
    """Host directories a RUN line may load code from: the interpreter's own and its
    PYTHONPATH (bound in read-only when they live under the host's /tmp)."""
    paths = [Path(sys.base_prefix)]
    paths += [Path(p) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    return [p for p in dict.fromkeys(paths) if p.is_absolute() and p.is_dir()]


def _commit(store: ImageStore, ref: str, state: _State) -> Image:
    diff_id, size = tree_digest(state.dir)
    created = rfc3339(time.time())
    config = oci_config(
        env=[f"{k}={v}" for k, v in state.env.items()],
        entrypoint=state.entrypoint,
        cmd=state.cmd,
        working_dir=state.workdir if state.workdir != "/" else "",
        exposed=state.exposed,
        diff_id=diff_id,
    )
    digest = content_digest(config)
    config["created"] = created
    (state.dir / "config.json").write_text(df_json(config))
    store.record(ref, state.dir, digest, size, created)
    return store.resolve(ref)


def df_json(doc: object) -> str:
    import json

    return json.dumps(doc, indent=2)
