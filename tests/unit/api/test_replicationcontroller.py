"""ReplicationController defaults and validation, with upstream's paths and messages."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.api.defaults import apply_defaults
from kubelite.api.validation import validate

Obj = dict[str, Any]


def make_rc(*, selector: dict[str, str] | None = None, **spec: Any) -> Obj:
    template: Obj = {
        "metadata": {"labels": {"app": "web"}},
        "spec": {"containers": [{"name": "web", "image": "python:3.11"}]},
    }
    out: Obj = {
        "apiVersion": "v1",
        "kind": "ReplicationController",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"template": template, **spec},
    }
    if selector is not None:
        out["spec"]["selector"] = selector
    return out


def messages(obj: Obj, old: Obj | None = None, subresource: str = "") -> list[str]:
    return [str(e) for e in validate(obj, old=old, subresource=subresource)]


def test_selector_labels_and_replicas_default_from_the_template() -> None:
    rc = apply_defaults(make_rc())
    assert rc["spec"]["selector"] == {"app": "web"}
    assert rc["metadata"]["labels"] == {"app": "web"}
    assert rc["spec"]["replicas"] == 1
    pod_spec = rc["spec"]["template"]["spec"]
    assert (pod_spec["restartPolicy"], pod_spec["dnsPolicy"]) == ("Always", "ClusterFirst")
    assert pod_spec["containers"][0]["terminationMessagePath"] == "/dev/termination-log"


def test_given_selector_labels_and_replicas_are_kept() -> None:
    rc = make_rc(selector={"app": "web"}, replicas=0)
    rc["metadata"]["labels"] = {"team": "a"}
    apply_defaults(rc)
    assert rc["spec"]["selector"] == {"app": "web"}
    assert rc["metadata"]["labels"] == {"team": "a"}
    assert rc["spec"]["replicas"] == 0


def test_a_defaulted_rc_is_valid() -> None:
    assert messages(apply_defaults(make_rc(replicas=2))) == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param(
            {"replicas": -1},
            ["spec.replicas: Invalid value: -1: must be greater than or equal to 0"],
            id="negative-replicas",
        ),
        pytest.param(
            {"minReadySeconds": -5},
            ["spec.minReadySeconds: Invalid value: -5: must be greater than or equal to 0"],
            id="negative-min-ready",
        ),
        pytest.param(
            {"selector": {"app": "other"}},
            [
                'spec.template.metadata.labels: Invalid value: {"app":"web"}: '
                "`selector` does not match template `labels`"
            ],
            id="selector-mismatch",
        ),
        pytest.param(
            {"template": None},
            ["spec.template: Required value"],
            id="no-template",
        ),
    ],
)
def test_spec_errors(change: Obj, expected: list[str]) -> None:
    rc = apply_defaults(make_rc())
    rc["spec"].update(change)
    assert messages(rc) == expected


def test_an_empty_selector_is_required() -> None:
    rc = apply_defaults(make_rc())
    rc["spec"]["selector"] = {}
    rc["spec"]["template"]["metadata"]["labels"] = {}
    assert messages(rc) == ["spec.selector: Required value"]


def test_pods_run_until_replaced() -> None:
    rc = apply_defaults(make_rc())
    rc["spec"]["template"]["spec"]["restartPolicy"] = "Never"
    rc["spec"]["template"]["spec"]["activeDeadlineSeconds"] = 10
    assert messages(rc) == [
        'spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"',
        "spec.template.spec.activeDeadlineSeconds: Forbidden: "
        "activeDeadlineSeconds in ReplicationController is not Supported",
    ]


def test_a_writable_gce_disk_is_refused_for_more_than_one_replica() -> None:
    rc = apply_defaults(make_rc(replicas=2))
    rc["spec"]["template"]["spec"]["volumes"] = [
        {"name": "d", "gcePersistentDisk": {"pdName": "disk"}}
    ]
    assert messages(rc) == [
        "spec.template.spec.volumes[0].gcePersistentDisk.readOnly: Invalid value: false: "
        "must be true for replicated pods > 1; GCE PD can only be mounted on multiple "
        "machines if it is read-only"
    ]
    rc["spec"]["replicas"] = 1
    assert messages(rc) == []


def test_the_selector_may_change_on_update() -> None:
    old = apply_defaults(make_rc())
    old["metadata"].update(uid="u", resourceVersion="1", creationTimestamp="2025-01-01T00:00:00Z")
    new = apply_defaults(make_rc())
    new["metadata"] = dict(old["metadata"])
    new["spec"]["selector"] = {}
    new["spec"]["template"]["metadata"]["labels"] = {"app": "web", "tier": "front"}
    new["spec"]["selector"] = {"tier": "front"}
    assert messages(new, old) == []


def test_status_counts_are_bounded() -> None:
    old = apply_defaults(make_rc())
    old["metadata"].update(uid="u", resourceVersion="1", creationTimestamp="2025-01-01T00:00:00Z")
    new = apply_defaults(make_rc())
    new["metadata"] = dict(old["metadata"])
    new["status"] = {"replicas": 1, "readyReplicas": 2, "availableReplicas": 3}
    assert messages(new, old, "status") == [
        "status.readyReplicas: Invalid value: 2: cannot be greater than status.replicas",
        "status.availableReplicas: Invalid value: 3: cannot be greater than status.replicas",
        "status.availableReplicas: Invalid value: 3: cannot be greater than readyReplicas",
    ]
