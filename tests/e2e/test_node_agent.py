"""The node agent end to end: pods applied with the real kubectl run on this machine.

Every test reads what a user would read: `kubectl get`, `describe`, `logs`,
events, and what the app itself observed (through a hostPath file).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.polling import wait_for as _wait_for

pytestmark = pytest.mark.e2e
PY = "{}.{}".format(*sys.version_info[:2])
NODE = socket.gethostname().split(".")[0].lower()


wait_for = partial(_wait_for, timeout=30, interval=0.2)


def pod(cluster: Cluster, ns: str, name: str) -> dict[str, Any]:
    return cluster.kubectl_json("get", "pod", name, "-n", ns)


def ready(cluster: Cluster, ns: str, name: str) -> bool:
    conditions = pod(cluster, ns, name).get("status", {}).get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def container_status(cluster: Cluster, ns: str, name: str) -> dict[str, Any]:
    statuses = pod(cluster, ns, name).get("status", {}).get("containerStatuses") or [{}]
    return statuses[0]


def apply(cluster: Cluster, ns: str, manifest: dict[str, Any]) -> None:
    manifest.setdefault("spec", {}).setdefault("nodeName", NODE)
    cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(manifest))


def simple_pod(name: str, command: list[str], **extra: Any) -> dict[str, Any]:
    container = {
        "name": "main",
        "image": f"python:{PY}",
        "command": command,
        **extra.pop("container", {}),
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [container], **extra},
    }


def events(cluster: Cluster, ns: str, name: str) -> list[dict[str, Any]]:
    items = cluster.kubectl_json(
        "get", "events", "-n", ns, "--field-selector", f"involvedObject.name={name}"
    )["items"]
    return items


def build_image(cluster: Cluster, tag: str, context: Path) -> None:
    code = (
        "import sys; from pathlib import Path; from kubelite.cli.build_cmd import build; "
        "print(build(sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), quiet=True))"
    )
    subprocess.run(
        [sys.executable, "-c", code, tag, str(context), str(cluster.data_dir)],
        check=True,
        timeout=120,
    )


def test_node_is_registered_ready_with_capacity(cluster: Cluster) -> None:
    node = wait_for(
        lambda: cluster.kubectl("get", "node", NODE, check=False).returncode == 0, what="node"
    )
    node = cluster.kubectl_json("get", "node", NODE)
    conditions = {c["type"]: c["status"] for c in node["status"]["conditions"]}
    assert conditions == {
        "MemoryPressure": "False",
        "DiskPressure": "False",
        "PIDPressure": "False",
        "Ready": "True",
    }
    assert node["status"]["capacity"]["pods"] == "110"
    base = int((cluster.data_dir / "pod-subnet").read_text())
    assert node["spec"]["podCIDR"] == f"127.244.{base}.0/24"  # this cluster's own /24
    pod_ip = cluster.kubectl_json("get", "pods", "-A", "-o", "json")["items"]
    assert all(
        p["status"]["podIP"].startswith(f"127.244.{base}.")
        for p in pod_ip
        if p["status"].get("podIP")
    )
    lease = cluster.kubectl_json("get", "lease", NODE, "-n", "kube-node-lease")
    assert lease["spec"]["holderIdentity"] == NODE


def test_built_image_runs_ready_with_files_at_their_paths(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    ctx = tmp_path / "app"
    ctx.mkdir()
    (ctx / "app.py").write_text(
        "import http.server, os\n"
        "print('serving', os.getcwd(), os.environ['HOSTNAME'], flush=True)\n"
        "http.server.ThreadingHTTPServer((os.environ['POD_IP'], 8080), http.server.SimpleHTTPRequestHandler).serve_forever()\n"
    )
    (ctx / "Dockerfile").write_text(
        f'FROM python:{PY}\nWORKDIR /srv/app\nCOPY app.py .\nCMD ["python", "-u", "/srv/app/app.py"]\n'
    )
    build_image(cluster, "e2e-web:1", ctx)
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web", "labels": {"app": "web"}},
        "spec": {
            "containers": [
                {
                    "name": "web",
                    "image": "e2e-web:1",
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "readinessProbe": {
                        "httpGet": {"port": "http", "path": "/"},
                        "periodSeconds": 1,
                    },
                }
            ]
        },
    }
    apply(cluster, namespace, manifest)
    wait_for(lambda: container_status(cluster, namespace, "web").get("ready"), what="web ready")
    status = pod(cluster, namespace, "web")["status"]
    assert status["phase"] == "Running"
    assert status["podIP"].startswith("127.244.")
    assert status["containerStatuses"][0]["imageID"].startswith("sha256:")
    logs = cluster.kubectl("logs", "web", "-n", namespace).stdout
    assert "serving /srv/app web" in logs
    # every field the official client requires of a container status is there
    required = {"name", "image", "imageID", "ready", "restartCount"}
    assert required <= set(status["containerStatuses"][0])


def test_logs_follow_and_previous(cluster: Cluster, namespace: str) -> None:
    script = "for i in 1 2 3; do echo line-$i; sleep 0.3; done; exit 1"
    apply(cluster, namespace, simple_pod("counter", ["sh", "-c", script]))
    follow = cluster.kubectl("logs", "-f", "counter", "-n", namespace, timeout=30).stdout
    assert follow.splitlines()[:3] == ["line-1", "line-2", "line-3"]
    wait_for(
        lambda: container_status(cluster, namespace, "counter").get("restartCount", 0) >= 1,
        what="restart",
    )
    previous = cluster.kubectl("logs", "--previous", "counter", "-n", namespace).stdout
    assert previous.splitlines() == ["line-1", "line-2", "line-3"]
    tail = cluster.kubectl(
        "logs", "--previous", "--tail=1", "--timestamps", "counter", "-n", namespace
    ).stdout
    assert tail.strip().endswith("Z line-3")


def test_waiting_container_logs_say_why(cluster: Cluster, namespace: str) -> None:
    apply(
        cluster,
        namespace,
        simple_pod(
            "nopull", ["true"], container={"image": "never-built:1", "imagePullPolicy": "Never"}
        ),
    )
    wait_for(
        lambda: (
            container_status(cluster, namespace, "nopull")
            .get("state", {})
            .get("waiting", {})
            .get("reason")
            == "ErrImageNeverPull"
        ),
        what="ErrImageNeverPull",
    )
    message = container_status(cluster, namespace, "nopull")["state"]["waiting"]["message"]
    assert "kubelite build -t never-built:1" in message
    out = cluster.kubectl("logs", "nopull", "-n", namespace, check=False)
    assert "is waiting to start: ErrImageNeverPull" in out.stderr


def test_liveness_failure_restarts_with_upstream_event(cluster: Cluster, namespace: str) -> None:
    manifest = simple_pod(
        "liveness",
        ["sh", "-c", "touch /tmp/healthy; sleep 1; rm /tmp/healthy; sleep 600"],
        container={
            "livenessProbe": {
                "exec": {"command": ["cat", "/tmp/healthy"]},
                "periodSeconds": 1,
                "failureThreshold": 1,
            }
        },
        terminationGracePeriodSeconds=1,
    )
    apply(cluster, namespace, manifest)
    wait_for(
        lambda: container_status(cluster, namespace, "liveness").get("restartCount", 0) >= 1,
        what="restart",
    )
    messages = {e["reason"]: e["message"] for e in events(cluster, namespace, "liveness")}
    assert messages["Unhealthy"].startswith(
        "Liveness probe failed: cat: /tmp/healthy: No such file or directory"
    )
    assert messages["Killing"] == "Container main failed liveness probe, will be restarted"


def test_crash_loop_backs_off(cluster: Cluster, namespace: str) -> None:
    apply(cluster, namespace, simple_pod("crasher", ["sh", "-c", "exit 2"]))
    wait_for(
        lambda: (
            container_status(cluster, namespace, "crasher")
            .get("state", {})
            .get("waiting", {})
            .get("reason")
            == "CrashLoopBackOff"
        ),
        what="CrashLoopBackOff",
    )
    cs = container_status(cluster, namespace, "crasher")
    assert cs["lastState"]["terminated"]["exitCode"] == 2
    assert cs["lastState"]["terminated"]["reason"] == "Error"
    assert (
        "back-off 10s restarting failed container=main pod=crasher_"
        in cs["state"]["waiting"]["message"]
    )
    backoff = [e for e in events(cluster, namespace, "crasher") if e["reason"] == "BackOff"]
    assert backoff and backoff[0]["message"].startswith(
        "Back-off restarting failed container main in pod crasher_"
    )
    assert "CrashLoopBackOff" in cluster.kubectl("get", "pod", "crasher", "-n", namespace).stdout


def test_memory_hog_is_oom_killed(cluster: Cluster, namespace: str) -> None:
    hog = "x = []\nwhile True: x.append(bytearray(8 * 2**20))"
    apply(
        cluster,
        namespace,
        simple_pod(
            "hog",
            ["python3", "-c", hog],
            restartPolicy="Never",
            container={"resources": {"limits": {"memory": "48Mi"}}},
        ),
    )
    terminated = wait_for(
        lambda: container_status(cluster, namespace, "hog").get("state", {}).get("terminated"),
        what="hog end",
    )
    assert (terminated["reason"], terminated["exitCode"]) == ("OOMKilled", 137)


# Prints the CPU weight of its own cgroup, of the pod's and of the QoS tier's.
WEIGHTS_APP = """
import json, os, time
lines = [line.rstrip("\\n").split(":", 2) for line in open("/proc/self/cgroup")]
v1 = [path for _, controllers, path in lines if "cpu" in controllers.split(",")]
if v1:
    d, knob = "/sys/fs/cgroup/cpu" + v1[0], "cpu.shares"
else:
    d, knob = "/sys/fs/cgroup" + next(p for _, c, p in lines if c == ""), "cpu.weight"
out = {}
for level in ("container", "pod", "tier"):
    out[level] = [os.path.basename(d), open(os.path.join(d, knob)).read().strip()]
    d = os.path.dirname(d)
print(json.dumps(out), flush=True)
time.sleep(3600)
"""


def test_cpu_requests_weigh_the_pods_cgroups(cluster: Cluster, namespace: str) -> None:
    node = cluster.kubectl_json("get", "node", NODE)
    if "CgroupsUnavailable" in _conditions(node):
        pytest.skip("cgroups are not writable on this machine: no CPU weights to read")
    requests = {"resources": {"requests": {"cpu": "250m"}}}
    apply(
        cluster,
        namespace,
        simple_pod("weighed", ["python3", "-c", WEIGHTS_APP], container=requests),
    )
    apply(cluster, namespace, simple_pod("unweighed", ["python3", "-c", WEIGHTS_APP]))

    def seen(name: str) -> dict[str, list[str]] | None:
        out = cluster.kubectl("logs", name, "-n", namespace, check=False).stdout.strip()
        return json.loads(out.splitlines()[0]) if out.startswith("{") else None

    weighed = wait_for(lambda: seen("weighed"), what="weighed pod's cgroups")
    unweighed = wait_for(lambda: seen("unweighed"), what="unweighed pod's cgroups")
    v2 = not Path("/sys/fs/cgroup/cpu").is_dir()
    share = (lambda s: str(1 + (s - 2) * 9999 // 262142)) if v2 else str
    uid = pod(cluster, namespace, "weighed")["metadata"]["uid"]
    assert weighed["container"] == ["main", share(256)]  # 250m: 1024 shares a core
    assert weighed["pod"] == [f"pod{uid}", share(256)]
    assert weighed["tier"][0] == "burstable" and int(weighed["tier"][1]) >= int(share(256))
    assert pod(cluster, namespace, "unweighed")["status"]["qosClass"] == "BestEffort"
    assert unweighed["container"][1] == unweighed["pod"][1] == share(2)
    assert unweighed["tier"] == ["besteffort", share(2)]


def test_configmap_update_reaches_running_app(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("create", "configmap", "conf", "-n", namespace, "--from-literal=mode=one")
    manifest = simple_pod(
        "reader",
        ["sh", "-c", "while true; do cat /etc/conf/mode; echo; sleep 0.3; done"],
        volumes=[{"name": "conf", "configMap": {"name": "conf"}}],
        container={"volumeMounts": [{"name": "conf", "mountPath": "/etc/conf"}]},
    )
    apply(cluster, namespace, manifest)
    wait_for(
        lambda: "one" in cluster.kubectl("logs", "reader", "-n", namespace, check=False).stdout,
        what="v1",
    )
    cluster.kubectl("patch", "configmap", "conf", "-n", namespace, "-p", '{"data":{"mode":"two"}}')
    wait_for(
        lambda: "two" in cluster.kubectl("logs", "reader", "-n", namespace).stdout,
        timeout=30,
        what="v2",
    )


def test_termination_order_prestop_sigterm_sigkill(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    trace = tmp_path / "trace"
    trace.mkdir()
    trace.chmod(0o777)
    app = "trap 'echo term >> /trace/order' TERM; echo started >> /trace/order; while true; do sleep 0.1; done"
    manifest = simple_pod(
        "graceful",
        ["sh", "-c", app],
        terminationGracePeriodSeconds=2,
        volumes=[{"name": "trace", "hostPath": {"path": str(trace)}}],
        container={
            "volumeMounts": [{"name": "trace", "mountPath": "/trace"}],
            "lifecycle": {
                "preStop": {"exec": {"command": ["sh", "-c", "echo prestop >> /trace/order"]}}
            },
        },
    )
    apply(cluster, namespace, manifest)
    wait_for(lambda: (trace / "order").exists(), what="app start")
    start = time.monotonic()
    cluster.kubectl("delete", "pod", "graceful", "-n", namespace, "--wait=true", timeout=60)
    elapsed = time.monotonic() - start
    # the app ignores SIGTERM, so only SIGKILL at the end of the 2 s grace stops it
    assert (trace / "order").read_text().split() == ["started", "prestop", "term"]
    assert elapsed >= 1.9
    assert cluster.kubectl("get", "pod", "graceful", "-n", namespace, check=False).returncode != 0


@pytest.mark.parametrize(
    ("name", "container", "reason", "text"),
    [
        (
            "nocmd",
            {"command": ["no-such-binary"]},
            "StartError",
            'exec: "no-such-binary": executable file not found in $PATH',
        ),
        (
            "noexec",
            {"command": ["/etc/passwd"]},
            "StartError",
            'exec: "/etc/passwd": permission denied',
        ),
        (
            "badwd",
            {"command": ["true"], "workingDir": "/no/such/dir"},
            "StartError",
            'chdir to cwd ("/no/such/dir")',
        ),
    ],
)
def test_bad_commands_end_in_clear_status(
    cluster: Cluster, namespace: str, name: str, container: dict, reason: str, text: str
) -> None:
    apply(
        cluster,
        namespace,
        simple_pod(name, container.pop("command"), restartPolicy="Never", container=container),
    )
    terminated = wait_for(
        lambda: container_status(cluster, namespace, name).get("state", {}).get("terminated"),
        what=name,
    )
    assert terminated["reason"] == reason
    assert text in terminated["message"]
    assert pod(cluster, namespace, name)["status"]["phase"] == "Failed"
    failed = [e for e in events(cluster, namespace, name) if e["reason"] == "Failed"]
    assert failed and text in failed[0]["message"] and failed[0]["type"] == "Warning"


def test_missing_configmap_key_is_create_container_config_error(
    cluster: Cluster, namespace: str
) -> None:
    env = [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "absent", "key": "k"}}}]
    apply(cluster, namespace, simple_pod("cfgerr", ["true"], container={"env": env}))
    waiting = wait_for(
        lambda: (
            container_status(cluster, namespace, "cfgerr")
            .get("state", {})
            .get("waiting", {})
            .get("message")
        ),
        what="waiting",
    )
    assert (
        container_status(cluster, namespace, "cfgerr")["state"]["waiting"]["reason"]
        == "CreateContainerConfigError"
    )
    assert waiting == 'configmap "absent" not found'


def test_missing_configmap_key_names_the_key(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("create", "configmap", "partial", "-n", namespace, "--from-literal=a=1")
    env = [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "partial", "key": "k"}}}]
    apply(cluster, namespace, simple_pod("keyerr", ["true"], container={"env": env}))
    waiting = wait_for(
        lambda: container_status(cluster, namespace, "keyerr").get("state", {}).get("waiting"),
        what="waiting",
    )
    assert waiting == {
        "reason": "CreateContainerConfigError",
        "message": f"couldn't find key k in ConfigMap {namespace}/partial",
    }
    failed = [e for e in events(cluster, namespace, "keyerr") if e["reason"] == "Failed"]
    assert failed and failed[0]["type"] == "Warning"


def test_run_as_non_root_with_a_root_image_is_refused_as_the_kubelet_does(
    cluster: Cluster, namespace: str
) -> None:
    sc = {"runAsNonRoot": True}
    apply(cluster, namespace, simple_pod("nonroot", ["true"], container={"securityContext": sc}))

    def waiting() -> dict[str, Any] | None:
        state = container_status(cluster, namespace, "nonroot").get("state", {})
        return state["waiting"] if state.get("waiting", {}).get("message") else None

    got = wait_for(waiting, what="waiting with a message")
    uid = pod(cluster, namespace, "nonroot")["metadata"]["uid"]
    assert got == {
        "reason": "CreateContainerConfigError",
        "message": "container has runAsNonRoot and image will run as root "
        f'(pod: "nonroot_{namespace}({uid})", container: main)',
    }


def test_a_pod_bound_to_a_node_it_does_not_fit_is_rejected_as_the_kubelet_does(
    cluster: Cluster, namespace: str
) -> None:
    node = cluster.kubectl_json("get", "nodes")["items"][0]
    resources = {"requests": {"cpu": "512"}}
    body = simple_pod("toobig", ["true"], container={"resources": resources})
    body["spec"]["nodeName"] = node["metadata"]["name"]  # past the scheduler
    apply(cluster, namespace, body)
    status = wait_for(
        lambda: (s := pod(cluster, namespace, "toobig")["status"]).get("phase") == "Failed" and s,
        what="the pod rejected",
    )
    assert status["reason"] == "OutOfcpu"
    assert status["message"].startswith(
        "Pod was rejected: Node didn't have enough resource: cpu, requested: 512000, used: "
    )
    assert not status.get("containerStatuses")  # never started
    wait_for(
        lambda: any(e["reason"] == "OutOfcpu" for e in events(cluster, namespace, "toobig")),
        what="the OutOfcpu event",
    )


def test_probe_on_undeclared_port_name_keeps_pod_unready(cluster: Cluster, namespace: str) -> None:
    probe = {"httpGet": {"port": "nope", "path": "/"}, "periodSeconds": 1}
    apply(
        cluster,
        namespace,
        simple_pod("noport", ["sleep", "3600"], container={"readinessProbe": probe}),
    )
    unhealthy = wait_for(
        lambda: [e for e in events(cluster, namespace, "noport") if e["reason"] == "Unhealthy"],
        what="Unhealthy event",
    )
    assert unhealthy[0]["message"] == (
        'Readiness probe errored and resulted in unknown state: strconv.Atoi: parsing "nope": '
        "invalid syntax"
    )
    cs = container_status(cluster, namespace, "noport")
    assert "running" in cs["state"] and cs["ready"] is False


REDIRECTING_APP = (
    "import http.server as h, os\n"
    "class H(h.BaseHTTPRequestHandler):\n"
    "  def do_GET(s):\n"
    "    if s.path == '/': s.send_response(302); s.send_header('Location', '/broken')\n"
    "    elif s.path == '/away': s.send_response(302); s.send_header('Location', 'http://example.invalid/')\n"
    "    else: s.send_response(503)\n"
    "    s.send_header('Content-Length', '0'); s.end_headers()\n"
    "h.HTTPServer((os.environ['POD_IP'], 8080), H).serve_forever()\n"
)


def test_probes_follow_same_host_redirects_and_warn_at_another_host(
    cluster: Cluster, namespace: str
) -> None:
    """A readiness probe redirected to a failing page fails (the kubelet follows
    it); one redirected off the host passes with a ProbeWarning event."""
    container = {
        "readinessProbe": {"httpGet": {"port": 8080, "path": "/"}, "periodSeconds": 1},
        "livenessProbe": {"httpGet": {"port": 8080, "path": "/away"}, "periodSeconds": 1},
    }
    apply(
        cluster,
        namespace,
        simple_pod("redirects", ["python3", "-c", REDIRECTING_APP], container=container),
    )
    failed = wait_for(
        lambda: [
            e
            for e in events(cluster, namespace, "redirects")
            if e["reason"] == "Unhealthy" and "503" in e["message"]
        ],
        what="the readiness failure at the redirect's target",
    )
    assert failed[0]["message"] == "Readiness probe failed: HTTP probe failed with statuscode: 503"
    warned = wait_for(
        lambda: [
            e for e in events(cluster, namespace, "redirects") if e["reason"] == "ProbeWarning"
        ],
        what="the ProbeWarning event",
    )
    assert warned[0]["type"] == "Warning"
    assert warned[0]["message"] == (
        "Liveness probe warning: Probe terminated redirects, Response body:"
    )
    cs = container_status(cluster, namespace, "redirects")
    assert cs["ready"] is False and cs["restartCount"] == 0


# ---- bad input: floods and fork bombs leave the node and other pods unharmed ---------------


def _log_files(cluster: Cluster, ns: str, name: str, container: str = "main") -> list[Path]:
    pods = cluster.data_dir / "nodes" / NODE / "pods"
    (pod_dir,) = [d for d in pods.iterdir() if d.name.startswith(f"{ns}_{name}_")]
    return sorted((pod_dir / "logs" / container).iterdir())


def test_log_flood_is_rotated_and_bounded(cluster: Cluster, namespace: str) -> None:
    apply(
        cluster,
        namespace,
        simple_pod("calm", ["sh", "-c", "while true; do echo calm; sleep 0.2; done"]),
    )
    flood = (
        "import sys, time\n"
        "w = sys.stdout.buffer.write\n"
        "line = b'x' * 1000 + b'\\n'\n"
        "for _ in range(75_000): w(line)\n"  # ~75 MB as fast as it goes
        "sys.stdout.flush(); print('done', flush=True); time.sleep(3600)\n"
    )
    apply(cluster, namespace, simple_pod("flood", ["python3", "-c", flood]))
    wait_for(
        lambda: (
            cluster.kubectl("logs", "flood", "-n", namespace, "--tail", "1", check=False).stdout
            == "done\n"
        ),
        timeout=120,
        what="the flood to end",
    )
    files = _log_files(cluster, namespace, "flood")
    assert len(files) <= 5
    assert all(f.stat().st_size <= 10 * 1024 * 1024 + 2048 for f in files)
    assert sum(f.stat().st_size for f in files) > 30 * 1024 * 1024  # it did rotate, keeping 5
    # the flooding pod itself, its neighbour and the node go on
    assert container_status(cluster, namespace, "flood")["restartCount"] == 0
    before = cluster.kubectl("logs", "calm", "-n", namespace).stdout.count("calm")
    wait_for(
        lambda: cluster.kubectl("logs", "calm", "-n", namespace).stdout.count("calm") > before,
        what="calm pod still logging",
    )
    node = cluster.kubectl_json("get", "node", NODE)
    assert {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"] == "True"


@pytest.fixture(scope="module")
def tuned_cluster(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A cluster with a 12 s node-monitor grace period and a pids limit of 64 per container."""
    tmp = tmp_path_factory.mktemp("tuned")
    (tmp / "cache").mkdir()
    c = Cluster(data_dir=tmp / "data", cache_dir=tmp / "cache")
    saved = dict(os.environ)
    os.environ.update(KUBELITE_NODE_MONITOR_GRACE_PERIOD="12", KUBELITE_POD_PIDS_LIMIT="64")
    try:
        c.start()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    try:
        yield c
    finally:
        c.stop()


def _conditions(node: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in node.get("status", {}).get("conditions") or []}


def test_fork_bomb_stops_at_pids_limit(tuned_cluster: Cluster) -> None:
    c = tuned_cluster
    node = wait_for(lambda: c.kubectl_json("get", "node", NODE), what="node")
    if "CgroupsUnavailable" in _conditions(node):
        pytest.skip("cgroups are not writable on this machine: no pids limit to stop a fork bomb")
    c.kubectl("create", "namespace", "bomb")
    apply(c, "bomb", simple_pod("neighbour", ["sleep", "3600"]))
    bomb = (
        "import os, sys, time\n"
        "main = os.getpid()\n"
        "while True:\n"
        "    try:\n"
        "        os.fork()\n"
        "    except OSError as exc:\n"
        "        if os.getpid() == main:\n"
        "            print('fork failed:', exc, flush=True)\n"
        "            sys.exit(1)\n"
        "        time.sleep(1)\n"
    )
    apply(c, "bomb", simple_pod("bomb", ["python3", "-c", bomb], restartPolicy="Never"))
    terminated = wait_for(
        lambda: container_status(c, "bomb", "bomb").get("state", {}).get("terminated"),
        timeout=60,
        what="bomb end",
    )
    assert (terminated["reason"], terminated["exitCode"]) == ("Error", 1)
    assert terminated["message"].startswith("the container reached its pids limit (64)")
    found = [e for e in events(c, "bomb", "bomb") if e["reason"] == "PidsLimitReached"]
    assert found and found[0]["type"] == "Warning"
    assert "fork failed" in c.kubectl("logs", "bomb", "-n", "bomb").stdout
    assert container_status(c, "bomb", "neighbour").get("state", {}).get("running")
    assert _conditions(c.kubectl_json("get", "node", NODE))["Ready"]["status"] == "True"


def test_node_without_heartbeat_goes_unknown_and_tainted(tuned_cluster: Cluster) -> None:
    c = tuned_cluster
    c.kubectl(
        "create",
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "ghost"}}),
    )

    def unknown() -> dict[str, Any] | None:
        n = c.kubectl_json("get", "node", "ghost")
        return n if _conditions(n).get("Ready", {}).get("status") == "Unknown" else None

    node = wait_for(unknown, timeout=60, what="ghost node Unknown")
    assert _conditions(node)["Ready"]["reason"] == "NodeStatusNeverUpdated"
    taints = {(t["key"], t["effect"]) for t in node["spec"]["taints"]}
    assert taints == {
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoSchedule"),
    }
    assert "NotReady" in c.kubectl("get", "node", "ghost").stdout
    # the real node heartbeats every 10 s, within the 12 s grace: it stays Ready and untainted
    real = c.kubectl_json("get", "node", NODE)
    assert _conditions(real)["Ready"]["status"] == "True"
    assert not real["spec"].get("taints")


# ---- kubelite restarts: pods survive a crash and are re-adopted ------------------------------

# `$$$$` is the shell's `$$`: in a command, `$$` escapes `$` as upstream expands it
TICKER = (
    "echo $$$$ > /out/pid; while true; do date +%s.%N >> /out/ticks; echo tick; sleep 0.2; done"
)


def _ticker(cluster: Cluster, tmp_path: Path) -> tuple[Path, int]:
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o777)
    manifest = simple_pod(
        "ticker",
        ["sh", "-c", TICKER],
        volumes=[{"name": "out", "hostPath": {"path": str(out)}}],
        container={"volumeMounts": [{"name": "out", "mountPath": "/out"}]},
    )
    apply(cluster, "default", manifest)
    wait_for(lambda: (out / "pid").exists() and (out / "pid").read_text().strip(), what="pid")
    return out, int((out / "pid").read_text())


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _crash_kubelite(cluster: Cluster) -> None:
    pid = json.loads((cluster.data_dir / "kubelite.json").read_text())["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not _alive(pid), what="kubelite gone")


def _ticks(out: Path) -> int:
    return len((out / "ticks").read_text().splitlines())


def test_pods_survive_kubelite_crash_and_are_readopted(
    fresh_cluster: Cluster, tmp_path: Path
) -> None:
    c = fresh_cluster
    out, pid = _ticker(c, tmp_path)
    _crash_kubelite(c)
    assert _alive(pid)
    ticks = _ticks(out)
    wait_for(lambda: _ticks(out) > ticks + 3, what="the app going on while kubelite is down")

    c.start()
    cs = wait_for(
        lambda: (s := container_status(c, "default", "ticker")).get("ready") and s,
        what="re-adopted",
    )
    assert cs["restartCount"] == 0 and "running" in cs["state"]
    assert int((out / "pid").read_text()) == pid and _alive(pid)
    # the log went on through the crash: every tick is in it, none lost
    ticks = _ticks(out)
    assert c.kubectl("logs", "ticker").stdout.count("tick") >= ticks - 1
    for _ in range(5):  # and the status stays true
        time.sleep(0.5)
        cs = container_status(c, "default", "ticker")
        assert (cs["ready"], cs["restartCount"]) == (True, 0)
    assert _conditions(pod(c, "default", "ticker"))["Ready"]["status"] == "True"
    # its resolv.conf names the cluster DNS of the first start, which answers again
    resolve = "import socket; print(socket.getaddrinfo('kubernetes.default', 443)[0][4][0])"
    answer = c.kubectl("exec", "ticker", "--", "python3", "-c", resolve).stdout.strip()
    assert answer == c.kubectl_json("get", "svc", "kubernetes")["spec"]["clusterIP"]


def test_pod_that_died_while_kubelite_was_down_is_restarted(
    fresh_cluster: Cluster, tmp_path: Path
) -> None:
    c = fresh_cluster
    out, pid = _ticker(c, tmp_path)
    _crash_kubelite(c)
    os.killpg(pid, signal.SIGKILL)
    wait_for(lambda: not _alive(pid), what="the app gone")

    c.start()
    cs = wait_for(
        lambda: (s := container_status(c, "default", "ticker")).get("restartCount") == 1 and s,
        what="restart",
    )
    assert cs["lastState"]["terminated"]["exitCode"] == 137
    wait_for(lambda: int((out / "pid").read_text()) != pid, what="a new process")
    assert wait_for(lambda: container_status(c, "default", "ticker").get("ready"), what="ready")
