from __future__ import annotations

import pytest

from kubelite.kubelet.command import expand, resolve_argv

IMAGE = {"Entrypoint": ["/entry"], "Cmd": ["--default"]}


@pytest.mark.parametrize(
    ("container", "expected"),
    [
        pytest.param({}, ["/entry", "--default"], id="image-only"),
        pytest.param({"args": ["-x"]}, ["/entry", "-x"], id="args-replace-cmd"),
        pytest.param({"command": ["/bin/app"]}, ["/bin/app"], id="command-drops-image-cmd"),
        pytest.param(
            {"command": ["/bin/app"], "args": ["a"]}, ["/bin/app", "a"], id="command-and-args"
        ),
    ],
)
def test_resolve_argv(container: dict, expected: list[str]) -> None:
    assert resolve_argv(container, IMAGE) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$(A)", "1"),
        ("x-$(A)-$(B)", "x-1-two"),
        ("$(MISSING)", "$(MISSING)"),
        ("$$(A)", "$(A)"),
        ("$$", "$"),
        ("cost $5", "cost $5"),
        ("$(A", "$(A"),
        ("end$", "end$"),
        ("$()", "$()"),
    ],
)
def test_expand(text: str, expected: str) -> None:
    assert expand(text, {"A": "1", "B": "two"}) == expected
