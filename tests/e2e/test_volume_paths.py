"""Where a volume's paths lead, as on a cluster: a subPath stays inside its volume
(a symlink a container planted there cannot give it the host's `/`),
`subPathExpr` is expanded from the container's environment, a projected secret
mounts, hostPath types are checked (inline and through a PersistentVolume) as a
FailedMount the pod retries, a generic ephemeral volume mounts the pod's own
claim, and a pod's mounts go with it, even one deleted across a kill -9.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.polling import wait_for as _wait_for

pytestmark = pytest.mark.e2e
PY = "{}.{}".format(*sys.version_info[:2])
wait_for = partial(_wait_for, timeout=90, interval=0.3)


@pytest.fixture
def ns(cluster: Cluster) -> str:
    name = "vp-" + uuid.uuid4().hex[:8]
    cluster.kubectl("create", "namespace", name)
    return name


def py(name: str, code: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": f"python:{PY}", "command": ["python3", "-c", code], **extra}


SLEEP = "import time; time.sleep(100000)"


def apply(cluster: Cluster, ns: str, obj: dict[str, Any]) -> None:
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(obj))


def apply_pod(cluster: Cluster, ns: str, name: str, spec: dict[str, Any]) -> None:
    spec = {"terminationGracePeriodSeconds": 1, **spec}
    apply(
        cluster, ns, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}
    )


def pod(cluster: Cluster, ns: str, name: str) -> dict[str, Any]:
    got: dict[str, Any] = cluster.kubectl_json("get", "pod", name, "-n", ns)
    return got


def waiting(cluster: Cluster, ns: str, name: str, container: str) -> dict[str, Any]:
    for st in (pod(cluster, ns, name).get("status") or {}).get("containerStatuses") or []:
        if st["name"] == container:
            found: dict[str, Any] = (st.get("state") or {}).get("waiting") or {}
            return found
    return {}


def running(cluster: Cluster, ns: str, name: str, container: str) -> bool:
    for st in (pod(cluster, ns, name).get("status") or {}).get("containerStatuses") or []:
        if st["name"] == container:
            return "running" in (st.get("state") or {})
    return False


def events(cluster: Cluster, ns: str, name: str, reason: str) -> list[str]:
    got = cluster.kubectl_json(
        "get", "events", "-n", ns, "--field-selector", f"involvedObject.name={name}"
    )
    return [e.get("message", "") for e in got["items"] if e.get("reason") == reason]


def logs(cluster: Cluster, ns: str, name: str, container: str) -> str:
    return cluster.kubectl("logs", name, "-n", ns, "-c", container, check=False).stdout


# ---- subPath ---------------------------------------------------------------------------


def test_a_subpath_through_a_planted_symlink_is_refused(
    cluster: Cluster, ns: str, tmp_path: Path
) -> None:
    target = tmp_path / "hosttarget"
    target.mkdir()
    plant = (
        "import os; "
        f"os.symlink({str(target)!r}, '/v/link'); os.symlink('/', '/v/root'); "
        "os.makedirs('/v/inside/d'); os.symlink('inside/d', '/v/ok')"
    )
    write = "import sys; open(sys.argv[1], 'w').write('pwned'); import time; time.sleep(100000)"
    mount = {"name": "v", "mountPath": "/x"}
    apply_pod(
        cluster,
        ns,
        "esc",
        {
            "volumes": [{"name": "v", "emptyDir": {}}],
            "initContainers": [py("mk", plant, volumeMounts=[{"name": "v", "mountPath": "/v"}])],
            "containers": [
                {
                    **py("c", write),
                    "args": ["/x/owned.txt"],
                    "volumeMounts": [{**mount, "subPath": "link"}],
                },
                {
                    **py("r", write),
                    "args": ["/x" + str(target) + "/owned2.txt"],
                    "volumeMounts": [{**mount, "subPath": "root"}],
                },
                # a link that stays inside the volume is followed, as upstream
                {
                    **py("fine", write),
                    "args": ["/x/owned3.txt"],
                    "volumeMounts": [{**mount, "subPath": "ok"}],
                },
            ],
        },
    )
    for name in ("c", "r"):
        got = wait_for(
            lambda n=name: waiting(cluster, ns, "esc", n).get("message"), f"{name} refused"
        )
        assert waiting(cluster, ns, "esc", name) == {
            "reason": "CreateContainerConfigError",
            "message": f'failed to prepare subPath for volumeMount "v" of container "{name}"',
        }, got
    wait_for(lambda: running(cluster, ns, "esc", "fine"), "the container whose link stays inside")
    expected = 'Error: failed to prepare subPath for volumeMount "v" of container "c"'
    wait_for(lambda: expected in events(cluster, ns, "esc", "Failed"), "the Failed event")
    assert list(target.iterdir()) == []


def test_subpath_expr_is_expanded_from_the_containers_env(cluster: Cluster, ns: str) -> None:
    show = (
        "import os, time; open('/w/file', 'w').close(); "
        "print(sorted(os.path.relpath(os.path.join(d, f), '/all') "
        "for d, _, fs in os.walk('/all') for f in fs), flush=True); time.sleep(100000)"
    )
    env = [
        {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "KIND", "value": "logs"},
    ]
    apply_pod(
        cluster,
        ns,
        "spe",
        {
            "volumes": [{"name": "v", "emptyDir": {}}],
            "containers": [
                py(
                    "c",
                    show,
                    env=env,
                    volumeMounts=[
                        {"name": "v", "mountPath": "/w", "subPathExpr": "$(KIND)/$(POD)"},
                        {"name": "v", "mountPath": "/all"},
                    ],
                ),
                py(
                    "unset",
                    SLEEP,
                    volumeMounts=[{"name": "v", "mountPath": "/w", "subPathExpr": "$(NOPE)"}],
                ),
            ],
        },
    )
    out = wait_for(lambda: logs(cluster, ns, "spe", "c").strip(), "the listing")
    assert out == "['logs/spe/file']"
    wait_for(lambda: waiting(cluster, ns, "spe", "unset").get("message"), "unset refused")
    assert waiting(cluster, ns, "spe", "unset") == {
        "reason": "CreateContainerConfigError",
        "message": "missing value for NOPE",
    }


# ---- projected secret ------------------------------------------------------------------


def test_a_projected_secret_mounts(cluster: Cluster, ns: str) -> None:
    cluster.kubectl("create", "secret", "generic", "s", "-n", ns, "--from-literal=k=v")
    cluster.kubectl("create", "configmap", "cm", "-n", ns, "--from-literal=c=d")
    show = "print(open('/p/kk').read() + open('/p/c').read(), flush=True); " + SLEEP
    sources = [
        {"secret": {"name": "s", "items": [{"key": "k", "path": "kk"}]}},
        {"configMap": {"name": "cm"}},
    ]
    apply_pod(
        cluster,
        ns,
        "ps",
        {
            "volumes": [{"name": "p", "projected": {"sources": sources}}],
            "containers": [py("c", show, volumeMounts=[{"name": "p", "mountPath": "/p"}])],
        },
    )
    assert wait_for(lambda: logs(cluster, ns, "ps", "c").strip(), "the files") == "vd"


# ---- hostPath types --------------------------------------------------------------------


def hostpath_pod(cluster: Cluster, ns: str, name: str, path: Path | str, kind: str) -> None:
    apply_pod(
        cluster,
        ns,
        name,
        {
            "volumes": [{"name": "h", "hostPath": {"path": str(path), "type": kind}}],
            "containers": [py("c", SLEEP, volumeMounts=[{"name": "h", "mountPath": "/h"}])],
        },
    )


def failed_mount(cluster: Cluster, ns: str, name: str) -> str:
    got: str = wait_for(lambda: events(cluster, ns, name, "FailedMount"), f"{name}'s FailedMount")[
        0
    ]
    return got


def test_hostpath_types_are_checked_and_retried(cluster: Cluster, ns: str, tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    cases = {
        "hp-socket": (afile, "Socket", f"{afile} is not a socket file"),
        "hp-chardevice": (afile, "CharDevice", f"{afile} is not a character device"),
        "hp-blockdevice": ("/dev/null", "BlockDevice", "/dev/null is not a block device"),
        "hp-dirorcreate": (afile, "DirectoryOrCreate", f"{afile} is not a directory"),
    }
    for name, (path, kind, _) in cases.items():
        hostpath_pod(cluster, ns, name, path, kind)
    for name, (_, _, why) in cases.items():
        assert failed_mount(cluster, ns, name) == (
            f'MountVolume.SetUp failed for volume "h" : hostPath type check failed: {why}'
        )
        assert pod(cluster, ns, name)["status"]["phase"] == "Pending"
        assert waiting(cluster, ns, name, "c").get("reason") == "ContainerCreating"
    # the worker of the DirectoryOrCreate pod is alive: once the file is gone it runs
    afile.unlink()
    wait_for(lambda: running(cluster, ns, "hp-dirorcreate", "c"), "the pod once the path is free")
    assert afile.is_dir()


def test_file_or_create_does_not_make_the_parent(cluster: Cluster, ns: str, tmp_path: Path) -> None:
    path = tmp_path / "noparent" / "x"
    hostpath_pod(cluster, ns, "hp-fileorcreate", path, "FileOrCreate")
    assert failed_mount(cluster, ns, "hp-fileorcreate") == (
        f'MountVolume.SetUp failed for volume "h" : open {path}: no such file or directory'
    )
    assert not path.parent.exists()


def static_claim(cluster: Cluster, ns: str, pv: str, source: dict[str, Any]) -> str:
    """A PersistentVolume of a class of its own, and a claim that binds it."""
    cls = f"{pv}-{ns}"
    spec = {"capacity": {"storage": "1Mi"}, "accessModes": ["ReadWriteOnce"]}
    apply(
        cluster,
        ns,
        {
            "apiVersion": "v1",
            "kind": "PersistentVolume",
            "metadata": {"name": cls},
            "spec": {**spec, "storageClassName": cls, "hostPath": source},
        },
    )
    apply(
        cluster,
        ns,
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": pv},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": cls,
                "resources": {"requests": {"storage": "1Mi"}},
            },
        },
    )
    return cls


def test_pv_hostpath_types_are_honoured(cluster: Cluster, ns: str, tmp_path: Path) -> None:
    conf = tmp_path / "pvfile"
    conf.write_text("filecontent")
    missing = tmp_path / "does" / "not" / "exist"
    static_claim(cluster, ns, "fc", {"path": str(conf), "type": "File"})
    pv_missing = static_claim(cluster, ns, "mc", {"path": str(missing), "type": "Directory"})
    show = "print(open('/etc/app.conf').read(), flush=True); " + SLEEP
    for name, claim, code, at in (
        ("filepod", "fc", show, "/etc/app.conf"),
        ("misspod", "mc", SLEEP, "/m"),
    ):
        apply_pod(
            cluster,
            ns,
            name,
            {
                "volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": claim}}],
                "containers": [py("c", code, volumeMounts=[{"name": "v", "mountPath": at}])],
            },
        )
    assert wait_for(lambda: logs(cluster, ns, "filepod", "c").strip(), "the file") == "filecontent"
    assert failed_mount(cluster, ns, "misspod") == (
        f'MountVolume.SetUp failed for volume "{pv_missing}" : '
        f"hostPath type check failed: {missing} is not a directory"
    )
    assert not missing.parent.parent.exists()


# ---- generic ephemeral volumes ---------------------------------------------------------


def test_an_ephemeral_volume_mounts_the_claim_made_for_the_pod(
    cluster: Cluster, ns: str, tmp_path: Path
) -> None:
    node = cluster.kubectl_json("get", "nodes")["items"][0]["metadata"]["name"]
    cls = f"eph-{ns}"
    for pv in ("a", "b"):
        (tmp_path / pv).mkdir()
        apply(
            cluster,
            ns,
            {
                "apiVersion": "v1",
                "kind": "PersistentVolume",
                "metadata": {"name": f"{cls}-{pv}"},
                "spec": {
                    "capacity": {"storage": "1Mi"},
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": cls,
                    "hostPath": {"path": str(tmp_path / pv)},
                },
            },
        )
    template = {
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": cls,
            "resources": {"requests": {"storage": "1Mi"}},
        }
    }
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", **template}
    # someone else's claim of the name the pod's volume would have: refused
    apply(cluster, ns, {**claim, "metadata": {"name": "stranger-data"}})
    write = "open('/d/here', 'w').write('x'); " + SLEEP
    for name in ("stranger", "eph"):
        apply_pod(
            cluster,
            ns,
            name,
            {
                "nodeName": node,
                "volumes": [{"name": "data", "ephemeral": {"volumeClaimTemplate": template}}],
                "containers": [py("c", write, volumeMounts=[{"name": "data", "mountPath": "/d"}])],
            },
        )
    uid = pod(cluster, ns, "eph")["metadata"]["uid"]
    owner = {
        "apiVersion": "v1",
        "kind": "Pod",
        "name": "eph",
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }
    # what the ephemeral volume controller makes (unless it made it already)
    made = {**claim, "metadata": {"name": "eph-data", "ownerReferences": [owner]}}
    cluster.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(made), check=False)
    wait_for(lambda: running(cluster, ns, "eph", "c"), "the pod with its ephemeral volume")
    bound = cluster.kubectl_json("get", "pvc", "eph-data", "-n", ns)["spec"]["volumeName"]
    assert (tmp_path / bound.rpartition("-")[2] / "here").exists()
    assert f"PVC {ns}/stranger-data was not created for pod {ns}/stranger (pod is not owner)" in (
        failed_mount(cluster, ns, "stranger")
    )


# ---- mounts released -------------------------------------------------------------------


def mounts_under(path: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [p for line in f if (p := line.split()[4]).startswith(str(path) + "/")]


@pytest.mark.skipif(os.geteuid() != 0, reason="the pod's /dev/shm is a tmpfs only as root")
def test_a_pod_deleted_across_a_kill_9_leaves_no_mounts(fresh_cluster: Cluster) -> None:
    c = fresh_cluster
    # TERM is caught and ignored for a while: the deletion is still on when kubelite dies
    stubborn = (
        "import signal, time; signal.signal(signal.SIGTERM, lambda *a: None); "
        "print('up', flush=True); time.sleep(100000)"
    )
    apply_pod(
        c,
        "default",
        "nr",
        {
            "terminationGracePeriodSeconds": 30,
            "volumes": [{"name": "v", "emptyDir": {}}],
            "containers": [
                py("c", stubborn, volumeMounts=[{"name": "v", "mountPath": "/x", "subPath": "s"}])
            ],
        },
    )
    wait_for(lambda: logs(c, "default", "nr", "c").strip() == "up", "the container")
    uid = pod(c, "default", "nr")["metadata"]["uid"]
    pods_dir = next((c.data_dir / "nodes").iterdir()) / "pods"
    pod_dir = next(d for d in pods_dir.iterdir() if d.name.endswith(uid))
    assert mounts_under(pod_dir), "the pod's shm and subPath bind"
    c.kubectl("delete", "pod", "nr", "--wait=false")
    wait_for(lambda: events(c, "default", "nr", "Killing"), "the termination to begin")
    pid = c.status["pid"]
    os.kill(pid, 9)
    while os.path.exists(f"/proc/{pid}"):
        time.sleep(0.05)
    c.start()
    wait_for(
        lambda: c.kubectl("get", "pod", "nr", check=False).returncode != 0,
        "the pod to be gone",
        timeout=120,
    )
    assert mounts_under(pod_dir) == []
