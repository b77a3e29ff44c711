"""Restarts keep every object and resourceVersion; compacted history answers 410."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.e2e


def test_objects_and_resource_versions_survive_restart(fresh_cluster, seed_manifest):
    c = fresh_cluster
    c.kubectl("apply", "-f", str(seed_manifest))
    c.kubectl("create", "configmap", "keep", "--from-literal=a=1")
    before = {
        name: c.kubectl_json("get", kind, name)["metadata"]
        for kind, name in (("deploy", "go-app"), ("cm", "keep"))
    }
    c.stop()
    c.start()
    for kind, name in (("deploy", "go-app"), ("cm", "keep")):
        after = c.kubectl_json("get", kind, name)["metadata"]
        assert after["resourceVersion"] == before[name]["resourceVersion"]
        assert after["uid"] == before[name]["uid"]
    c.kubectl("create", "configmap", "later")
    later = c.kubectl_json("get", "cm", "later")["metadata"]["resourceVersion"]
    assert int(later) > max(int(m["resourceVersion"]) for m in before.values())


def test_acknowledged_writes_survive_sigkill(fresh_cluster):
    c = fresh_cluster
    c.kubectl("create", "configmap", "acked", "--from-literal=k=v")
    pid = c.status["pid"]
    os.kill(pid, 9)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
        time.sleep(0.05)
    c.start()
    assert c.kubectl_json("get", "cm", "acked")["data"] == {"k": "v"}


def test_watch_from_compacted_revision_is_410(tmp_path):
    env = dict(os.environ, KUBELITE_HISTORY="5", KUBELITE_COMPACT_INTERVAL="0.2")
    data = tmp_path / "data"
    up = [
        sys.executable,
        "-m",
        "kubelite",
        "up",
        "--port",
        "0",
        "--detach",
        "--data-dir",
        str(data),
    ]
    subprocess.run(up, check=True, env=env, capture_output=True, timeout=60)
    try:
        from kubernetes import client, config, watch
        from kubernetes.client.exceptions import ApiException

        api = config.new_client_from_config(config_file=str(data / "kubeconfig"))
        core = client.CoreV1Api(api)
        first = core.create_namespaced_config_map(
            "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name="c0"))
        )
        for i in range(1, 20):
            core.create_namespaced_config_map(
                "default", client.V1ConfigMap(metadata=client.V1ObjectMeta(name=f"c{i}"))
            )
        time.sleep(1.0)  # let compaction run
        with pytest.raises(ApiException) as info:
            for _ in watch.Watch().stream(
                core.list_namespaced_config_map,
                "default",
                resource_version=first.metadata.resource_version,
                timeout_seconds=5,
            ):
                pass
        assert info.value.status == 410
    finally:
        subprocess.run(
            [sys.executable, "-m", "kubelite", "down", "--data-dir", str(data)],
            capture_output=True,
            timeout=60,
        )
