"""What a container runs: command/args against the image's Entrypoint/Cmd, and `$(VAR)`.

The rules are upstream's: `command` replaces the Entrypoint (and then the
image Cmd is ignored), `args` replaces the Cmd. `$(VAR)` expands from the
container's environment, `$$` escapes a dollar, and a reference to an
undefined variable stays as written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def resolve_argv(container: dict[str, Any], image_config: Mapping[str, Any]) -> list[str]:
    command = container.get("command")
    args = container.get("args")
    if command:
        return list(command) + list(args or [])
    entrypoint = list(image_config.get("Entrypoint") or [])
    return entrypoint + list(args if args else image_config.get("Cmd") or [])


def expand(text: str, env: Mapping[str, str]) -> str:
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch != "$" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
        elif nxt == "(":
            close = text.find(")", i + 2)
            if close < 0:
                out.append("$(")
                i += 2
                continue
            name = text[i + 2 : close]
            out.append(env[name] if name in env else text[i : close + 1])
            i = close + 1
        else:
            out.append("$" + nxt)
            i += 2
    return "".join(out)


def expand_all(items: list[str], env: Mapping[str, str]) -> list[str]:
    return [expand(s, env) for s in items]
