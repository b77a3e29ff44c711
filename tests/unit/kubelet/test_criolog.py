from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from kubelite.kubelet import criolog
from kubelite.kubelet.criolog import Limiter, LogWriter, ReadOptions

T0 = 1_475_712_629_669_794_202  # 2016-10-06T00:10:29.669794202Z


@pytest.mark.parametrize(
    ("ns", "expected"),
    [
        (T0, "2016-10-06T00:10:29.669794202Z"),
        (1_475_712_629_500_000_000, "2016-10-06T00:10:29.5Z"),
        (1_475_712_629_000_000_000, "2016-10-06T00:10:29Z"),
    ],
)
def test_timestamp_is_go_rfc3339nano(ns: int, expected: str) -> None:
    assert criolog.format_timestamp(ns) == expected
    assert abs(criolog.parse_timestamp(expected) - ns / 1e9) < 1e-6


def writer(tmp_path: Path, **kw: int) -> LogWriter:
    clock = itertools.count(T0, 1_000_000_000)
    return LogWriter(tmp_path / "0.log", now_ns=lambda: next(clock), **kw)


def test_lines_are_cri_records(tmp_path: Path) -> None:
    w = writer(tmp_path)
    w.feed("stdout", b"hello\nwor")
    w.feed("stderr", b"oops\n")
    w.feed("stdout", b"ld\n")
    w.close()
    assert (tmp_path / "0.log").read_text().splitlines() == [
        "2016-10-06T00:10:29.669794202Z stdout F hello",
        "2016-10-06T00:10:30.669794202Z stderr F oops",
        "2016-10-06T00:10:31.669794202Z stdout F world",
    ]


def test_long_line_is_split_in_partials(tmp_path: Path) -> None:
    w = writer(tmp_path)
    w.feed("stdout", b"x" * (criolog.MAX_LINE + 10) + b"\n")
    w.close()
    tags = [line.split(b" ")[2] for line in (tmp_path / "0.log").read_bytes().splitlines()]
    assert tags == [b"P", b"F"]
    entries = criolog.read_entries(tmp_path / "0.log", ReadOptions())
    assert (
        b"".join(criolog.render(e, False) for e in entries)
        == b"x" * (criolog.MAX_LINE + 10) + b"\n"
    )


def test_unterminated_output_is_flushed_on_close(tmp_path: Path) -> None:
    w = writer(tmp_path)
    w.feed("stdout", b"no newline")
    w.close()
    assert (tmp_path / "0.log").read_text().endswith("stdout F no newline\n")


def test_a_writer_makes_its_directory_and_appends(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "c" / "0.log"
    clock = itertools.count(T0, 1_000_000_000)
    for text in (b"one\n", b"two\n"):
        w = LogWriter(path, now_ns=lambda: next(clock))
        w.feed("stdout", text)
        w.close()
    assert [e.content for e in criolog.read_entries(path, ReadOptions())] == [b"one", b"two"]


def test_rotation_keeps_max_files(tmp_path: Path) -> None:
    w = writer(tmp_path, max_size=200, max_files=3)
    for i in range(40):
        w.feed("stdout", b"line %d\n" % i)
    w.close()
    files = criolog.files(tmp_path / "0.log")
    assert len(files) == 3
    assert files[-1] == tmp_path / "0.log"
    entries = criolog.read_entries(tmp_path / "0.log", ReadOptions())
    numbers = [int(e.content.split()[1]) for e in entries]
    assert numbers == sorted(numbers) and numbers[-1] == 39


@pytest.mark.parametrize(
    ("opts", "expected"),
    [
        pytest.param(ReadOptions(), b"a\nb\nc\n", id="all"),
        pytest.param(ReadOptions(tail_lines=2), b"b\nc\n", id="tail"),
        pytest.param(ReadOptions(tail_lines=0), b"", id="tail-zero"),
        pytest.param(ReadOptions(since=T0 / 1e9 + 0.5), b"b\nc\n", id="since"),
        pytest.param(
            ReadOptions(tail_lines=1, timestamps=True),
            b"2016-10-06T00:10:31.669794202Z c\n",
            id="timestamps",
        ),
    ],
)
def test_read_options(tmp_path: Path, opts: ReadOptions, expected: bytes) -> None:
    w = writer(tmp_path)
    w.feed("stdout", b"a\nb\nc\n")
    w.close()
    got = b"".join(
        criolog.render(e, opts.timestamps) for e in criolog.read_entries(tmp_path / "0.log", opts)
    )
    assert got == expected


def test_limiter() -> None:
    lim = Limiter(5)
    assert lim.take(b"abc") == (b"abc", False)
    assert lim.take(b"defg") == (b"de", True)
    assert Limiter(None).take(b"x") == (b"x", False)


def test_options_from_query() -> None:
    opts = ReadOptions.from_query(
        {"tailLines": "3", "sinceSeconds": "10", "timestamps": "true", "limitBytes": "9"}, 100.0
    )
    assert opts == ReadOptions(tail_lines=3, since=90.0, timestamps=True, limit_bytes=9)
