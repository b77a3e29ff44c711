"""`kubelite up --nodes 2 --config FILE`: per-node labels, taints and capacity, seen by kubectl."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.e2e.conftest import Cluster, _new_cluster

pytestmark = pytest.mark.e2e

CONFIG = """nodes:
- labels: {zone: a, disk: ssd}
  capacity: {cpu: 2, memory: 4Gi, pods: 20}
- labels: {zone: b}
  taints: [{key: dedicated, value: gpu, effect: NoSchedule}]
"""


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("cluster-config")
    config = tmp / "cluster.yaml"
    config.write_text(CONFIG)
    c = _new_cluster(tmp)
    c.kubelite("up", "--port", "0", "--nodes", "2", "--config", str(config), "--detach")
    try:
        yield c
    finally:
        c.stop()


def test_nodes_carry_the_configured_labels_taints_and_capacity(cluster: Cluster) -> None:
    items = sorted(
        cluster.kubectl_json("get", "nodes")["items"], key=lambda n: n["metadata"]["name"]
    )
    assert len(items) == 2
    first, second = items
    assert first["metadata"]["labels"]["zone"] == "a"
    assert first["metadata"]["labels"]["disk"] == "ssd"
    assert second["metadata"]["labels"]["zone"] == "b"
    assert not first["spec"].get("taints")
    assert second["spec"]["taints"] == [
        {"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}
    ]
    capacity = first["status"]["capacity"]
    assert (capacity["cpu"], capacity["memory"], capacity["pods"]) == ("2", "4Gi", "20")
    assert "ephemeral-storage" in capacity  # figures the file does not give stay the machine's
    shown = cluster.kubectl("get", "nodes", "-L", "zone").stdout
    assert " a\n" in shown or shown.rstrip().splitlines()[1].endswith("a")


def test_a_bad_config_starts_nothing(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("nodes: [{taints: [{key: a, effect: Never}]}]\n")
    c = _new_cluster(tmp_path)
    proc = c.kubelite("up", "--port", "0", "--config", str(config), "--detach", check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("error: invalid cluster config")
    assert "Traceback" not in proc.stderr
    assert not c.data_dir.exists()
