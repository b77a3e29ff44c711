"""Ephemeral containers: upstream's field paths and messages, on create, update and the
`pods/ephemeralcontainers` subresource.

As in test_validation, objects are defaulted first and cases compare
`str(FieldError)`, what kubectl prints after `The Pod "web" is invalid:`.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubelite.api.defaults import apply_defaults
from kubelite.api.validation import validate

Obj = dict[str, Any]
SUB = "ephemeralcontainers"
CANNOT = "Forbidden: cannot be set for an Ephemeral Container"


def make_pod(*, ephemeral: list[Obj] | None = None, annotations: Obj | None = None) -> Obj:
    spec: Obj = {
        "containers": [{"name": "app", "image": "nginx:1.25"}],
        "initContainers": [{"name": "setup", "image": "busybox:1"}],
    }
    if ephemeral is not None:
        spec["ephemeralContainers"] = ephemeral
    metadata: Obj = {"name": "web", "namespace": "default", "resourceVersion": "7", "uid": "u1"}
    if annotations:
        metadata["annotations"] = annotations
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}
    apply_defaults(pod)
    return pod


def debug(name: str = "dbg", **fields: Any) -> Obj:
    return {"name": name, "image": "python:3.11", **fields}


def add(old: Obj, *containers: Obj) -> Obj:
    """`old` with ephemeral containers appended, defaulted as the API server would."""
    new = copy.deepcopy(old)
    new["spec"].setdefault("ephemeralContainers", []).extend(copy.deepcopy(list(containers)))
    apply_defaults(new)
    return new


def messages(new: Obj, old: Obj | None = None, subresource: str = SUB) -> list[str]:
    return [str(e) for e in validate(new, old=old, subresource=subresource)]


# ---- adding through the subresource ------------------------------------------------


def test_a_valid_debug_container_is_accepted() -> None:
    old = make_pod()
    assert messages(add(old, debug(command=["sleep", "30"], targetContainerName="app")), old) == []


def test_defaults_fill_an_ephemeral_container_as_a_regular_one() -> None:
    ec = add(make_pod(), debug())["spec"]["ephemeralContainers"][0]
    assert (
        ec["terminationMessagePath"],
        ec["terminationMessagePolicy"],
        ec["imagePullPolicy"],
    ) == ("/dev/termination-log", "File", "IfNotPresent")
    latest = add(make_pod(), debug(image="python"))["spec"]["ephemeralContainers"][0]
    assert latest["imagePullPolicy"] == "Always"  # no tag means :latest


@pytest.mark.parametrize(
    ("container", "expected"),
    [
        pytest.param(
            debug("app"),
            ['spec.ephemeralContainers[0].name: Duplicate value: "app"'],
            id="name-of-a-container",
        ),
        pytest.param(
            debug("setup"),
            ['spec.ephemeralContainers[0].name: Duplicate value: "setup"'],
            id="name-of-an-init-container",
        ),
        pytest.param(
            debug(targetContainerName="nope"),
            ['spec.ephemeralContainers[0].targetContainerName: Not found: "nope"'],
            id="unknown-target",
        ),
        pytest.param(
            debug(image=""),
            ["spec.ephemeralContainers[0].image: Required value"],
            id="image-required",
        ),
        pytest.param(
            debug(image=" python:3.11"),
            [
                'spec.ephemeralContainers[0].image: Invalid value: " python:3.11": '
                "must not have leading or trailing whitespace"
            ],
            id="image-whitespace",
        ),
        pytest.param(
            debug("Bad_Name"),
            ["spec.ephemeralContainers[0].name: Invalid value: "],
            id="name-not-a-label",
        ),
        pytest.param(
            debug(
                ports=[{"containerPort": 80}],
                resources={"limits": {"cpu": "1"}},
                resizePolicy=[{"resourceName": "cpu", "restartPolicy": "NotRequired"}],
                restartPolicy="Always",
                livenessProbe={"exec": {"command": ["true"]}},
                readinessProbe={"exec": {"command": ["true"]}},
                startupProbe={"exec": {"command": ["true"]}},
                lifecycle={"preStop": {"exec": {"command": ["true"]}}},
            ),
            [
                # In the order upstream's EphemeralContainerCommon declares the fields.
                f"spec.ephemeralContainers[0].{field}: {CANNOT}"
                for field in (
                    "ports",
                    "resources",
                    "resizePolicy",
                    "restartPolicy",
                    "livenessProbe",
                    "readinessProbe",
                    "startupProbe",
                    "lifecycle",
                )
            ],
            id="workload-fields",
        ),
        pytest.param(
            debug(volumeMounts=[{"name": "data", "mountPath": "/d", "subPath": "x"}]),
            [
                'spec.ephemeralContainers[0].volumeMounts[0].name: Not found: "data"',
                f"spec.ephemeralContainers[0].volumeMounts[0].subPath: {CANNOT}",
            ],
            id="sub-path",
        ),
    ],
)
def test_invalid_ephemeral_containers(container: Obj, expected: list[str]) -> None:
    old = make_pod()
    got = messages(add(old, container), old)
    if expected[0].endswith("Invalid value: "):  # the long RFC 1123 wording is test_validation's
        assert len(got) == 1 and got[0].startswith(expected[0] + '"Bad_Name"')
    else:
        assert got == expected


def test_names_are_unique_among_ephemeral_containers_too() -> None:
    old = make_pod()
    got = messages(add(old, debug("dbg"), debug("dbg")), old)
    assert got == ['spec.ephemeralContainers[1].name: Duplicate value: "dbg"']


def test_an_empty_resources_object_is_not_set() -> None:
    """kubectl debug sends `"resources": {}`; like Go's zero struct, it counts as unset."""
    old = make_pod()
    assert messages(add(old, debug(resources={})), old) == []


# ---- what may change ---------------------------------------------------------------


def test_existing_ephemeral_containers_may_not_be_removed() -> None:
    old = add(make_pod(), debug("dbg"))
    new = copy.deepcopy(old)
    new["spec"]["ephemeralContainers"] = []
    assert messages(new, old) == [
        'spec.ephemeralContainers: Forbidden: existing ephemeral containers "dbg" '
        "may not be removed\n"
    ]


def test_existing_ephemeral_containers_may_not_be_changed() -> None:
    old = add(make_pod(), debug("dbg", command=["sleep", "30"]))
    new = copy.deepcopy(old)
    new["spec"]["ephemeralContainers"][0]["command"] = ["sleep", "60"]
    (got,) = messages(new, old)
    assert got.startswith(
        'spec.ephemeralContainers: Forbidden: existing ephemeral containers "dbg" '
        "may not be changed\n  core.EphemeralContainer{\n"
    )
    assert '- \tcommand[1]: "30"\n+ \tcommand[1]: "60"' in got


def test_order_does_not_matter_and_more_may_be_added() -> None:
    old = add(make_pod(), debug("one"), debug("two"))
    new = add(old, debug("three"))
    new["spec"]["ephemeralContainers"].reverse()
    assert messages(new, old) == []


def test_static_pods_take_no_ephemeral_containers() -> None:
    old = make_pod(annotations={"kubernetes.io/config.mirror": "x"})
    old["spec"]["nodeName"] = "node-1"
    assert messages(add(old, debug()), old) == [
        ": Forbidden: static pods do not support ephemeral containers"
    ]


# ---- the pod itself ---------------------------------------------------------------


def test_ephemeral_containers_cannot_be_set_on_create() -> None:
    pod = make_pod(ephemeral=[debug()])
    assert messages(pod, subresource="") == [
        "spec.ephemeralContainers: Forbidden: cannot be set on create"
    ]


def test_a_pod_update_may_not_change_ephemeral_containers() -> None:
    old = add(make_pod(), debug("dbg"))
    new = copy.deepcopy(old)
    del new["spec"]["ephemeralContainers"]
    (got,) = messages(new, old, subresource="")
    assert got.startswith(
        "spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`"
    )
    assert "ephemeralContainers" in got


def test_a_pod_update_keeping_them_is_fine() -> None:
    old = add(make_pod(), debug("dbg"))
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = "nginx:1.26"
    assert messages(new, old, subresource="") == []


def test_status_accepts_ephemeral_container_statuses() -> None:
    old = add(make_pod(), debug("dbg"))
    new = copy.deepcopy(old)
    new["status"] = {
        "ephemeralContainerStatuses": [
            {
                "name": "dbg",
                "image": "python:3.11",
                "imageID": "",
                "ready": False,
                "restartCount": 0,
                "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
            }
        ]
    }
    assert messages(new, old, subresource="status") == []


def test_a_finished_ephemeral_container_stays_finished() -> None:
    """The kubelet never restarts ephemeral containers: an implicit restartPolicy Never."""
    old = add(make_pod(), debug("dbg"))
    old["status"] = {
        "ephemeralContainerStatuses": [{"name": "dbg", "state": {"terminated": {"exitCode": 0}}}]
    }
    new = copy.deepcopy(old)
    new["status"]["ephemeralContainerStatuses"][0]["state"] = {"running": {}}
    assert messages(new, old, subresource="status") == [
        "status.ephemeralContainerStatuses[0].state: Forbidden: "
        "may not be transitioned to non-terminated state"
    ]
