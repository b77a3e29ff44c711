"""`.dockerignore` as Docker reads and applies it (moby/patternmatcher, BuildKit's walk)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubelite.kubelet import dockerignore as di


def matcher(*lines: str) -> di.Matcher:
    return di.parse("\n".join(lines))


@pytest.mark.parametrize(
    ("text", "patterns"),
    [
        pytest.param(
            "# c\n  # not a comment\n", ["# not a comment"], id="comment-only-at-column-1"
        ),
        pytest.param("\ufeffa\n\n   \n", ["a"], id="bom-and-blanks"),
        pytest.param("/foo/bar\n./x/\nfoo//y/../z\n", ["foo/bar", "x", "foo/z"], id="cleaned"),
        pytest.param("! /inverted/abs\n", ["!inverted/abs"], id="exception-trimmed-and-cleaned"),
        pytest.param("/\n", ["/"], id="lone-slash-kept"),
        pytest.param("a\r\nb\x0cc\r\n", ["a", "b\x0cc"], id="crlf-lines-only"),
    ],
)
def test_lines_are_read_as_docker_reads_them(text: str, patterns: list[str]) -> None:
    parsed = di.parse(text).patterns
    assert [("!" if p.exception else "") + p.text for p in parsed] == patterns


# (pattern, path, excluded): a single pattern, the path relative to the context root
CASES = [
    ("*", "file.go", True),
    ("*.go", "file.go", True),
    ("*.go", "dir/file.go", False),  # `*` does not cross `/`
    ("*/temp*", "somedir/temporary.txt", True),
    ("*/temp*", "temp", False),
    ("temp?", "tempa", True),
    ("temp?", "temp/x", False),
    ("abc.def", "abcZdef", False),  # `.` is literal
    ("a(b)c+$", "a(b)c+$", True),
    ("a[b-d]e", "ace", True),
    ("a[b-d]e", "aae", False),
    ("a[^b-d]e", "aze", True),
    ("[\\]a]", "]", True),
    ("[x\\-]", "-", True),
    ("a\\*b", "a*b", True),
    ("a\\*b", "axb", False),
    ("a?b", "a/b", False),
    ("a?b", "a☺b", True),
    ("docs", "docs/sub/README.md", True),  # a parent directory matched
    ("docs/", "docs/README.md", True),
    ("foo/bar", "x/foo/bar", False),  # anchored at the root
    ("**", "dir/file", True),
    ("**/dir", "dir", True),
    ("**/dir", "a/b/dir/file", True),
    ("**/*.txt", "file.txt", True),
    ("**/*.txt", "a/b/file.txt", True),
    ("**/**/*.txt2", "a/b/file.txt", False),
    ("**file", "dir/dir/file", True),
    ("**.txt", "a/b/notes.txt", True),  # the suffix shortcut: no directory boundary
    ("**/.foo", "bar.foo", False),
    ("abc/**", "abc", False),
    ("abc/**", "abc/def/ghi", True),
    ("a**/*.txt", "a/dir/dir/file.txt", True),
    ("dir/**", "dir/sub/file", True),
    (".*", ".git/config", True),
    (".*", "foo", False),
]


@pytest.mark.parametrize(
    ("pattern", "path", "excluded"), CASES, ids=[f"{c[0]} {c[1]}" for c in CASES]
)
def test_one_pattern(pattern: str, path: str, excluded: bool) -> None:
    assert matcher(pattern).excludes(path) is excluded


@pytest.mark.parametrize(
    ("lines", "path", "excluded"),
    [
        pytest.param(["*.md", "!README.md"], "README.md", False, id="exception-after"),
        pytest.param(["!README.md", "*.md"], "README.md", True, id="exception-before"),
        pytest.param(
            ["*.md", "!README*.md", "README-secret.md"], "README-secret.md", True, id="docs-1"
        ),
        pytest.param(
            ["*.md", "README-secret.md", "!README*.md"], "README-secret.md", False, id="docs-2"
        ),
        pytest.param(
            ["docs", "!docs/README.md"], "docs/README.md", False, id="back-from-excluded-dir"
        ),
        pytest.param(["docs", "!docs/README.md"], "docs/other.md", True, id="rest-stays-out"),
        pytest.param(["**", "!util/web"], "util/web/foo", False, id="exception-covers-below"),
        pytest.param(["**", "!util/web", "util/web/foo"], "util/web/foo", True, id="last-wins"),
        # Docker's walk: an exception not tried at the parent (nothing was excluded yet)
        # does not reach its children through the parent
        pytest.param(["x/y", "!x"], "x/y", True, id="walk-order"),
        pytest.param(["*", "!Dockerfile"], "Dockerfile", False, id="allow-list"),
        pytest.param(["*"], ".", False, id="root-never"),
    ],
)
def test_several_patterns(lines: list[str], path: str, excluded: bool) -> None:
    assert matcher(*lines).excludes(path) is excluded


@pytest.mark.parametrize(
    ("lines", "directory", "looks"),
    [
        pytest.param(["docs"], "docs", False, id="no-exceptions"),
        pytest.param(["docs", "!docs/README.md"], "docs", True, id="literal-below"),
        pytest.param(["docs", "!other/README.md"], "docs", False, id="literal-elsewhere"),
        pytest.param(["docs", "!**/*.py"], "docs", True, id="wildcard-anywhere"),
    ],
)
def test_looks_into_excluded_directory_only_when_an_exception_may_reach(
    lines: list[str], directory: str, looks: bool
) -> None:
    assert matcher(*lines).may_include_below(directory) is looks


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("ok\n!\n", r"line 2: illegal exclusion pattern", id="bare-bang"),
        pytest.param("a[\n", r"line 1: bad pattern 'a\[': malformed", id="unclosed-class"),
        pytest.param("x\n[]a]\n", r"line 2: bad pattern", id="empty-class"),
        pytest.param("[a-b-c]\n", r"line 1: bad pattern", id="double-range"),
        pytest.param("[-x]\n", r"line 1: bad pattern", id="leading-dash"),
        pytest.param("a\\\n", r"line 1: bad pattern .*trailing backslash", id="trailing-backslash"),
        pytest.param("[z-a]\n", r"line 1: bad pattern", id="backwards-range"),
    ],
)
def test_bad_patterns_name_their_line(text: str, message: str) -> None:
    with pytest.raises(di.IgnoreError, match=message):
        di.parse(text)


def test_load_missing_unreadable_and_present(tmp_path: Path) -> None:
    assert di.load(tmp_path).patterns == ()
    (tmp_path / ".dockerignore").mkdir()
    with pytest.raises(di.IgnoreError, match="cannot read .dockerignore: Is a directory"):
        di.load(tmp_path)
    (tmp_path / ".dockerignore").rmdir()
    (tmp_path / ".dockerignore").write_bytes(b"secrets\n.venv\n")
    assert di.load(tmp_path).excludes("secrets/key")
