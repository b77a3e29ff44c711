"""`securityContext.runAsUser` and its kin run the container's process as that user.

As on a cluster: the process's uid is `runAsUser` (the container's over the
pod's), its gid `runAsGroup`, its supplementary groups that group, the
user's groups in the container's /etc/group, `supplementalGroups` and
`fsGroup`; an emptyDir is writable by any user and, with `fsGroup`, group-owned
by it with the setgid bit; `runAsNonRoot` lets such a pod run; an executable
the user may not reach fails the start with the permission error. Run against
the suite's cluster and, when the suite runs as root, one run by `nobody`,
whose containers' one mapped user is the one asked for (no supplementary groups
there, and volume files are kubelite's user's, which is the container's own).
"""

from __future__ import annotations

import grp
import json
import os
import pwd
import stat
import sys
import uuid
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.polling import wait_for as _wait_for
from tests.e2e.test_low_ports import SETPRIV, RootlessCluster, rootless_cluster

from kubelite.kubelet import images

pytestmark = pytest.mark.e2e
PY = "{}.{}".format(*sys.version_info[:2])
IMAGE = f"python:{PY}"  # the host's interpreter and, in the container, the host's tools
wait_for = partial(_wait_for, timeout=90, interval=0.3)

# What the process is, and what writing into the emptyDir at /data gives.
ID_SCRIPT = (
    'echo "uid=$(id -u) gid=$(id -g) groups=$(id -G | tr " " ,)"; '
    'touch /data/made && echo "dir=$(stat -c %a:%g /data) file=$(stat -c %g /data/made)"'
)
PY_ID = (
    "import json, os, sys; "
    "print(json.dumps([os.getuid(), os.getgid(), os.path.realpath(sys.executable)]), flush=True)"
)


@pytest.fixture(scope="module", params=["as-run", "rootless"])
def user_cluster(
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
        pytest.skip("no user namespaces: a rootless cluster gives containers no user of its own")
    with rootless_cluster("kubelite-rootless-user-") as c:
        yield c


def rootless(cluster: Cluster) -> bool:
    return isinstance(cluster, RootlessCluster) or os.geteuid() != 0


@pytest.fixture
def ns(user_cluster: Cluster) -> str:
    name = "ru-" + uuid.uuid4().hex[:8]
    user_cluster.kubectl("create", "namespace", name)
    return name


def apply_pod(cluster: Cluster, ns: str, name: str, spec: dict[str, Any]) -> None:
    spec = {"terminationGracePeriodSeconds": 1, "restartPolicy": "Never", **spec}
    manifest = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(manifest))


def finished(cluster: Cluster, ns: str, name: str) -> str:
    got = cluster.kubectl_json("get", "pod", name, "-n", ns)
    phase = str((got.get("status") or {}).get("phase") or "")
    return phase if phase in ("Succeeded", "Failed") else ""


def logs(cluster: Cluster, ns: str, pod: str, container: str) -> str:
    return cluster.kubectl("logs", pod, "-n", ns, "-c", container).stdout


def fields(line: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in line.split())


def image_groups(uid: int) -> set[int]:
    """The groups the container's /etc/group (the host's, under the python image)
    lists the user of `uid` in: merged in, as upstream's default policy does."""
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        return set()
    return {g.gr_gid for g in grp.getgrall() if name in g.gr_mem and g.gr_name != name}


def test_the_process_runs_as_its_user_and_fs_group_owns_the_empty_dir(
    user_cluster: Cluster, ns: str
) -> None:
    apply_pod(
        user_cluster,
        ns,
        "ids",
        {
            "securityContext": {"runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000},
            "volumes": [{"name": "data", "emptyDir": {}}],
            "containers": [
                {
                    "name": "c",
                    "image": IMAGE,
                    "command": ["sh", "-c", ID_SCRIPT],
                    "volumeMounts": [{"name": "data", "mountPath": "/data"}],
                }
            ],
        },
    )
    assert wait_for(lambda: finished(user_cluster, ns, "ids"), "the pod to finish") == "Succeeded"
    ids, volume = logs(user_cluster, ns, "ids", "c").splitlines()
    got = fields(ids)
    assert (got["uid"], got["gid"]) == ("1000", "3000")
    groups = {int(g) for g in got["groups"].split(",")}
    made = fields(volume)
    if rootless(user_cluster):
        # One user and one group are mapped: no supplementary groups (those
        # kubelite's user has show as nobody's), and the volume is kubelite's
        # user's and group's, which are the container's own.
        assert 3000 in groups and groups <= {3000, 65534}
        assert made == {"dir": "2777:3000", "file": "3000"}
    else:
        assert groups == {3000, 2000} | image_groups(1000)
        assert made == {"dir": "2777:2000", "file": "2000"}  # setgid: new files are fsGroup's


def test_a_containers_run_as_user_wins_over_the_pods_and_the_interpreter_runs(
    user_cluster: Cluster, ns: str
) -> None:
    apply_pod(
        user_cluster,
        ns,
        "override",
        {
            "securityContext": {"runAsUser": 1000, "runAsGroup": 3000},
            "containers": [
                {"name": "pod-level", "image": IMAGE, "command": ["python3", "-c", PY_ID]},
                {
                    "name": "own",
                    "image": IMAGE,
                    "command": ["python3", "-c", PY_ID],
                    "securityContext": {"runAsUser": 2001, "runAsGroup": 4001},
                },
            ],
        },
    )
    assert wait_for(lambda: finished(user_cluster, ns, "override"), "the pod") == "Succeeded"
    # The image's python is the interpreter kubelite runs on, even where it lives
    # under a directory only root may enter (root's /root): not some other python
    # further down PATH.
    if isinstance(user_cluster, RootlessCluster):
        python = os.path.realpath(user_cluster.python)
    else:
        python = images.base_python()
    assert json.loads(logs(user_cluster, ns, "override", "pod-level")) == [1000, 3000, python]
    assert json.loads(logs(user_cluster, ns, "override", "own")) == [2001, 4001, python]


def test_run_as_non_root_with_a_non_root_user_runs_and_serves(
    user_cluster: Cluster, ns: str
) -> None:
    """Its wildcard bind lands on its pod IP as any container's: the probe reaches it."""
    apply_pod(
        user_cluster,
        ns,
        "nonroot",
        {
            "restartPolicy": "Always",
            "securityContext": {"runAsNonRoot": True, "runAsUser": 1000},
            "containers": [
                {
                    "name": "web",
                    "image": IMAGE,
                    "command": ["python3", "-m", "http.server", "8080", "-d", "/tmp"],
                    "readinessProbe": {
                        "httpGet": {"path": "/", "port": 8080},
                        "periodSeconds": 1,
                    },
                }
            ],
        },
    )

    def ready() -> bool:
        pod = user_cluster.kubectl_json("get", "pod", "nonroot", "-n", ns)
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        return bool(statuses) and bool(statuses[0].get("ready"))

    wait_for(ready, "the non-root web container to be ready")
    if rootless(user_cluster):  # joined, kubelite's user is the container's user there too
        out = user_cluster.kubectl("exec", "-n", ns, "nonroot", "--", "id", "-u").stdout
        assert out.strip() == "1000"


# Only where kubelite runs as root: rootless, the container's user is kubelite's own
# host user, who reaches whatever kubelite reaches.
@pytest.mark.parametrize("user_cluster", ["as-run"], indirect=True)
def test_an_executable_the_user_may_not_reach_fails_the_start(
    user_cluster: Cluster, ns: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    if rootless(user_cluster):
        pytest.skip("needs root: the suite runs unprivileged, so its cluster is rootless")
    closed = tmp_path_factory.mktemp("closed")
    (closed / "tool").write_text("#!/bin/sh\necho ran\n")
    (closed / "tool").chmod(0o755)
    closed.chmod(0o700)
    assert stat.S_IMODE(closed.stat().st_mode) == 0o700
    apply_pod(
        user_cluster,
        ns,
        "denied",
        {
            "securityContext": {"runAsUser": 1000},
            "volumes": [{"name": "tools", "hostPath": {"path": str(closed)}}],
            "containers": [
                {
                    "name": "c",
                    "image": IMAGE,
                    "command": ["/tools/tool"],
                    "volumeMounts": [{"name": "tools", "mountPath": "/tools"}],
                }
            ],
        },
    )
    assert wait_for(lambda: finished(user_cluster, ns, "denied"), "the pod to fail") == "Failed"
    pod = user_cluster.kubectl_json("get", "pod", "denied", "-n", ns)
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert (terminated["reason"], terminated["exitCode"]) == ("StartError", 128)
    assert 'exec: "/tools/tool": permission denied' in terminated["message"]


def test_kubectl_exec_runs_as_the_containers_user(user_cluster: Cluster, ns: str) -> None:
    """As runc's exec takes the container's process spec, a command run with
    kubectl exec has the container's uid, gid and groups."""
    apply_pod(
        user_cluster,
        ns,
        "execd",
        {
            "securityContext": {"runAsUser": 1000, "runAsGroup": 3000, "fsGroup": 2000},
            "containers": [{"name": "c", "image": IMAGE, "command": ["sleep", "300"]}],
        },
    )
    wait_for(
        lambda: (
            user_cluster.kubectl_json("get", "pod", "execd", "-n", ns)
            .get("status", {})
            .get("phase")
            == "Running"
        ),
        "the pod to run",
    )
    out = user_cluster.kubectl(
        "exec", "execd", "-n", ns, "--", "sh", "-c", 'echo "uid=$(id -u) gid=$(id -g)"'
    ).stdout
    assert fields(out.strip()) == {"uid": "1000", "gid": "3000"}
    if not rootless(user_cluster):
        groups = user_cluster.kubectl("exec", "execd", "-n", ns, "--", "id", "-G").stdout.split()
        assert "2000" in groups
