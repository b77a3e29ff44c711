"""`kubelite up --authorization-mode`: AlwaysAllow (the default) or RBAC, nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kubelite.cli import main

runner = CliRunner()


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    calls: list[Any] = []
    monkeypatch.setattr(main, "_run_foreground", lambda *a: calls.append(("fg", a)))
    monkeypatch.setattr(main, "_detach", lambda *a: calls.append(("detach", a)))
    return calls


def _up(tmp_path: Path, *args: str) -> Any:
    return runner.invoke(main.app, ["up", "--data-dir", str(tmp_path / "data"), *args])


@pytest.mark.parametrize("mode", ["rbac", "Node,RBAC", "AlwaysDeny", ""])
def test_unknown_mode_is_one_line_before_anything_starts(
    tmp_path: Path, mode: str, started: list[Any]
) -> None:
    result = _up(tmp_path, "--authorization-mode", mode)
    assert result.exit_code == 1
    text = " ".join(result.output.split())
    assert text == f'error: unknown --authorization-mode "{mode}": use AlwaysAllow or RBAC'
    assert not started and not (tmp_path / "data").exists()


def test_default_is_always_allow(tmp_path: Path, started: list[Any]) -> None:
    assert _up(tmp_path).exit_code == 0
    (kind, args), *_ = started
    assert kind == "fg" and "RBAC" not in args


def test_rbac_reaches_the_cluster_and_the_detached_process(
    tmp_path: Path, started: list[Any]
) -> None:
    assert _up(tmp_path, "--authorization-mode", "RBAC").exit_code == 0
    assert _up(tmp_path, "--authorization-mode", "RBAC", "--detach").exit_code == 0
    (fg, fg_args), (detach, detach_args) = started
    assert fg == "fg" and fg_args[-1] == "RBAC"
    assert detach == "detach" and detach_args[-1][-2:] == ["--authorization-mode", "RBAC"]
