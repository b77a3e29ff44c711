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
    assert df.parse_copy(3, "--chown=1:1 a.py b/ /app/", {}) == (["a.py", "b/"], "/app/")
    with pytest.raises(df.DockerfileError, match="COPY --from"):
        df.parse_copy(3, "--from=build /x /y", {})
    assert df.parse_expose(4, "8080 53/UDP", {}) == ["8080/tcp", "53/udp"]


def test_shell_or_exec() -> None:
    parsed = df.parse('FROM scratch\nCMD ["python", "app.py"]\nENTRYPOINT run me\n')
    assert df.shell_or_exec(parsed.instructions[0]) == ["python", "app.py"]
    assert df.shell_or_exec(parsed.instructions[1]) == ["/bin/sh", "-c", "run me"]
