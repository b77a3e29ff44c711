"""A container's filesystem as on a cluster: HOME set, the root writable in a
layer of the container's own, read-only where upstream makes it so.

Each container may write anywhere in its root (`/root`, `/var/log`, `/opt`),
into a layer of its own that the next container (or the next run of the same
one) does not see, and no host file changes. `readOnlyRootFilesystem: true`
makes those writes fail with EROFS, and configMap, secret and projected
volumes are read-only whatever the volumeMount says. Run against the suite's
cluster and, when the suite runs as root, one run by `nobody` (containers in
user namespaces), as `test_low_ports` starts it.
"""

from __future__ import annotations

import json
import os
import pwd
import sys
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.polling import wait_for as _wait_for
from tests.e2e.test_low_ports import SETPRIV, rootless_cluster

pytestmark = pytest.mark.e2e
PY = "{}.{}".format(*sys.version_info[:2])
wait_for = partial(_wait_for, timeout=90, interval=0.3)

# Prints what the container sees and what its writes give, as one JSON line.
PROBE = """
import errno, json, os, sys
def write(path):
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a") as f:
            f.write("x")
        return "ok"
    except OSError as e:
        return errno.errorcode[e.errno]
paths = sys.argv[1:]
seen = [p for p in paths if os.path.exists(p)]
runs = len(os.listdir("/state")) if os.path.isdir("/state") else 0
if os.path.isdir("/state"):
    open(f"/state/run{runs}", "w").close()
out = {"home": os.environ.get("HOME"), "uid": os.getuid(), "run": runs, "seen": seen}
out["writes"] = {p: write(p) for p in paths}
print(json.dumps(out), flush=True)
sys.exit(1 if os.environ.get("FAIL_FIRST") and runs == 0 else 0)
"""


@pytest.fixture(scope="module", params=["as-run", "rootless"])
def fs_cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    if request.param == "as-run":
        yield request.getfixturevalue("cluster")
        return
    if os.geteuid() != 0:
        pytest.skip("the suite runs without root: its own cluster is already rootless")
    if SETPRIV is None:
        pytest.skip("setpriv (util-linux) is not installed: cannot run kubelite as nobody")
    if not Path("/proc/self/ns/user").exists():
        pytest.skip("no user namespaces: a rootless cluster gives containers no root of their own")
    with rootless_cluster("kubelite-rootless-fs-") as c:
        yield c


@pytest.fixture
def ns(fs_cluster: Cluster) -> str:
    name = "fs-" + uuid.uuid4().hex[:8]
    fs_cluster.kubectl("create", "namespace", name)
    return name


def probe(name: str, paths: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "name": name,
        "image": f"python:{PY}",
        "command": ["python3", "-c", PROBE, *paths],
        **extra,
    }


def apply_pod(cluster: Cluster, ns: str, name: str, spec: dict[str, Any]) -> None:
    spec = {"terminationGracePeriodSeconds": 1, **spec}
    manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(manifest))


def phase(cluster: Cluster, ns: str, name: str) -> str:
    got = cluster.kubectl_json("get", "pod", name, "-n", ns)
    return str((got.get("status") or {}).get("phase") or "")


def report(cluster: Cluster, ns: str, pod: str, container: str, *flags: str) -> dict[str, Any]:
    out = cluster.kubectl("logs", pod, "-n", ns, "-c", container, *flags).stdout
    found: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return found


def finished(cluster: Cluster, ns: str, name: str) -> str:
    got = phase(cluster, ns, name)
    return got if got in ("Succeeded", "Failed") else ""


def test_the_root_is_writable_in_a_layer_of_each_containers_own(
    fs_cluster: Cluster, ns: str
) -> None:
    tag = uuid.uuid4().hex[:8]
    paths = [f"/root/{tag}", f"/var/log/app-{tag}/out.log", f"/opt/{tag}", f"/srv/{tag}"]
    apply_pod(
        fs_cluster,
        ns,
        "layers",
        {
            "restartPolicy": "OnFailure",
            "volumes": [{"name": "state", "emptyDir": {}}],
            "initContainers": [probe("writer", paths)],
            "containers": [
                probe(
                    "reader",
                    paths,
                    env=[{"name": "FAIL_FIRST", "value": "1"}],
                    volumeMounts=[{"name": "state", "mountPath": "/state"}],
                )
            ],
        },
    )
    assert wait_for(lambda: finished(fs_cluster, ns, "layers"), "the pod to finish") == "Succeeded"
    writer = report(fs_cluster, ns, "layers", "writer")
    first = report(fs_cluster, ns, "layers", "reader", "--previous")
    second = report(fs_cluster, ns, "layers", "reader")
    assert writer["home"] == "/root" and writer["uid"] == 0
    for got in (writer, first, second):
        assert got["writes"] == dict.fromkeys(paths, "ok"), got
    # neither the next container nor the container's next run sees the writes
    assert (first["run"], first["seen"]) == (0, [])
    assert (second["run"], second["seen"]) == (1, [])
    # and the host never had them
    for path in paths:
        assert not os.path.exists(path), path


def test_home_comes_from_the_containers_user_unless_its_env_sets_it(
    fs_cluster: Cluster, ns: str
) -> None:
    try:
        expected = pwd.getpwuid(4242).pw_dir  # the host's /etc/passwd: the python image's
    except KeyError:
        expected = "/"
    apply_pod(
        fs_cluster,
        ns,
        "homes",
        {
            "restartPolicy": "Never",
            "containers": [
                probe("own", [], env=[{"name": "HOME", "value": "/data"}]),
                probe("user", [], securityContext={"runAsUser": 4242}),
            ],
        },
    )
    wait_for(lambda: finished(fs_cluster, ns, "homes"), "the pod to finish")
    assert report(fs_cluster, ns, "homes", "own")["home"] == "/data"
    assert report(fs_cluster, ns, "homes", "user")["home"] == expected


def test_a_read_only_root_and_config_volumes_refuse_writes(fs_cluster: Cluster, ns: str) -> None:
    fs_cluster.kubectl("create", "configmap", "conf", "-n", ns, "--from-literal=mode=fast")
    tag = uuid.uuid4().hex[:8]
    root_paths = [f"/root/{tag}", f"/var/log/{tag}", f"/opt/{tag}", f"/tmp/{tag}", f"/{tag}"]
    writable = ["/scratch/x", "/dev/shm/x", "/dev/termination-log"]
    apply_pod(
        fs_cluster,
        ns,
        "readonly",
        {
            "restartPolicy": "Never",
            "volumes": [
                {"name": "conf", "configMap": {"name": "conf"}},
                {"name": "scratch", "emptyDir": {}},
            ],
            "containers": [
                probe(
                    "locked",
                    [*root_paths, "/etc/resolv.conf", *writable],
                    securityContext={"readOnlyRootFilesystem": True},
                    volumeMounts=[{"name": "scratch", "mountPath": "/scratch"}],
                ),
                probe(
                    "config",
                    ["/config/mode", "/config/new", f"/root/{tag}"],
                    volumeMounts=[{"name": "conf", "mountPath": "/config"}],
                ),
            ],
        },
    )
    wait_for(lambda: finished(fs_cluster, ns, "readonly"), "the pod to finish")
    locked = report(fs_cluster, ns, "readonly", "locked")["writes"]
    assert {p: locked[p] for p in [*root_paths, "/etc/resolv.conf"]} == dict.fromkeys(
        [*root_paths, "/etc/resolv.conf"], "EROFS"
    )
    assert {p: locked[p] for p in writable} == dict.fromkeys(writable, "ok")
    config = report(fs_cluster, ns, "readonly", "config")["writes"]
    assert config == {"/config/mode": "EROFS", "/config/new": "EROFS", f"/root/{tag}": "ok"}
    assert not os.path.exists(f"/root/{tag}")
