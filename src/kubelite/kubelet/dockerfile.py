"""Parse the Dockerfile subset kubelite builds from.

Only FROM, WORKDIR, COPY, ENV, RUN, EXPOSE, ENTRYPOINT and CMD are known;
anything else is a `DockerfileError` naming the line, so a user sees at once
which line kubelite cannot honour instead of getting a silently different
image. The same goes for an instruction's flags: COPY's `--chown`, `--chmod`
and `--link` are honoured, and any other flag (`COPY --from`, `RUN --mount`)
is refused rather than dropped. Parsing is pure: the builder executes the
result.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field

SUPPORTED = ("FROM", "WORKDIR", "COPY", "ENV", "RUN", "EXPOSE", "ENTRYPOINT", "CMD")

# BuildKit drops a UTF-8 byte-order mark at the start of the first line
# (frontend/dockerfile/parser/parser.go `utf8bom`), as Windows editors write one.
_BOM = "\ufeff"

# The flags BuildKit knows, per instruction; which of them kubelite applies is
# decided where the instruction is read.
_KNOWN_FLAGS = {
    "FROM": ("platform",),
    "COPY": ("from", "chown", "chmod", "link", "parents", "exclude"),
    "RUN": ("mount", "network", "security", "device"),
}
_BOOL_FLAGS = ("link", "parents")


class DockerfileError(ValueError):
    pass


@dataclass(frozen=True)
class Instruction:
    line: int
    keyword: str
    args: str
    # Exec form ["a", "b"] parsed; None for shell form.
    exec_form: tuple[str, ...] | None = None


@dataclass(frozen=True)
class CopyArgs:
    sources: list[str]
    dest: str
    chown: str | None = None  # "user[:group]" as written, after substitution
    chmod: int | None = None  # permission bits


@dataclass
class Dockerfile:
    base: str
    instructions: list[Instruction] = field(default_factory=list)


def logical_lines(text: str) -> list[tuple[int, str]]:
    """Join backslash continuations; drop comments and blank lines; keep first line numbers."""
    out: list[tuple[int, str]] = []
    buf: list[str] = []
    start = 0
    for number, raw in enumerate(text.removeprefix(_BOM).splitlines(), start=1):
        stripped = raw.strip()
        if not buf and (not stripped or stripped.startswith("#")):
            continue
        if buf and stripped.startswith("#"):
            continue
        if not buf:
            start = number
        if stripped.endswith("\\"):
            buf.append(stripped[:-1].rstrip())
            continue
        buf.append(stripped)
        out.append((start, " ".join(p for p in buf if p)))
        buf = []
    if buf:
        out.append((start, " ".join(p for p in buf if p)))
    return out


def parse(text: str) -> Dockerfile:
    instructions: list[Instruction] = []
    for number, line in logical_lines(text):
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        rest = rest.strip()
        if keyword not in SUPPORTED:
            shown = keyword if keyword.isascii() and keyword.isprintable() else ascii(keyword)
            raise DockerfileError(
                f"Dockerfile line {number}: unsupported instruction {shown} "
                f"(kubelite builds {', '.join(SUPPORTED)})"
            )
        if not rest:
            raise DockerfileError(f"Dockerfile line {number}: {keyword} needs an argument")
        if keyword in ("FROM", "RUN"):
            rest = _take_flags(number, keyword, rest)
        exec_form = _exec_form(number, keyword, rest)
        instructions.append(Instruction(number, keyword, rest, exec_form))
    if not instructions or instructions[0].keyword != "FROM":
        first = instructions[0].line if instructions else 1
        raise DockerfileError(f"Dockerfile line {first}: the first instruction must be FROM")
    froms = [i for i in instructions if i.keyword == "FROM"]
    if len(froms) > 1:
        raise DockerfileError(
            f"Dockerfile line {froms[1].line}: multi-stage builds are not supported"
        )
    base = instructions[0].args.split()[0]
    return Dockerfile(base=base, instructions=instructions[1:])


def _exec_form(number: int, keyword: str, rest: str) -> tuple[str, ...] | None:
    if keyword not in ("RUN", "CMD", "ENTRYPOINT") or not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None  # Docker treats an unparsable array as shell form too.
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise DockerfileError(f"Dockerfile line {number}: {keyword} exec form must be strings")
    return tuple(value)


_VAR = re.compile(r"\$(?:\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)\}|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))")


def substitute(value: str, env: dict[str, str]) -> str:
    """Dockerfile `$VAR` / `${VAR}` substitution from earlier ENV lines."""
    return _VAR.sub(lambda m: env.get(m.group("braced") or m.group("bare"), ""), value)


def parse_env(number: int, args: str, env: dict[str, str]) -> list[tuple[str, str]]:
    """`ENV a=1 b="two words"` or the legacy `ENV key value with spaces`."""
    try:
        words = shlex.split(args, posix=True)
    except ValueError as exc:
        raise DockerfileError(f"Dockerfile line {number}: ENV: {exc}") from None
    if words and "=" not in words[0]:
        key, _, value = args.partition(" ")
        return [(key, substitute(value.strip(), env))]
    pairs = []
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise DockerfileError(f"Dockerfile line {number}: ENV expects KEY=VALUE, got {word!r}")
        pairs.append((key, substitute(value, env)))
    return pairs


def split_flags(number: int, keyword: str, args: str) -> tuple[dict[str, str], str]:
    """An instruction's leading `--name[=value]` words, as BuildKit's
    `extractBuilderFlags` reads them, and the rest of the line.

    An unknown flag, or a flag that needs a value and has none, fails as it
    fails under BuildKit.
    """
    flags: dict[str, str] = {}
    rest = args
    while rest.startswith("--"):
        word, _, after = rest.partition(" ")
        rest = after.lstrip()
        if word == "--":
            break
        name, sep, value = word[2:].partition("=")
        if name not in _KNOWN_FLAGS.get(keyword, ()):
            raise DockerfileError(f"Dockerfile line {number}: unknown flag: {name}")
        if name in _BOOL_FLAGS:
            if sep and value.lower() not in ("true", "false"):
                raise DockerfileError(
                    f"Dockerfile line {number}: expecting boolean value for flag {name}, "
                    f"not: {value}"
                )
            value = value.lower() if sep else "true"
        elif not sep or not value:
            raise DockerfileError(f"Dockerfile line {number}: missing a value on flag: {name}")
        flags[name] = value
    return flags, rest


def _take_flags(number: int, keyword: str, args: str) -> str:
    """FROM's and RUN's flags change where a line runs (`--platform`, `--mount`,
    `--network=none`): kubelite runs every line one way, so a flag is refused rather
    than ignored, except `RUN --network=default|host`, which is that way."""
    flags, rest = split_flags(number, keyword, args)
    for name, value in flags.items():
        if keyword == "RUN" and name == "network" and value in ("default", "host"):
            continue
        raise DockerfileError(f"Dockerfile line {number}: {keyword} --{name} is not supported")
    if not rest:
        raise DockerfileError(f"Dockerfile line {number}: {keyword} needs an argument")
    return rest


def parse_copy(number: int, args: str, env: dict[str, str]) -> CopyArgs:
    """COPY's sources, destination and the `--chown`/`--chmod` to give what it copies."""
    flags, rest = split_flags(number, "COPY", args)
    for name in ("from", "parents", "exclude"):
        if flags.get(name, "false") != "false":
            raise DockerfileError(f"Dockerfile line {number}: COPY --{name} is not supported")
    array = _json_words(rest)
    if array is None:  # Docker reads a line that is not a JSON array as words
        try:
            words = shlex.split(rest)
        except ValueError as exc:
            raise DockerfileError(f"Dockerfile line {number}: COPY: {exc}") from None
    elif all(isinstance(w, str) for w in array):
        words = [str(w) for w in array]
    else:
        raise DockerfileError(f"Dockerfile line {number}: COPY: JSON array must hold strings")
    words = [substitute(w, env) for w in words]
    if len(words) < 2:
        raise DockerfileError(f"Dockerfile line {number}: COPY needs a source and a destination")
    chown = substitute(flags["chown"], env) if "chown" in flags else None
    chmod = _chmod(number, substitute(flags["chmod"], env)) if "chmod" in flags else None
    return CopyArgs(words[:-1], words[-1], chown, chmod)


def _chmod(number: int, value: str) -> int:
    """An octal mode, as in `--chmod=0644` (BuildKit's symbolic modes are refused)."""
    if not re.fullmatch(r"[0-7]{1,4}", value):
        raise DockerfileError(
            f"Dockerfile line {number}: COPY --chmod={value}: kubelite takes an octal mode "
            "such as 644 or 0755"
        )
    return int(value, 8)


def _json_words(args: str) -> list[object] | None:
    if not args.startswith("["):
        return None
    try:
        value = json.loads(args)
    except ValueError:
        return None
    return list(value) if isinstance(value, list) else None


def parse_expose(number: int, args: str, env: dict[str, str]) -> list[str]:
    ports = []
    for word in substitute(args, env).split():
        port, _, proto = word.partition("/")
        if not port.isdigit():
            raise DockerfileError(f"Dockerfile line {number}: EXPOSE: bad port {word!r}")
        ports.append(f"{port}/{(proto or 'tcp').lower()}")
    return ports


def shell_or_exec(instr: Instruction) -> list[str]:
    """CMD/ENTRYPOINT/RUN as an argv: exec form as is, shell form through /bin/sh -c."""
    if instr.exec_form is not None:
        return list(instr.exec_form)
    return ["/bin/sh", "-c", instr.args]
