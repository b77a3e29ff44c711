"""The build context as COPY sees it: its directory less what `.dockerignore` excludes.

Docker sends the builder only what the context's `.dockerignore` lets
through, so an excluded path is simply not there: `COPY secrets /x` fails as
a missing file would, a glob does not match it, and `COPY . .` leaves it
out, the Dockerfile and the `.dockerignore` included when they match. An
excluded directory is looked into only when an exception (`!`) could bring
something under it back; what comes back brings its parent directories with
it. Verdicts come from `dockerignore.Matcher`, path by path from the root
down, as Docker's walk makes them.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from kubelite.kubelet.dockerignore import FILENAME, Matcher, MatchInfo, load, match_syntax_error


class ContextError(ValueError):
    """A COPY source the context does not hold; the text says why."""


@dataclass(frozen=True)
class Source:
    rel: str  # its path in the context, `/`-separated; "." is the context itself
    path: Path  # on this machine, links resolved
    info: MatchInfo  # what it matched, for its children's verdicts


class BuildContext:
    def __init__(self, root: Path, ignore: Matcher | None = None) -> None:
        self.root = root.resolve()
        self.ignore = ignore or Matcher()

    @classmethod
    def open(cls, root: Path) -> BuildContext:
        """The context at `root` with its `.dockerignore` (an `IgnoreError` if bad)."""
        return cls(root, load(root))

    def find(self, src: str) -> list[Source]:
        """What a COPY source names: one path, or each path its glob matches (maybe none)."""
        pattern = any(c in src for c in "*?[\\")
        items = _glob(self.root, src) if pattern else [str(self.root / src)]
        found = []
        for item in items:
            path = Path(item).resolve()
            if path != self.root and self.root not in path.parents:
                raise ContextError("outside the build context")
            if not path.exists():
                raise ContextError("no such file or directory")
            rel = Path(os.path.relpath(os.path.normpath(item), self.root)).as_posix()
            excluded, info = self.ignore.lookup(rel)
            if excluded and not (path.is_dir() and self._holds_any(path, rel, info)):
                if pattern:
                    continue
                raise ContextError(f"no such file or directory (excluded by {FILENAME})")
            found.append(Source(rel, path, info))
        return found

    def copy(self, source: Source, target: Path, *, into: bool) -> list[Path]:
        """A directory's contents to `target`; a file to `target`, or into it with `into`.

        Returns what the copy wrote (files, links and the directories it filled),
        for COPY's `--chown` and `--chmod`.
        """
        written: list[Path] = []
        if source.path.is_dir():
            self._copy_tree(source.path, source.rel, source.info, target, keep=True, out=written)
        elif into:
            target.mkdir(parents=True, exist_ok=True)
            # named as the Dockerfile named it, not as a link it went through points
            written.append(target / PurePosixPath(source.rel).name)
            _copy_file(source.path, written[-1])
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            _copy_file(source.path, target)
            written.append(target)
        return written

    def _entries(
        self, directory: Path, rel: str, info: MatchInfo
    ) -> Iterator[tuple[os.DirEntry[str], str, bool, MatchInfo]]:
        """Each entry worth looking at: (entry, its context path, excluded, what it matched).

        An excluded file is left out, and so is an excluded directory unless an
        exception could reach into it.
        """
        with os.scandir(directory) as it:
            entries = sorted(it, key=lambda e: e.name)
        for entry in entries:
            child = entry.name if rel == "." else f"{rel}/{entry.name}"
            excluded, child_info = self.ignore.step(child, info)
            if excluded and not (
                entry.is_dir(follow_symlinks=False) and self.ignore.may_include_below(child)
            ):
                continue
            yield entry, child, excluded, child_info

    def _holds_any(self, directory: Path, rel: str, info: MatchInfo) -> bool:
        """Whether an excluded directory has something brought back below it."""
        if not self.ignore.may_include_below(rel):
            return False
        for entry, child, excluded, child_info in self._entries(directory, rel, info):
            if not excluded or self._holds_any(Path(entry.path), child, child_info):
                return True
        return False

    def _copy_tree(
        self,
        directory: Path,
        rel: str,
        info: MatchInfo,
        target: Path,
        *,
        keep: bool,
        out: list[Path],
    ) -> bool:
        """Copy what the context holds of `directory` into `target`, made if `keep` or
        if anything lands in it; whether it was."""
        made = keep
        if keep:
            target.mkdir(parents=True, exist_ok=True)
        for entry, child, excluded, child_info in self._entries(directory, rel, info):
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                made |= self._copy_tree(
                    path, child, child_info, target / entry.name, keep=not excluded, out=out
                )
            elif entry.is_symlink() or entry.is_file(follow_symlinks=False):
                target.mkdir(parents=True, exist_ok=True)
                _copy_file(path, target / entry.name)
                out.append(target / entry.name)
                made = True
            # sockets, fifos and devices are not copied (reading a fifo would block)
        if made:
            shutil.copystat(directory, target)
            out.append(target)
        return made


def _glob(root: Path, pattern: str) -> list[str]:
    """The paths under `root` that `pattern` matches, component by component with Go's
    `filepath.Match` as Docker resolves COPY wildcards: unlike a shell, `*` matches
    names that start with a dot, and `[^...]` negates a class."""
    problem = match_syntax_error(pattern)
    if problem:
        raise ContextError(f"syntax error in pattern ({problem})")
    found = [str(root)]
    for part in (p for p in pattern.split("/") if p and p != "."):
        if not any(c in part for c in "*?[\\"):
            found = [os.path.join(d, part) for d in found if os.path.lexists(os.path.join(d, part))]
            continue
        regexp = re.compile(_component_regexp(part), re.DOTALL)
        matched: list[str] = []
        for directory in found:
            if not os.path.isdir(directory):
                continue
            with os.scandir(directory) as it:
                names = sorted(e.name for e in it)
            matched.extend(os.path.join(directory, n) for n in names if regexp.fullmatch(n))
        found = matched
    return sorted(found)


def _component_regexp(part: str) -> str:
    """One path component of a Go `filepath.Match` pattern (already checked) as a regexp."""
    out: list[str] = []
    i, n = 0, len(part)
    while i < n:
        ch = part[i]
        i += 1
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            out.append(re.escape(part[i]))
            i += 1
        elif ch == "[":
            out.append("[")
            if part[i] == "^":
                out.append("^")
                i += 1
            while part[i] != "]":  # a checked class is never empty and always closed
                escaped = part[i] == "\\"
                i += escaped
                out.append("-" if part[i] == "-" and not escaped else re.escape(part[i]))
                i += 1
            out.append("]")
            i += 1
        else:
            out.append(re.escape(ch))
    return "".join(out)


def _copy_file(path: Path, target: Path) -> None:
    """A file (content and metadata) or a link (as a link) over whatever non-directory
    is at `target`."""
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        target.unlink()
    if path.is_symlink():
        os.symlink(os.readlink(path), target)
    else:
        shutil.copy2(path, target)
