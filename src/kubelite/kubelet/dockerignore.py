""".dockerignore: which paths of the build context COPY does not see.

The rules are Docker's (its `ignorefile` reader and `patternmatcher`, as
BuildKit applies them while it walks the context), followed to the letter
so that a context behaves here as it does under `docker build`:

- the file is `.dockerignore` at the context root; a UTF-8 byte-order mark
  at its start is dropped;
- a line whose *first character* is `#` is a comment (` # x` is a pattern);
- each line is trimmed and a blank one skipped; a leading `!` (the rest
  trimmed again) makes an exception; the pattern is cleaned as Go's
  `filepath.Clean` cleans it and one leading `/` dropped, so `/foo`,
  `./foo` and `foo/` all mean `foo`; a bare `!` is an error;
- the syntax is Go's `filepath.Match` (checked as it checks it: `*` and `?`
  never cross a `/`, `[...]` classes with ranges, negated by `^`, `\\`
  escapes the next character) plus `**`, any number of directories, none
  included; matching is done as Docker does it, by a regular expression
  made from the pattern, with its three shortcuts (a literal pattern is
  compared, `lit**` is a prefix, and `**lit` a suffix: `**.txt` is every
  `.txt` file);
- paths are matched from the context root down: a path is excluded when the
  last pattern that matches it, or that matched one of its parent
  directories, is not an exception. So `!docs/README.md` after `docs`
  brings that one file back (its directory comes with it).

Parsing raises `IgnoreError` naming the line; matching is pure.
"""

from __future__ import annotations

import enum
import posixpath
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

FILENAME = ".dockerignore"
_BOM = "\ufeff"
# What Docker escapes when it makes a regular expression of a pattern (the
# rest goes through as is: `^` stays an anchor, `[...]` a class).
_ESCAPED = frozenset(".+()|{}$")
_WILD = frozenset("*?[\\")
# What Go's strings.TrimSpace trims (Unicode White_Space; not the \x1c-\x1f Python adds).
_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


class IgnoreError(ValueError):
    """The .dockerignore cannot be read or holds a pattern Docker refuses."""


class _Kind(enum.Enum):
    EXACT = "exact"
    PREFIX = "prefix"  # literal then a final `**`
    SUFFIX = "suffix"  # a leading `**` then literal
    REGEXP = "regexp"


@dataclass(frozen=True)
class Pattern:
    text: str  # cleaned, without its `!`
    exception: bool  # a `!` line: what it matches is included again
    kind: _Kind
    regexp: re.Pattern[str] | None

    def matches(self, path: str) -> bool:
        if self.kind is _Kind.EXACT:
            return path == self.text
        if self.kind is _Kind.PREFIX:
            return path.startswith(self.text[:-2])
        if self.kind is _Kind.SUFFIX:
            suffix = self.text[2:]
            # `**/foo` matches `foo` itself too
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        assert self.regexp is not None
        return self.regexp.match(path) is not None


# What a path's ancestors matched, one flag per pattern (None at the top level).
MatchInfo = tuple[bool, ...] | None


@dataclass(frozen=True)
class Matcher:
    patterns: tuple[Pattern, ...] = ()

    @property
    def has_exceptions(self) -> bool:
        return any(p.exception for p in self.patterns)

    def step(self, path: str, parent: MatchInfo) -> tuple[bool, MatchInfo]:
        """Whether `path` (relative, cleaned, `/`-separated) is excluded, given what its
        parent directory matched; and what it matched, for its own children.

        As Docker's walk decides: a pattern its parent matched matches it too; a
        pattern is only tried while it could change the verdict (an exception
        once excluded, an exclusion while not).
        """
        if not self.patterns:
            return False, None
        excluded = False
        matched = [False] * len(self.patterns)
        for i, pattern in enumerate(self.patterns):
            hit = parent[i] if parent is not None else False
            if not hit:
                if pattern.exception != excluded:
                    continue
                hit = pattern.matches(path)
                if not hit and parent is None:
                    hit = any(pattern.matches(d) for d in _ancestors(path))
            matched[i] = hit
            if hit:
                excluded = not pattern.exception
        return excluded, tuple(matched)

    def lookup(self, path: str) -> tuple[bool, MatchInfo]:
        """`step` down from the context root to `path` (`.` is the root: never excluded)."""
        path = go_clean(path)
        if path == "." or not self.patterns:
            return False, None
        info: MatchInfo = None
        excluded = False
        parts = path.split("/")
        for n in range(1, len(parts) + 1):
            excluded, info = self.step("/".join(parts[:n]), info)
        return excluded, info

    def excludes(self, path: str) -> bool:
        return self.lookup(path)[0]

    def may_include_below(self, directory: str) -> bool:
        """Whether some exception could bring back a path under an excluded directory
        (Docker then walks into it; otherwise it skips it whole)."""
        prefix = directory + "/"
        return any(
            p.exception and (any(c in _WILD for c in p.text) or (p.text + "/").startswith(prefix))
            for p in self.patterns
        )


def _ancestors(path: str) -> list[str]:
    parent = posixpath.dirname(path)
    if not parent:
        return []
    parts = parent.split("/")
    return ["/".join(parts[: n + 1]) for n in range(len(parts))]


def go_clean(path: str) -> str:
    """Go's `filepath.Clean` on a Unix path."""
    cleaned = posixpath.normpath(path) if path else "."
    return cleaned[1:] if cleaned.startswith("//") else cleaned


def load(context: Path) -> Matcher:
    """The context's .dockerignore; none is an empty matcher."""
    path = context / FILENAME
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return Matcher()
    except OSError as exc:
        raise IgnoreError(f"cannot read {FILENAME}: {exc.strerror or exc}") from None
    return parse(data.decode("utf-8", errors="surrogateescape"))


def parse(text: str) -> Matcher:
    patterns: list[Pattern] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        raw = raw.removesuffix("\r")  # lines end as Go's line scanner ends them
        if number == 1:
            raw = raw.removeprefix(_BOM)
        line = _read_line(raw)
        if line is None:
            continue
        try:
            patterns.append(compile_pattern(line))
        except IgnoreError as exc:
            raise IgnoreError(f"{FILENAME} line {number}: {exc}") from None
    return Matcher(tuple(patterns))


def _read_line(raw: str) -> str | None:
    """One line as Docker's reader returns it: None for a comment or a blank."""
    if raw.startswith("#"):
        return None
    line = raw.strip(_SPACE)
    if not line:
        return None
    exception = line.startswith("!")
    if exception:
        line = line[1:].strip(_SPACE)
    if line:
        line = go_clean(line)
        if len(line) > 1 and line.startswith("/"):
            line = line[1:]
    return "!" + line if exception else line


def compile_pattern(line: str) -> Pattern:
    """A pattern as Docker's matcher makes it from a line (`!` included)."""
    text = go_clean(line.strip(_SPACE))
    exception = text.startswith("!")
    if exception:
        if len(text) == 1:
            raise IgnoreError('illegal exclusion pattern: "!"')
        text = text[1:]
    problem = match_syntax_error(text)
    if problem:
        raise IgnoreError(f"bad pattern {text!r}: {problem}")
    kind, source = _translate(text)
    regexp = None
    if kind is _Kind.REGEXP:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "possible nested set": as RE2 reads it
                regexp = re.compile(source, re.ASCII)
        except re.error as exc:
            raise IgnoreError(f"bad pattern {text!r}: {exc}") from None
    return Pattern(text, exception, kind, regexp)


def _translate(text: str) -> tuple[_Kind, str]:
    """The regular expression Docker makes of a pattern, and which shortcut applies."""
    out = ["^"]
    kind = _Kind.EXACT
    i, n = 0, len(text)
    while i < n:
        start, ch = i, text[i]
        i += 1
        if ch == "*" and i < n and text[i] == "*":
            i += 1
            if i < n and text[i] == "/":
                i += 1  # `**/` is `**`
            if i == n:  # a final `**` matches everything below
                if kind is _Kind.EXACT:
                    kind = _Kind.PREFIX
                else:
                    out.append(".*")
                    kind = _Kind.REGEXP
            else:  # any number of directories, none included
                out.append("(.*/)?")
                kind = _Kind.REGEXP
            if start == 0:
                kind = _Kind.SUFFIX
        elif ch == "*":
            out.append("[^/]*")
            kind = _Kind.REGEXP
        elif ch == "?":
            out.append("[^/]")
            kind = _Kind.REGEXP
        elif ch in _ESCAPED:
            out.append("\\" + ch)
        elif ch == "\\" and i < n:
            out.append("\\" + text[i])
            i += 1
            kind = _Kind.REGEXP
        elif ch in "[]":
            out.append(ch)
            kind = _Kind.REGEXP
        else:
            out.append(ch)
    out.append(r"\Z")
    return kind, "".join(out)


def match_syntax_error(pattern: str) -> str:
    """Why Go's `filepath.Match` would call `pattern` malformed ("" if it would not)."""
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            if i + 1 == n:
                return "trailing backslash"
            i += 2
        elif ch == "[":
            i = _class_end(pattern, i + 1)
            if i < 0:
                return "malformed character class"
        else:
            i += 1
    return ""


def _class_end(pattern: str, i: int) -> int:
    """Past the `]` of the class whose body starts at `i`; -1 if malformed."""
    n = len(pattern)
    if i < n and pattern[i] == "^":
        i += 1
    ranges = 0
    while True:
        if i < n and pattern[i] == "]" and ranges > 0:
            return i + 1
        i = _class_char(pattern, i)
        if i < 0:
            return -1
        if pattern[i] == "-":
            i = _class_char(pattern, i + 1)
            if i < 0:
                return -1
        ranges += 1


def _class_char(pattern: str, i: int) -> int:
    """Past one class character at `i` (Go's getEsc); -1 if there is none, or nothing after."""
    n = len(pattern)
    if i >= n or pattern[i] in "-]":
        return -1
    if pattern[i] == "\\":
        i += 1
        if i >= n:
            return -1
    i += 1
    return i if i < n else -1
