"""`kubelite up` refuses bad input with one line, before creating anything."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from kubelite.cli import main
from kubelite.cli.nodeconfig import node_names

runner = CliRunner()


def _up(tmp_path: Path, *args: str) -> Any:
    return runner.invoke(main.app, ["up", "--data-dir", str(tmp_path / "data"), *args])


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """What `up` would start with, instead of starting it."""
    calls: list[Any] = []
    monkeypatch.setattr(main, "_run_foreground", lambda *a: calls.append(("fg", a)))
    monkeypatch.setattr(main, "_detach", lambda *a: calls.append(("detach", a)))
    return calls


def _one_line_error(result: Any) -> str:
    text = result.output.strip()
    assert "Traceback" not in text, text
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return " ".join(text.split())


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_port_out_of_range(tmp_path: Path, port: str, started: list[Any]) -> None:
    result = _up(tmp_path, "--port", port)
    assert result.exit_code == 2
    assert "Invalid value for '--port'" in _one_line_error(result)
    assert not started and not (tmp_path / "data").exists()


def _scheduler_config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "sched.yaml"
    path.write_text(text)
    return str(path)


def test_scheduler_config_with_broken_yaml(tmp_path: Path, started: list[Any]) -> None:
    result = _up(tmp_path, "--scheduler-config", _scheduler_config(tmp_path, "foo: [\n"))
    assert result.exit_code == 1
    message = _one_line_error(result)
    assert message.startswith("error: invalid scheduler config")
    assert "not valid YAML" in message
    assert not started and not (tmp_path / "data").exists()


def test_scheduler_config_with_an_unknown_scoring_strategy(
    tmp_path: Path, started: list[Any]
) -> None:
    text = """apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- pluginConfig:
  - name: NodeResourcesFit
    args: {scoringStrategy: {type: Bogus}}
"""
    result = _up(tmp_path, "--scheduler-config", _scheduler_config(tmp_path, text))
    assert result.exit_code == 1
    assert _one_line_error(result).endswith(
        'profiles[0].pluginConfig[0].args.scoringStrategy.type: Unsupported value: "Bogus": '
        'supported values: "LeastAllocated", "MostAllocated", "RequestedToCapacityRatio"'
    )
    assert not started and not (tmp_path / "data").exists()


def _config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "cluster.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("text", "wanted"),
    [
        ("nodes: [\n", "not valid YAML"),
        ("workers: []\n", 'workers: unknown field "workers"'),
        ("nodes: [{cpu: 2}]\n", 'nodes[0].cpu: unknown field "cpu"'),
        ("nodes: [{capacity: {cpu: two}}]\n", 'nodes[0].capacity[cpu]: Invalid value: "two"'),
        ("nodes: [{capacity: {cpu: -1}}]\n", "must be greater than or equal to 0"),
        (
            "nodes: [{taints: [{key: a, effect: Never}]}]\n",
            'nodes[0].taints[0].effect: Unsupported value: "Never": supported values: '
            '"NoSchedule", "PreferNoSchedule", "NoExecute"',
        ),
        ("nodes: [{taints: [{key: a}]}]\n", "nodes[0].taints[0].effect: Required value"),
        ("nodes: [{labels: {'a b': x}}]\n", 'nodes[0].labels: Invalid value: "a b"'),
        ("nodes: [{labels: {a: 'x y'}}]\n", 'nodes[0].labels: Invalid value: "x y"'),
        ("nodes: [{name: nosuch}]\n", 'nodes[0].name: Not found: "nosuch"'),
        ("nodes: [{}, {}, {}]\n", "nodes: 3 entries for 2 node(s)"),
    ],
)
def test_bad_cluster_configs(tmp_path: Path, text: str, wanted: str, started: list[Any]) -> None:
    result = _up(tmp_path, "--nodes", "2", "--config", _config(tmp_path, text))
    assert result.exit_code == 1
    message = _one_line_error(result)
    assert message.startswith("error: invalid cluster config"), message
    assert wanted in message
    assert not started and not (tmp_path / "data").exists()


def test_missing_cluster_config(tmp_path: Path, started: list[Any]) -> None:
    result = _up(tmp_path, "--config", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 1
    assert "cannot read cluster config" in _one_line_error(result)
    assert not started


def test_cluster_config_reaches_the_cluster(tmp_path: Path, started: list[Any]) -> None:
    second = node_names(2)[1]
    text = f"""nodes:
- labels: {{zone: a}}
  capacity: {{cpu: 2, memory: 1.5Gi}}
- name: {second}
  taints: [{{key: dedicated, value: gpu, effect: NoSchedule}}]
"""
    result = _up(tmp_path, "--nodes", "2", "--config", _config(tmp_path, text))
    assert result.exit_code == 0, result.output
    (kind, args), *_ = started
    assert kind == "fg"
    config = args[-1]
    first, other = config["nodes"]
    assert first["name"] == node_names(2)[0] and first["labels"] == {"zone": "a"}
    assert first["capacity"]["cpu"] == "2" and first["capacity"]["memory"] == "1536Mi"
    assert first["capacity"]["pods"] == "110"  # figures not given keep the machine's
    assert other == {
        "name": second,
        "taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}],
    }


def test_detach_passes_the_cluster_config_on(tmp_path: Path, started: list[Any]) -> None:
    path = _config(tmp_path, "nodes: [{labels: {zone: a}}]\n")
    result = _up(tmp_path, "--detach", "--config", path)
    assert result.exit_code == 0, result.output
    (kind, args), *_ = started
    assert kind == "detach"
    assert args[-1][-2:] == ["--config", str(Path(path).resolve())]


def test_a_store_file_that_is_not_one_is_one_line(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    (data / "state.db").write_bytes(b"not a database at all")
    result = _up(tmp_path, "--port", "0")
    assert result.exit_code == 1
    line = _one_line_error(result)
    assert line.endswith(
        f"error: cannot start: cannot open {data / 'state.db'}: file is not a database"
    )


def test_a_data_dir_that_is_a_file_is_named(tmp_path: Path) -> None:
    from kubelite.cli.datadir import DataDir

    (tmp_path / "afile").write_text("hi\n")
    with pytest.raises(NotADirectoryError) as caught:
        DataDir(tmp_path / "afile").ensure()
    assert caught.value.filename == str(tmp_path / "afile")
    assert caught.value.strerror == "not a directory (the data dir must be one)"
    assert (tmp_path / "afile").read_text() == "hi\n"


def test_a_busy_api_port_is_named_and_a_busy_collector_port_moves() -> None:
    import socket

    from kubelite.cli.cluster import Listener, ListenError, bind_listener

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ListenError) as caught:
            bind_listener("127.0.0.1", Listener("api", None, port))
        assert caught.value.strerror == (
            f"cannot listen on 127.0.0.1:{port} (api): Address already in use"
            " (--port picks another; --port 0, free ones)"
        )
        moved = bind_listener("127.0.0.1", Listener("zipkin", None, port))
        with moved:
            assert moved.getsockname()[1] not in (0, port)
