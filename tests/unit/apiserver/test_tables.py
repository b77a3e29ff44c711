"""Server-side printing: the columns and cells `kubectl get` shows, as upstream."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubelite.apiserver import errors
from kubelite.apiserver.tables import PRINTERS, to_table
from kubelite.apiserver.tables_format import (
    format_label_selector,
    human_duration,
    selector_string,
)
from kubelite.apiserver.tables_pod import pod_status

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


def ago(**delta: float) -> str:
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


def column_names(kind: str, *, wide: bool = False) -> list[str]:
    cols = to_table(kind, [], now=NOW)["columnDefinitions"]
    return [c["name"] for c in cols if wide or c["priority"] == 0]


def cells(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    """Cell values by column name (all columns, as the server always sends them)."""
    table = to_table(kind, [obj], now=NOW)
    names = [c["name"] for c in table["columnDefinitions"]]
    (row,) = table["rows"]
    assert len(row["cells"]) == len(names)
    return dict(zip(names, row["cells"], strict=True))


# ---- human_duration ------------------------------------------------------------------

# k8s.io/apimachinery/pkg/util/duration.HumanDuration: seconds up to 2m, m+s up to
# 10m, minutes up to 3h, h+m up to 8h, hours up to 2d, d+h up to 8d, days up to 2y,
# y+d up to 8y, then years.
HOUR, DAY, YEAR = 3600, 86400, 365 * 86400


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (-3, "<invalid>"),
        (-2, "<invalid>"),
        (-1.5, "0s"),  # up to 2s in the future is clock skew
        (-1, "0s"),
        (0, "0s"),
        (5, "5s"),
        (59.9, "59s"),
        (119, "119s"),
        (120, "2m"),
        (182, "3m2s"),
        (599, "9m59s"),
        (600, "10m"),
        (3 * HOUR - 1, "179m"),
        (3 * HOUR, "3h"),
        (3 * HOUR + 5 * 60, "3h5m"),
        (8 * HOUR - 60, "7h59m"),
        (8 * HOUR, "8h"),
        (47 * HOUR + 59 * 60, "47h"),
        (2 * DAY, "2d"),
        (2 * DAY + 3 * HOUR, "2d3h"),
        (7 * DAY + 23 * HOUR, "7d23h"),
        (8 * DAY, "8d"),
        (729 * DAY, "729d"),
        (730 * DAY, "2y"),
        (2 * YEAR + 12 * DAY, "2y12d"),
        (8 * YEAR, "8y"),
        (10 * YEAR + 5 * DAY, "10y"),
    ],
    ids=lambda v: str(v),
)
def test_human_duration(seconds: float, expected: str) -> None:
    assert human_duration(seconds) == expected


def test_age_is_unknown_without_a_timestamp() -> None:
    row = cells("ConfigMap", {"metadata": {"name": "c"}})
    assert row["Age"] == "<unknown>"


# ---- Pod -------------------------------------------------------------------------


def make_pod(
    *,
    phase: str = "Running",
    containers: int = 1,
    statuses: list[dict[str, Any]] | None = None,
    init: list[dict[str, Any]] | None = None,
    init_statuses: list[dict[str, Any]] | None = None,
    conditions: list[dict[str, Any]] | None = None,
    deleting: bool = False,
    reason: str = "",
    **spec: Any,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": "web-0",
        "namespace": "default",
        "creationTimestamp": ago(minutes=5),
    }
    if deleting:
        metadata["deletionTimestamp"] = ago(seconds=1)
    pod_spec: dict[str, Any] = {
        "containers": [{"name": f"c{i}", "image": "app:1"} for i in range(containers)],
        **spec,
    }
    if init is not None:
        pod_spec["initContainers"] = init
    status: dict[str, Any] = {"phase": phase}
    for key, value in (
        ("containerStatuses", statuses),
        ("initContainerStatuses", init_statuses),
        ("conditions", conditions),
    ):
        if value is not None:
            status[key] = value
    if reason:
        status["reason"] = reason
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": pod_spec,
        "status": status,
    }


def running(
    name: str = "c0", *, ready: bool = True, restarts: int = 0, **extra: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "ready": ready,
        "restartCount": restarts,
        "state": {"running": {}},
        **extra,
    }


def waiting(
    name: str = "c0", reason: str = "", *, restarts: int = 0, **extra: Any
) -> dict[str, Any]:
    state = {"waiting": {"reason": reason} if reason else {}}
    return {"name": name, "ready": False, "restartCount": restarts, "state": state, **extra}


def terminated(
    name: str = "c0", *, code: int = 0, reason: str = "", signal: int = 0
) -> dict[str, Any]:
    term: dict[str, Any] = {"exitCode": code}
    if reason:
        term["reason"] = reason
    if signal:
        term["signal"] = signal
    return {"name": name, "ready": False, "restartCount": 0, "state": {"terminated": term}}


def test_pod_columns() -> None:
    assert column_names("Pod") == ["Name", "Ready", "Status", "Restarts", "Age"]
    assert column_names("Pod", wide=True)[5:] == ["IP", "Node", "Nominated Node", "Readiness Gates"]
    first = to_table("Pod", [], now=NOW)["columnDefinitions"][0]
    assert first["format"] == "name" and first["type"] == "string"


@pytest.mark.parametrize(
    ("pod", "ready", "status"),
    [
        pytest.param(make_pod(phase="Pending"), "0/1", "Pending", id="pending-unscheduled"),
        pytest.param(
            make_pod(phase="Pending", statuses=[waiting(reason="ContainerCreating")]),
            "0/1",
            "ContainerCreating",
            id="container-creating",
        ),
        pytest.param(make_pod(statuses=[running()]), "1/1", "Running", id="running"),
        pytest.param(
            make_pod(containers=2, statuses=[running("c0"), running("c1", ready=False)]),
            "1/2",
            "Running",
            id="running-one-not-ready",
        ),
        pytest.param(
            make_pod(statuses=[waiting(reason="CrashLoopBackOff", restarts=4)]),
            "0/1",
            "CrashLoopBackOff",
            id="crashloop",
        ),
        pytest.param(
            make_pod(statuses=[waiting(reason="ImagePullBackOff")]),
            "0/1",
            "ImagePullBackOff",
            id="image-pull",
        ),
        # Containers are walked last to first: the first container's state wins.
        pytest.param(
            make_pod(
                containers=2,
                statuses=[waiting("c0", "ErrImagePull"), waiting("c1", "CrashLoopBackOff")],
            ),
            "0/2",
            "ErrImagePull",
            id="first-container-wins",
        ),
        pytest.param(
            make_pod(phase="Succeeded", statuses=[terminated(reason="Completed")]),
            "0/1",
            "Completed",
            id="completed",
        ),
        pytest.param(
            make_pod(phase="Failed", statuses=[terminated(code=1, reason="Error")]),
            "0/1",
            "Error",
            id="error",
        ),
        pytest.param(
            make_pod(phase="Failed", statuses=[terminated(code=2)]),
            "0/1",
            "ExitCode:2",
            id="exit-code",
        ),
        pytest.param(
            make_pod(phase="Failed", statuses=[terminated(code=137, signal=9)]),
            "0/1",
            "Signal:9",
            id="signal",
        ),
        pytest.param(
            make_pod(
                containers=2,
                statuses=[terminated("c0", reason="Completed"), running("c1")],
                conditions=[{"type": "Ready", "status": "True"}],
            ),
            "1/2",
            "Running",
            id="completed-but-one-runs-ready",
        ),
        pytest.param(
            make_pod(containers=2, statuses=[terminated("c0", reason="Completed"), running("c1")]),
            "1/2",
            "NotReady",
            id="completed-but-one-runs-not-ready",
        ),
        pytest.param(
            make_pod(statuses=[running()], deleting=True), "1/1", "Terminating", id="terminating"
        ),
        pytest.param(
            make_pod(phase="Succeeded", statuses=[terminated(reason="Completed")], deleting=True),
            "0/1",
            "Completed",
            id="terminal-pod-not-terminating",
        ),
        pytest.param(
            make_pod(statuses=[running()], deleting=True, reason="NodeLost"),
            "1/1",
            "Unknown",
            id="node-lost",
        ),
        pytest.param(make_pod(phase="Failed", reason="Evicted"), "0/1", "Evicted", id="evicted"),
        pytest.param(
            make_pod(
                phase="Pending",
                conditions=[
                    {"type": "PodScheduled", "status": "False", "reason": "SchedulingGated"}
                ],
            ),
            "0/1",
            "SchedulingGated",
            id="scheduling-gated",
        ),
    ],
)
def test_pod_status(pod: dict[str, Any], ready: str, status: str) -> None:
    row = cells("Pod", pod)
    assert (row["Ready"], row["Status"]) == (ready, status)


INIT = [{"name": "setup", "image": "busybox"}, {"name": "migrate", "image": "busybox"}]


@pytest.mark.parametrize(
    ("init_statuses", "status"),
    [
        pytest.param([running("setup", ready=False)], "Init:0/2", id="first-init-running"),
        pytest.param([waiting("setup", "PodInitializing")], "Init:0/2", id="init-pod-initializing"),
        pytest.param(
            [terminated("setup"), running("migrate", ready=False)],
            "Init:1/2",
            id="second-init-running",
        ),
        pytest.param(
            [waiting("setup", "ImagePullBackOff")], "Init:ImagePullBackOff", id="init-waiting"
        ),
        pytest.param(
            [waiting("setup", "CrashLoopBackOff")], "Init:CrashLoopBackOff", id="init-crashloop"
        ),
        pytest.param([terminated("setup", code=1, reason="Error")], "Init:Error", id="init-error"),
        pytest.param([terminated("setup", code=3)], "Init:ExitCode:3", id="init-exit-code"),
        pytest.param([terminated("setup", code=137, signal=9)], "Init:Signal:9", id="init-signal"),
        # Init done: the app containers decide.
        pytest.param(
            [terminated("setup"), terminated("migrate")], "PodInitializing", id="init-done"
        ),
    ],
)
def test_pod_init_status(init_statuses: list[dict[str, Any]], status: str) -> None:
    pod = make_pod(
        phase="Pending",
        init=INIT,
        init_statuses=init_statuses,
        statuses=[waiting(reason="PodInitializing")],
    )
    assert cells("Pod", pod)["Status"] == status


def test_sidecar_counts_in_ready_and_total() -> None:
    sidecar = {"name": "proxy", "image": "envoy", "restartPolicy": "Always"}
    pod = make_pod(
        init=[sidecar],
        init_statuses=[running("proxy", started=True, restarts=2)],
        statuses=[running()],
        conditions=[{"type": "Initialized", "status": "True"}],
    )
    ready, status, restarts, _ = pod_status(pod)
    # 1 app container + 1 sidecar; the sidecar's restarts count once the pod is initialized.
    assert (ready, status, restarts) == ("2/2", "Running", 2)


SIDECAR_INIT = [
    {"name": "proxy", "image": "envoy", "restartPolicy": "Always"},
    {"name": "setup", "image": "busybox"},
]


@pytest.mark.parametrize(
    ("init_statuses", "statuses", "initialized", "ready", "status"),
    [
        # the sidecar has not started: the pod is at its first init container
        pytest.param(
            [running("proxy", ready=False, started=False), waiting("setup", "PodInitializing")],
            [waiting(reason="PodInitializing")],
            False,
            "0/2",
            "Init:0/2",
            id="sidecar-starting",
        ),
        # started, it counts as done (and ready) while the next one runs
        pytest.param(
            [running("proxy", started=True), running("setup", ready=False)],
            [waiting(reason="PodInitializing")],
            False,
            "1/2",
            "Init:1/2",
            id="next-init-running",
        ),
        pytest.param(
            [running("proxy", started=True), terminated("setup", reason="Completed")],
            [running()],
            True,
            "2/2",
            "Running",
            id="app-running",
        ),
        # a crash-looping sidecar shows as upstream shows it, the app still counted
        pytest.param(
            [waiting("proxy", "CrashLoopBackOff", started=False), terminated("setup")],
            [running()],
            True,
            "1/2",
            "Init:CrashLoopBackOff",
            id="sidecar-crashlooping",
        ),
        # a Job's pod: the app completed, the sidecar stopped on SIGTERM
        pytest.param(
            [terminated("proxy", code=143, reason="Error"), terminated("setup")],
            [terminated(reason="Completed")],
            True,
            "0/2",
            "Completed",
            id="job-done",
        ),
    ],
)
def test_pod_with_a_sidecar(
    init_statuses: list[dict[str, Any]],
    statuses: list[dict[str, Any]],
    initialized: bool,
    ready: str,
    status: str,
) -> None:
    pod = make_pod(
        phase="Running" if initialized else "Pending",
        init=SIDECAR_INIT,
        init_statuses=init_statuses,
        statuses=statuses,
        conditions=[{"type": "Initialized", "status": "True" if initialized else "False"}],
    )
    assert (cells("Pod", pod)["Ready"], cells("Pod", pod)["Status"]) == (ready, status)


def test_restarts_show_when_the_last_restart_was() -> None:
    last = {"lastState": {"terminated": {"exitCode": 1, "finishedAt": ago(minutes=5)}}}
    pod = make_pod(statuses=[waiting(reason="CrashLoopBackOff", restarts=5, **last)])
    assert cells("Pod", pod)["Restarts"] == "5 (5m ago)"


def test_restarts_without_a_known_last_restart_are_a_bare_count() -> None:
    pod = make_pod(statuses=[running(restarts=3)])
    assert cells("Pod", pod)["Restarts"] == "3"


def test_restarts_use_the_latest_termination() -> None:
    pod = make_pod(
        containers=2,
        statuses=[
            running("c0", restarts=1, lastState={"terminated": {"finishedAt": ago(hours=2)}}),
            running("c1", restarts=2, lastState={"terminated": {"finishedAt": ago(seconds=30)}}),
        ],
    )
    assert cells("Pod", pod)["Restarts"] == "3 (30s ago)"


def test_pod_wide_cells() -> None:
    pod = make_pod(
        statuses=[running()],
        nodeName="node-1",
        readinessGates=[{"conditionType": "example.com/gate"}, {"conditionType": "other/gate"}],
        conditions=[{"type": "example.com/gate", "status": "True"}],
    )
    pod["status"]["podIPs"] = [{"ip": "127.244.0.7"}]
    row = cells("Pod", pod)
    assert (row["IP"], row["Node"], row["Nominated Node"], row["Readiness Gates"]) == (
        "127.244.0.7",
        "node-1",
        "<none>",
        "1/2",
    )
    assert row["Age"] == "5m"


def test_pod_ip_falls_back_to_pod_ip() -> None:
    pod = make_pod(statuses=[running()])
    pod["status"]["podIP"] = "127.244.0.9"
    assert cells("Pod", pod)["IP"] == "127.244.0.9"


def test_finished_pods_carry_a_completed_row_condition() -> None:
    done = to_table("Pod", [make_pod(phase="Succeeded")], now=NOW)["rows"][0]
    assert done["conditions"] == [
        {
            "type": "Completed",
            "status": "True",
            "reason": "Succeeded",
            "message": "The pod has completed successfully.",
        }
    ]
    failed = to_table("Pod", [make_pod(phase="Failed")], now=NOW)["rows"][0]
    assert failed["conditions"][0]["reason"] == "Failed"
    assert "conditions" not in to_table("Pod", [make_pod()], now=NOW)["rows"][0]


# ---- the Table itself ------------------------------------------------------------------


def test_table_shape_with_metadata_rows() -> None:
    pod = make_pod(statuses=[running()])
    pod["metadata"]["resourceVersion"] = "42"
    table = to_table("Pod", [pod], now=NOW, list_meta={"resourceVersion": "99", "continue": "abc"})
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "99", "continue": "abc"}
    assert set(table["columnDefinitions"][0]) == {
        "name",
        "type",
        "format",
        "description",
        "priority",
    }
    assert table["rows"][0]["object"] == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": pod["metadata"],
    }


def test_single_object_table_carries_its_resource_version() -> None:
    pod = make_pod()
    pod["metadata"]["resourceVersion"] = "7"
    assert to_table("Pod", [pod], now=NOW)["metadata"] == {"resourceVersion": "7"}


@pytest.mark.parametrize(
    ("include", "expected"), [("Object", "full"), ("None", None), ("", "partial")]
)
def test_include_object(include: str, expected: str | None) -> None:
    pod = make_pod()
    obj = to_table("Pod", [pod], include_object=include, now=NOW)["rows"][0]["object"]
    if expected == "full":
        assert obj == pod
    elif expected == "partial":
        assert obj["kind"] == "PartialObjectMetadata"
    else:
        assert obj is None


def test_unknown_include_object_is_a_bad_request() -> None:
    with pytest.raises(errors.BadRequest, match='unrecognized includeObject value: "Everything"'):
        to_table("Pod", [], include_object="Everything")


def test_watch_event_tables_may_leave_out_columns() -> None:
    table = to_table("Pod", [make_pod()], include_columns=False, now=NOW)
    assert table["columnDefinitions"] == [] and len(table["rows"]) == 1


def test_generic_fallback_is_name_and_age() -> None:
    obj = {"metadata": {"name": "thing", "creationTimestamp": ago(seconds=42)}}
    table = to_table("Widget", [obj], now=NOW)
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Age"]
    assert table["rows"][0]["cells"] == ["thing", "42s"]


def test_naive_now_is_taken_as_utc() -> None:
    obj = {"metadata": {"name": "c", "creationTimestamp": ago(seconds=10)}}
    naive = NOW.replace(tzinfo=None)
    assert to_table("ConfigMap", [obj], now=naive)["rows"][0]["cells"][-1] == "10s"


# ---- other kinds ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "columns", "wide"),
    [
        (
            "Deployment",
            ["Name", "Ready", "Up-to-date", "Available", "Age"],
            ["Containers", "Images", "Selector"],
        ),
        (
            "ReplicaSet",
            ["Name", "Desired", "Current", "Ready", "Age"],
            ["Containers", "Images", "Selector"],
        ),
        ("StatefulSet", ["Name", "Ready", "Age"], ["Containers", "Images"]),
        ("Service", ["Name", "Type", "Cluster-IP", "External-IP", "Port(s)", "Age"], ["Selector"]),
        ("Endpoints", ["Name", "Endpoints", "Age"], []),
        ("EndpointSlice", ["Name", "AddressType", "Ports", "Endpoints", "Age"], []),
        ("ConfigMap", ["Name", "Data", "Age"], []),
        ("Secret", ["Name", "Type", "Data", "Age"], []),
        ("Namespace", ["Name", "Status", "Age"], []),
        (
            "Node",
            ["Name", "Status", "Roles", "Age", "Version"],
            ["Internal-IP", "External-IP", "OS-Image", "Kernel-Version", "Container-Runtime"],
        ),
        (
            "PersistentVolume",
            [
                "Name",
                "Capacity",
                "Access Modes",
                "Reclaim Policy",
                "Status",
                "Claim",
                "StorageClass",
                "VolumeAttributesClass",
                "Reason",
                "Age",
            ],
            ["VolumeMode"],
        ),
        (
            "PersistentVolumeClaim",
            [
                "Name",
                "Status",
                "Volume",
                "Capacity",
                "Access Modes",
                "StorageClass",
                "VolumeAttributesClass",
                "Age",
            ],
            ["VolumeMode"],
        ),
        (
            "Event",
            ["Last Seen", "Type", "Reason", "Object", "Message"],
            ["Subobject", "Source", "First Seen", "Count", "Name"],
        ),
        ("ServiceAccount", ["Name", "Secrets", "Age"], []),
        ("PriorityClass", ["Name", "Value", "Global-Default", "Age"], []),
        (
            "StorageClass",
            [
                "Name",
                "Provisioner",
                "ReclaimPolicy",
                "VolumeBindingMode",
                "AllowVolumeExpansion",
                "Age",
            ],
            [],
        ),
        ("Lease", ["Name", "Holder", "Age"], []),
    ],
)
def test_columns_match_upstream(kind: str, columns: list[str], wide: list[str]) -> None:
    assert kind in PRINTERS
    assert column_names(kind) == columns
    all_columns = column_names(kind, wide=True)
    assert [c for c in all_columns if c not in columns] == wide


def test_deployment_row() -> None:
    deploy = {
        "metadata": {"name": "go-app", "creationTimestamp": ago(days=2, hours=3)},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "go-app", "tier": "web"}},
            "template": {
                "spec": {
                    "containers": [
                        {"name": "go-app", "image": "go-app:latest"},
                        {"name": "side", "image": "s:1"},
                    ]
                }
            },
        },
        "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2},
    }
    assert to_table("Deployment", [deploy], now=NOW)["rows"][0]["cells"] == [
        "go-app",
        "2/3",
        3,
        2,
        "2d3h",
        "go-app,side",
        "go-app:latest,s:1",
        "app=go-app,tier=web",
    ]


def test_deployment_without_status_reads_zero_ready() -> None:
    deploy = {
        "metadata": {"name": "d"},
        "spec": {"replicas": 2, "template": {"spec": {"containers": []}}},
    }
    row = cells("Deployment", deploy)
    assert (row["Ready"], row["Up-to-date"], row["Available"], row["Selector"]) == ("0/2", 0, 0, "")


def test_replica_set_and_stateful_set_rows() -> None:
    rs = {
        "metadata": {"name": "go-app-5d4f", "creationTimestamp": ago(minutes=3)},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "go-app"}},
            "template": {"spec": {"containers": [{"name": "a", "image": "a:1"}]}},
        },
        "status": {"replicas": 3, "readyReplicas": 1},
    }
    assert to_table("ReplicaSet", [rs], now=NOW)["rows"][0]["cells"] == [
        "go-app-5d4f",
        3,
        3,
        1,
        "3m",
        "a",
        "a:1",
        "app=go-app",
    ]
    sts = {
        "metadata": {"name": "db"},
        "spec": {
            "replicas": 2,
            "template": {"spec": {"containers": [{"name": "pg", "image": "pg:16"}]}},
        },
        "status": {"readyReplicas": 2},
    }
    assert cells("StatefulSet", sts)["Ready"] == "2/2"


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        (None, ""),
        ({}, ""),
        ({"matchLabels": {"b": "2", "a": "1"}}, "a=1,b=2"),
        (
            {
                "matchLabels": {"app": "web"},
                "matchExpressions": [
                    {"key": "tier", "operator": "In", "values": ["b", "a"]},
                    {"key": "env", "operator": "NotIn", "values": ["prod"]},
                    {"key": "gpu", "operator": "Exists"},
                    {"key": "old", "operator": "DoesNotExist"},
                ],
            },
            "app=web,env notin (prod),gpu,!old,tier in (a,b)",
        ),
    ],
    ids=["nil", "empty", "labels", "expressions"],
)
def test_selector_string(selector: dict[str, Any] | None, expected: str) -> None:
    assert selector_string(selector) == expected


def test_format_label_selector_marks_empty_and_invalid() -> None:
    assert format_label_selector({}) == "<none>"
    assert (
        format_label_selector({"matchExpressions": [{"key": "a", "operator": "Near"}]}) == "<error>"
    )


@pytest.mark.parametrize(
    ("spec", "status", "expected"),
    [
        (
            {
                "type": "ClusterIP",
                "clusterIP": "127.96.0.10",
                "clusterIPs": ["127.96.0.10"],
                "ports": [{"port": 80, "protocol": "TCP"}],
                "selector": {"app": "web"},
            },
            {},
            ["ClusterIP", "127.96.0.10", "<none>", "80/TCP", "app=web"],
        ),
        (
            {
                "type": "NodePort",
                "clusterIP": "127.96.0.11",
                "ports": [
                    {"port": 80, "nodePort": 30080, "protocol": "TCP"},
                    {"port": 53, "protocol": "UDP"},
                ],
            },
            {},
            ["NodePort", "127.96.0.11", "<none>", "80:30080/TCP,53/UDP", "<none>"],
        ),
        (
            {
                "type": "LoadBalancer",
                "clusterIP": "127.96.0.12",
                "ports": [{"port": 443, "protocol": "TCP"}],
            },
            {},
            ["LoadBalancer", "127.96.0.12", "<pending>", "443/TCP", "<none>"],
        ),
        (
            {"type": "LoadBalancer", "clusterIP": "127.96.0.12", "ports": []},
            {"loadBalancer": {"ingress": [{"ip": "10.0.0.2"}, {"hostname": "lb.example.com"}]}},
            ["LoadBalancer", "127.96.0.12", "10.0.0.2,lb.example.com", "<none>", "<none>"],
        ),
        (
            {"type": "ExternalName", "externalName": "db.example.com"},
            {},
            ["ExternalName", "<none>", "db.example.com", "<none>", "<none>"],
        ),
        (
            {"clusterIP": "None", "ports": [{"port": 5432, "protocol": "TCP"}]},
            {},
            ["ClusterIP", "None", "<none>", "5432/TCP", "<none>"],
        ),
    ],
    ids=["cluster-ip", "node-port", "lb-pending", "lb-ingress", "external-name", "headless"],
)
def test_service_row(spec: dict[str, Any], status: dict[str, Any], expected: list[Any]) -> None:
    svc = {
        "metadata": {"name": "web", "creationTimestamp": ago(hours=1)},
        "spec": spec,
        "status": status,
    }
    row = cells("Service", svc)
    assert [
        row[c] for c in ("Type", "Cluster-IP", "External-IP", "Port(s)", "Selector")
    ] == expected
    assert row["Age"] == "60m"


def test_endpoints_row_shows_three_then_more() -> None:
    ep = {
        "metadata": {"name": "web"},
        "subsets": [
            {
                "addresses": [{"ip": f"127.244.0.{i}"} for i in range(1, 5)],
                "ports": [{"port": 8080}],
            }
        ],
    }
    assert (
        cells("Endpoints", ep)["Endpoints"]
        == "127.244.0.1:8080,127.244.0.2:8080,127.244.0.3:8080 + 1 more..."
    )
    assert cells("Endpoints", {"metadata": {"name": "e"}})["Endpoints"] == "<none>"
    v6 = {
        "metadata": {"name": "e"},
        "subsets": [{"addresses": [{"ip": "::1"}], "ports": [{"port": 80}]}],
    }
    assert cells("Endpoints", v6)["Endpoints"] == "[::1]:80"


def test_endpoint_slice_row() -> None:
    eps = {
        "metadata": {"name": "web-abc"},
        "addressType": "IPv4",
        "ports": [{"port": 8080}, {"name": "metrics"}],
        "endpoints": [{"addresses": ["127.244.0.1"]}, {"addresses": ["127.244.0.2"]}],
    }
    row = cells("EndpointSlice", eps)
    assert (row["AddressType"], row["Ports"], row["Endpoints"]) == (
        "IPv4",
        "8080,metrics",
        "127.244.0.1,127.244.0.2",
    )
    assert cells("EndpointSlice", {"metadata": {"name": "x"}})["Endpoints"] == "<unset>"


def test_config_map_secret_and_service_account_rows() -> None:
    cm = {"metadata": {"name": "cfg"}, "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}}
    assert cells("ConfigMap", cm)["Data"] == 3
    secret = {
        "metadata": {"name": "s"},
        "type": "kubernetes.io/tls",
        "data": {"tls.crt": "", "tls.key": ""},
    }
    assert (cells("Secret", secret)["Type"], cells("Secret", secret)["Data"]) == (
        "kubernetes.io/tls",
        2,
    )
    assert cells("Secret", {"metadata": {"name": "s"}})["Type"] == "Opaque"
    sa = {"metadata": {"name": "default"}, "secrets": [{"name": "tok"}]}
    assert cells("ServiceAccount", sa)["Secrets"] == 1


def test_namespace_row() -> None:
    ns = {
        "metadata": {"name": "default", "creationTimestamp": ago(days=10)},
        "status": {"phase": "Active"},
    }
    assert to_table("Namespace", [ns], now=NOW)["rows"][0]["cells"] == ["default", "Active", "10d"]


def test_node_row() -> None:
    node = {
        "metadata": {
            "name": "node-1",
            "creationTimestamp": ago(hours=1),
            "labels": {"node-role.kubernetes.io/control-plane": "", "kubernetes.io/role": "worker"},
        },
        "spec": {"unschedulable": True},
        "status": {
            "conditions": [
                {"type": "MemoryPressure", "status": "False"},
                {"type": "Ready", "status": "True"},
            ],
            "addresses": [
                {"type": "Hostname", "address": "node-1"},
                {"type": "InternalIP", "address": "127.0.0.1"},
            ],
            "nodeInfo": {"kubeletVersion": "v1.32.4", "osImage": "Debian GNU/Linux 12 (bookworm)"},
        },
    }
    assert to_table("Node", [node], now=NOW)["rows"][0]["cells"] == [
        "node-1",
        "Ready,SchedulingDisabled",
        "control-plane,worker",
        "60m",
        "v1.32.4",
        "127.0.0.1",
        "<none>",
        "Debian GNU/Linux 12 (bookworm)",
        "<unknown>",
        "<unknown>",
    ]
    not_ready = {
        "metadata": {"name": "n"},
        "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]},
    }
    assert cells("Node", not_ready)["Status"] == "NotReady"
    assert cells("Node", {"metadata": {"name": "n"}})["Status"] == "Unknown"
    assert cells("Node", {"metadata": {"name": "n"}})["Roles"] == "<none>"


def test_persistent_volume_rows() -> None:
    pv = {
        "metadata": {"name": "pv-1", "creationTimestamp": ago(minutes=1)},
        "spec": {
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "claimRef": {"namespace": "default", "name": "data"},
            "storageClassName": "local",
        },
        "status": {"phase": "Bound"},
    }
    assert to_table("PersistentVolume", [pv], now=NOW)["rows"][0]["cells"] == [
        "pv-1",
        "1Gi",
        "RWO,RWX",
        "Retain",
        "Bound",
        "default/data",
        "local",
        "<unset>",
        "",
        "60s",
        "<unset>",
    ]
    pv["metadata"]["deletionTimestamp"] = ago(seconds=1)
    assert cells("PersistentVolume", pv)["Status"] == "Terminating"

    pvc = {
        "metadata": {
            "name": "data",
            "annotations": {"volume.beta.kubernetes.io/storage-class": "beta"},
        },
        "spec": {"volumeName": "pv-1", "storageClassName": "local", "volumeMode": "Filesystem"},
        "status": {
            "phase": "Bound",
            "capacity": {"storage": "1Gi"},
            "accessModes": ["ReadWriteOnce"],
        },
    }
    row = cells("PersistentVolumeClaim", pvc)
    assert [
        row[c]
        for c in ("Status", "Volume", "Capacity", "Access Modes", "StorageClass", "VolumeMode")
    ] == ["Bound", "pv-1", "1Gi", "RWO", "beta", "Filesystem"]
    pending = {
        "metadata": {"name": "d"},
        "spec": {"resources": {"requests": {"storage": "1Gi"}}},
        "status": {"phase": "Pending"},
    }
    row = cells("PersistentVolumeClaim", pending)
    assert (row["Capacity"], row["Access Modes"], row["StorageClass"]) == ("", "", "")


@pytest.mark.parametrize(
    ("annotations", "name"),
    [
        ({"storageclass.kubernetes.io/is-default-class": "true"}, "local (default)"),
        ({"storageclass.beta.kubernetes.io/is-default-class": "true"}, "local (default)"),
        ({"storageclass.kubernetes.io/is-default-class": "false"}, "local"),
        ({}, "local"),
    ],
    ids=["ga", "beta", "false", "none"],
)
def test_storage_class_default_suffix(annotations: dict[str, str], name: str) -> None:
    sc = {
        "metadata": {"name": "local", "annotations": annotations},
        "provisioner": "kubelite.io/local",
    }
    assert to_table("StorageClass", [sc], now=NOW)["rows"][0]["cells"][:5] == [
        name,
        "kubelite.io/local",
        "Delete",
        "Immediate",
        False,
    ]


def test_priority_class_and_lease_rows() -> None:
    pc = {"metadata": {"name": "high"}, "value": 1000, "globalDefault": True}
    assert to_table("PriorityClass", [pc], now=NOW)["rows"][0]["cells"][:3] == ["high", 1000, True]
    lease = {"metadata": {"name": "kube-scheduler"}, "spec": {"holderIdentity": "node-1_abc"}}
    assert cells("Lease", lease)["Holder"] == "node-1_abc"
    assert cells("Lease", {"metadata": {"name": "l"}})["Holder"] == ""


def test_core_event_row() -> None:
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": "web-0.17a"},
        "involvedObject": {"kind": "Pod", "name": "web-0", "fieldPath": "spec.containers{app}"},
        "reason": "BackOff",
        "message": "Back-off restarting failed container\n",
        "type": "Warning",
        "firstTimestamp": ago(minutes=10),
        "lastTimestamp": ago(seconds=30),
        "count": 12,
        "source": {"component": "kubelet", "host": "node-1"},
    }
    assert to_table("Event", [event], now=NOW)["rows"][0]["cells"] == [
        "30s",
        "Warning",
        "BackOff",
        "pod/web-0",
        "spec.containers{app}",
        "kubelet, node-1",
        "Back-off restarting failed container",
        "10m",
        12,
        "web-0.17a",
    ]


def test_new_api_event_row() -> None:
    """events.k8s.io/v1 Events and core ones from the new API: eventTime, series, no count."""
    event = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "e1"},
        "regarding": {"kind": "Deployment", "name": "go-app"},
        "note": "Scaled up replica set go-app-5d4f to 3",
        "reason": "ScalingReplicaSet",
        "type": "Normal",
        "eventTime": ago(minutes=2),
        "reportingController": "deployment-controller",
        "reportingInstance": "",
    }
    row = cells("Event", event)
    assert [row[c] for c in ("Last Seen", "Object", "Message", "Source", "Count")] == [
        "2m",
        "deployment/go-app",
        "Scaled up replica set go-app-5d4f to 3",
        "deployment-controller",
        1,
    ]
    event["series"] = {"count": 4, "lastObservedTime": ago(seconds=5)}
    row = cells("Event", event)
    assert (row["Last Seen"], row["First Seen"], row["Count"]) == ("5s", "2m", 4)
