from __future__ import annotations

import pytest

from kubelite.kubelet import dockerfile as df


@pytest.mark.parametrize(
    ("text", "keywords", "exec_forms"),
    [
        pytest.param('FROM scratch\nCMD ["a", "b"]\n', ["CMD"], [("a", "b")], id="exec-form"),
        pytest.param("FROM scratch\nCMD echo hi\n", ["CMD"], [None], id="shell-form"),
        pytest.param(
            "# c\n\nfrom scratch\nrun echo a \\\n  && echo b\n",
            ["RUN"],
            [None],
            id="continuation-lowercase",
        ),
        pytest.param("FROM scratch\nCMD [not json\n", ["CMD"], [None], id="bad-json-is-shell"),
    ],
)
def test_parse_forms(text: str, keywords: list[str], exec_forms: list[object]) -> None:
    parsed = df.parse(text)
    assert [i.keyword for i in parsed.instructions] == keywords
    assert [i.exec_form for i in parsed.instructions] == exec_forms


def test_continuation_joins_lines_and_keeps_first_line_number() -> None:
    parsed = df.parse("FROM scratch\nRUN echo a \\\n  && echo b\nCMD x\n")
    assert parsed.instructions[0].args == "echo a && echo b"
    assert parsed.instructions[0].line == 2
    assert parsed.instructions[1].line == 4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "FROM scratch\nUSER nobody\n", "line 2: unsupported instruction USER", id="unsupported"
        ),
        pytest.param(
            "FROM scratch\n\n\nHEALTHCHECK NONE\n",
            "line 4: unsupported instruction HEALTHCHECK",
            id="line-number",
        ),
        pytest.param("CMD x\n", "line 1: the first instruction must be FROM", id="no-from"),
        pytest.param("FROM scratch\nFROM scratch\n", "line 2: multi-stage", id="multi-stage"),
        pytest.param("FROM scratch\nWORKDIR\n", "line 2: WORKDIR needs an argument", id="empty"),
    ],
)
def test_parse_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(df.DockerfileError, match=message):
        df.parse(text)


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        ("A=1 B=2", {}, [("A", "1"), ("B", "2")]),
        ('A="two words"', {}, [("A", "two words")]),
        ("KEY value with spaces", {}, [("KEY", "value with spaces")]),
        ("P=$HOME/bin:${X}", {"HOME": "/h", "X": "x"}, [("P", "/h/bin:x")]),
    ],
)
def test_parse_env(args: str, env: dict[str, str], expected: list[tuple[str, str]]) -> None:
    assert df.parse_env(1, args, env) == expected


def test_copy_and_expose() -> None:
    assert df.parse_copy(3, "--chown=1:1 a.py b/ /app/", {}) == df.CopyArgs(
        ["a.py", "b/"], "/app/", chown="1:1"
    )
    with pytest.raises(df.DockerfileError, match="COPY --from"):
        df.parse_copy(3, "--from=build /x /y", {})
    assert df.parse_expose(4, "8080 53/UDP", {}) == ["8080/tcp", "53/udp"]


def test_shell_or_exec() -> None:
    parsed = df.parse('FROM scratch\nCMD ["python", "app.py"]\nENTRYPOINT run me\n')
    assert df.shell_or_exec(parsed.instructions[0]) == ["python", "app.py"]
    assert df.shell_or_exec(parsed.instructions[1]) == ["/bin/sh", "-c", "run me"]


def test_a_utf8_bom_before_from_is_dropped_as_buildkit_drops_it() -> None:
    parsed = df.parse("\ufeffFROM python:3.11\nRUN echo bom-ok\n")
    assert parsed.base == "python:3.11"
    assert [i.args for i in parsed.instructions] == ["echo bom-ok"]


def test_an_unprintable_instruction_is_shown_escaped() -> None:
    with pytest.raises(df.DockerfileError, match=r"unsupported instruction '\\x00FROM'"):
        df.parse("\x00FROM scratch\n")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param("--chown=1000:1000 --chmod=600 f /a/f", ("1000:1000", 0o600), id="both"),
        pytest.param("--chmod=0755 f /a/", (None, 0o755), id="chmod"),
        pytest.param("--chown=$U f /a/", ("app", None), id="chown-substituted"),
        pytest.param('--link --chown=app:staff ["f", "/a/"]', ("app:staff", None), id="json"),
        pytest.param("--link=false f /a/", (None, None), id="link-false"),
    ],
)
def test_copy_flags(args: str, expected: tuple[str | None, int | None]) -> None:
    parsed = df.parse_copy(2, args, {"U": "app"})
    assert (parsed.chown, parsed.chmod) == expected
    assert parsed.sources == ["f"]


@pytest.mark.parametrize(
    ("args", "sources"),
    [
        pytest.param("-- --odd /a/", ["--odd"], id="double-dash-ends-the-flags"),
        pytest.param("f --chown=1 /a/", ["f", "--chown=1"], id="only-leading-words-are-flags"),
    ],
)
def test_copy_flags_are_only_the_leading_words(args: str, sources: list[str]) -> None:
    assert df.parse_copy(2, args, {}).sources == sources


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param("--bogus=1 f /a", "line 2: unknown flag: bogus", id="unknown"),
        pytest.param("--chown f /a", "line 2: missing a value on flag: chown", id="no-value"),
        pytest.param("--chmod=u+x f /a", "line 2: COPY --chmod=u\\+x: kubelite takes", id="sym"),
        pytest.param("--chmod=8 f /a", "line 2: COPY --chmod=8", id="not-octal"),
        pytest.param("--parents a/b /x", "line 2: COPY --parents is not supported", id="parents"),
        pytest.param("--exclude=*.md . /x", "line 2: COPY --exclude is not supported", id="excl"),
        pytest.param("--link=maybe f /a", "line 2: expecting boolean value", id="bad-bool"),
    ],
)
def test_copy_flag_errors_name_the_line(args: str, message: str) -> None:
    with pytest.raises(df.DockerfileError, match=message):
        df.parse_copy(2, args, {})


@pytest.mark.parametrize(
    ("line", "message"),
    [
        pytest.param(
            "RUN --mount=type=cache,target=/root/.cache pip install x",
            "line 2: RUN --mount is not supported",
            id="mount",
        ),
        pytest.param("RUN --network=none true", "line 2: RUN --network is not", id="net-none"),
        pytest.param("RUN --security=insecure true", "line 2: RUN --security is", id="security"),
        pytest.param("RUN --frobnicate true", "line 2: unknown flag: frobnicate", id="unknown"),
        pytest.param("RUN --network=host", "line 2: RUN needs an argument", id="flag-only"),
    ],
)
def test_run_flags_are_refused_not_passed_to_the_shell(line: str, message: str) -> None:
    with pytest.raises(df.DockerfileError, match=message):
        df.parse(f"FROM scratch\n{line}\n")


def test_run_network_host_is_how_kubelite_runs_anyway() -> None:
    parsed = df.parse('FROM scratch\nRUN --network=host ["echo", "hi"]\n')
    assert parsed.instructions[0].exec_form == ("echo", "hi")


def test_from_platform_is_refused() -> None:
    with pytest.raises(df.DockerfileError, match="line 1: FROM --platform is not supported"):
        df.parse("FROM --platform=linux/arm64 python:3.11\n")
