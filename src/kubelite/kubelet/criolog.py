"""Container logs in the CRI format, rotated as the kubelet rotates them.

Each line is `<RFC3339Nano time> <stream> <tag> <content>`: tag `F` ends a
line, `P` is a piece of a longer one (lines over 16 KiB are split, like
containerd does). The current file is `<restart>.log`; at `max_size` it is
renamed with a timestamp suffix and at most `max_files` files are kept.
Reading merges rotated files oldest first, so `kubectl logs` sees one stream.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

MAX_SIZE = 10 * 1024 * 1024
MAX_FILES = 5
MAX_LINE = 16 * 1024


def format_timestamp(ns: int) -> str:
    """Go's RFC3339Nano: nanoseconds with trailing zeros trimmed."""
    secs, frac = divmod(ns, 1_000_000_000)
    base = datetime.fromtimestamp(secs, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    digits = f"{frac:09d}".rstrip("0")
    return f"{base}.{digits}Z" if digits else f"{base}Z"


def parse_timestamp(text: str) -> float:
    head, _, frac = text.rstrip("Z").partition(".")
    secs = datetime.strptime(head, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).timestamp()
    return secs + (float("0." + frac) if frac else 0.0)


@dataclass(frozen=True)
class Entry:
    timestamp: str
    stream: str
    partial: bool
    content: bytes

    @property
    def time(self) -> float:
        return parse_timestamp(self.timestamp)


def encode(stream: str, data: bytes, ns: int, *, partial: bool) -> bytes:
    return b"%s %s %s %s\n" % (
        format_timestamp(ns).encode(),
        stream.encode(),
        b"P" if partial else b"F",
        data,
    )


def parse_line(line: bytes) -> Entry | None:
    parts = line.rstrip(b"\n").split(b" ", 3)
    if len(parts) < 3:
        return None
    content = parts[3] if len(parts) == 4 else b""
    return Entry(parts[0].decode(), parts[1].decode(), parts[2] == b"P", content)


class LogWriter:
    """One container instance's log file; `feed` takes raw bytes from a stream."""

    def __init__(
        self,
        path: Path,
        *,
        max_size: int = MAX_SIZE,
        max_files: int = MAX_FILES,
        now_ns=time.time_ns,
    ) -> None:
        self.path = path
        self.max_size = max_size
        self.max_files = max_files
        self.now_ns = now_ns
        self._pending: dict[str, bytes] = {}
        self._fd = open_log(path)  # lives as long as the container
        self._size = os.lseek(self._fd, 0, os.SEEK_END)

    def feed(self, stream: str, data: bytes) -> None:
        buf = self._pending.get(stream, b"") + data
        lines = buf.split(b"\n")
        rest = lines.pop()
        out = [self._records(stream, line, final=True) for line in lines]
        while len(rest) >= MAX_LINE:
            out.append(self._records(stream, rest[:MAX_LINE], final=False))
            rest = rest[MAX_LINE:]
        self._pending[stream] = rest
        self._write(b"".join(out))

    def flush(self, stream: str) -> None:
        rest = self._pending.pop(stream, b"")
        if rest:
            self._write(self._records(stream, rest, final=True))

    def close(self) -> None:
        for stream in list(self._pending):
            self.flush(stream)
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def _records(self, stream: str, line: bytes, *, final: bool) -> bytes:
        ns = self.now_ns()
        chunks = [line[i : i + MAX_LINE] for i in range(0, len(line), MAX_LINE)] or [b""]
        last = len(chunks) - 1
        return b"".join(
            encode(stream, c, ns, partial=(i < last or not final)) for i, c in enumerate(chunks)
        )

    def _write(self, data: bytes) -> None:
        if not data:
            return
        if self._size and self._size + len(data) > self.max_size:
            self._rotate()
        os.write(self._fd, data)
        self._size += len(data)

    def _rotate(self) -> None:
        os.close(self._fd)
        self._fd = -1
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S.%f")
        os.replace(self.path, self.path.with_name(f"{self.path.name}.{stamp}"))
        for old in rotated(self.path)[: -(self.max_files - 1) or None]:
            old.unlink(missing_ok=True)
        self._fd = open_log(self.path)
        self._size = 0


_LOG_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC


def open_log(path: Path) -> int:
    """The log file's descriptor for appending; the file and its directories are made if missing.

    At the os level: a container start opens one, and pathlib's mkdir and
    open() cost more than the system calls they make.
    """
    try:
        return os.open(path, _LOG_FLAGS, 0o666)
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        return os.open(path, _LOG_FLAGS, 0o666)


def rotated(path: Path) -> list[Path]:
    """Rotated files of `path`, oldest first (their suffixes sort by time)."""
    return sorted(path.parent.glob(path.name + ".*"))


def files(path: Path) -> list[Path]:
    return [*rotated(path), *([path] if path.exists() else [])]


@dataclass(frozen=True)
class ReadOptions:
    tail_lines: int | None = None
    since: float | None = None  # unix seconds
    timestamps: bool = False
    limit_bytes: int | None = None

    @classmethod
    def from_query(cls, options: dict[str, str], now: float) -> ReadOptions:
        since = None
        if options.get("sinceSeconds"):
            since = now - int(options["sinceSeconds"])
        elif options.get("sinceTime"):
            since = parse_timestamp(options["sinceTime"].replace("+00:00", "Z"))
        tail = options.get("tailLines")
        limit = options.get("limitBytes")
        return cls(
            tail_lines=int(tail) if tail not in (None, "", "-1") else None,
            since=since,
            timestamps=options.get("timestamps") in ("true", "1", "True"),
            limit_bytes=int(limit) if limit else None,
        )


def render(entry: Entry, timestamps: bool) -> bytes:
    text = entry.content if entry.partial else entry.content + b"\n"
    return (entry.timestamp.encode() + b" " + text) if timestamps else text


def entries(lines: Iterable[bytes]) -> Iterator[Entry]:
    for line in lines:
        entry = parse_line(line)
        if entry is not None:
            yield entry


def read_entries(path: Path, opts: ReadOptions) -> list[Entry]:
    """Every entry of a container instance's log that passes `since` and `tail`."""
    selected: Iterable[Entry] = (
        e
        for f in files(path)
        for e in entries(_lines(f))
        if opts.since is None or e.time >= opts.since
    )
    if opts.tail_lines is not None:
        selected = _tail(selected, opts.tail_lines)
    return list(selected)


def _tail(items: Iterable[Entry], n: int) -> list[Entry]:
    """The last n *full* lines: partial pieces count with the line they end in."""
    if n <= 0:
        return []
    groups: deque[list[Entry]] = deque(maxlen=n)
    current: list[Entry] = []
    for e in items:
        current.append(e)
        if not e.partial:
            groups.append(current)
            current = []
    out = [e for g in groups for e in g]
    return out + current


TAIL_READ = 64 * 1024


def last_output(path: Path, *, lines: int, limit: int) -> bytes:
    """The last `limit` bytes of what `kubectl logs --tail=<lines>` shows of an
    instance (stdout and stderr together): a failed container's termination
    message when it wrote none.

    Only the files' last 64 KiB are read: 81 records fit in them unless the
    records are long, and then the last few already hold `limit` bytes.
    """
    chunks: list[bytes] = []
    need = TAIL_READ
    for f in reversed(files(path)):
        try:
            with f.open("rb") as fh:
                start = max(0, fh.seek(0, os.SEEK_END) - need)
                fh.seek(start)
                data = fh.read()
        except FileNotFoundError:
            continue
        if start > 0:
            data = data[data.find(b"\n") + 1 :]  # the first record was cut
        chunks.append(data)
        need -= len(data)
        if start > 0 or need <= 0:
            break
    raw = b"".join(reversed(chunks))
    picked = _tail(entries(raw.splitlines(keepends=True)), lines)
    return b"".join(render(e, False) for e in picked)[-limit:] if limit > 0 else b""


def _lines(path: Path) -> Iterator[bytes]:
    try:
        with path.open("rb") as fh:
            yield from fh
    except FileNotFoundError:
        return


class Limiter:
    """limitBytes: cut the stream after that many bytes."""

    def __init__(self, limit: int | None) -> None:
        self.left = limit

    def take(self, data: bytes) -> tuple[bytes, bool]:
        """(bytes to send, whether the limit is now reached)."""
        if self.left is None:
            return data, False
        data = data[: self.left]
        self.left -= len(data)
        return data, self.left <= 0
