"""What the CLI prints is what the user wrote: no emoji codes, no wrapping, one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kubelite.cli import main

runner = CliRunner()


def _scratch_context(tmp_path: Path) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY f /f\n")
    (ctx / "f").write_text("x\n")
    return ctx


def test_build_prints_one_unwrapped_line_with_the_tag_as_written(tmp_path: Path) -> None:
    tag = "registry.example:5000/" + "team/" * 12 + "app:b"  # past 80 columns
    data = str(tmp_path / "data")
    result = runner.invoke(
        main.app, ["build", "-t", tag, "--data-dir", data, str(_scratch_context(tmp_path))]
    )
    assert result.exit_code == 0, result.output
    last = result.stdout.splitlines()[-1]
    words = last.split(" ")
    assert words[:2] == ["built", tag] and words[2].startswith("sha256:") and len(words) == 3


def test_build_with_a_tag_that_is_no_reference_fails_in_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    result = runner.invoke(
        main.app, ["build", "-t", "a:b:c", "--data-dir", str(data), str(_scratch_context(tmp_path))]
    )
    assert result.exit_code == 1
    assert result.output == 'error: invalid tag "a:b:c": invalid reference format\n'


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["status", "--data-dir", "{tmp}/:fire:"], id="status"),
        pytest.param(
            ["build", "-t", "a:1", "--data-dir", "{tmp}/d", "{tmp}/:x:/:thumbs_up:"], id="build"
        ),
    ],
)
def test_error_lines_quote_paths_as_written(tmp_path: Path, args: list[str]) -> None:
    result = runner.invoke(main.app, [a.replace("{tmp}", str(tmp_path)) for a in args])
    assert result.exit_code == 1
    assert result.output.startswith("error: ")
    assert (":fire:" in result.output) or (":x:/:thumbs_up:" in result.output), result.output
    assert len(result.output.splitlines()) == 1


def test_a_failing_dockerfile_line_is_quoted_as_written(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text('FROM scratch\nCOPY "app:x:1000:1000::/home/app" /f\n')
    result = runner.invoke(
        main.app, ["build", "-t", "t/e:1", "--data-dir", str(tmp_path / "d"), str(ctx)]
    )
    assert result.exit_code == 1
    assert "COPY app:x:1000:1000::/home/app: no such file" in result.output


def test_explain_refuses_an_unknown_output_format(tmp_path: Path) -> None:
    result = runner.invoke(
        main.app, ["explain", "pod", "p", "-o", "yaml", "--data-dir", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert result.output == 'error: unknown output format "yaml": use table or json\n'


def _one_line(result: Any) -> str:
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return " ".join(result.output.split())


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(b"\xff\xfe\x00bad", "not valid UTF-8 (byte 0xff at offset 0)", id="utf16"),
        pytest.param(b"nodes: [\xc3]", "not valid UTF-8 (byte 0xc3 at offset 8)", id="truncated"),
    ],
)
def test_up_with_a_config_that_is_not_utf8_fails_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: bytes, message: str
) -> None:
    monkeypatch.setattr(main, "_run_foreground", lambda *a: pytest.fail("must not start"))
    config = tmp_path / "bad.yaml"
    config.write_bytes(content)
    result = runner.invoke(
        main.app, ["up", "--data-dir", str(tmp_path / "d"), "--config", str(config)]
    )
    assert result.exit_code == 1
    assert _one_line(result) == f"error: invalid cluster config {config}: {message}"


def test_up_reads_a_config_with_a_bom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[Any] = []
    monkeypatch.setattr(main, "_run_foreground", lambda *a: started.append(a))
    config = tmp_path / "c.yaml"
    config.write_bytes(b"\xef\xbb\xbfnodes: [{name: vm}]\n")
    result = runner.invoke(
        main.app, ["up", "--data-dir", str(tmp_path / "d"), "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    assert started
