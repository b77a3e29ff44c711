"""CSIDriver, CSINode, VolumeAttachment and CSIStorageCapacity (storage.k8s.io/v1):
served, defaulted, validated and printed as upstream 1.32 serves them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.unit.apiserver.inprocess_api import api_app, call

from kubelite.apiserver.http import ApiApp

STORAGE = "/apis/storage.k8s.io/v1"
DRIVERS = f"{STORAGE}/csidrivers"
NODES = f"{STORAGE}/csinodes"
ATTACHMENTS = f"{STORAGE}/volumeattachments"
CAPACITIES = f"{STORAGE}/namespaces/default/csistoragecapacities"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
DNS_SUBDOMAIN = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' "
    "or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


def csi_driver(name: str = "ebs.csi.aws.com", **spec: Any) -> dict:
    return {"apiVersion": "storage.k8s.io/v1", "kind": "CSIDriver",
            "metadata": {"name": name}, "spec": spec}  # fmt: skip


def csi_node(name: str = "node-1", *drivers: dict) -> dict:
    return {"apiVersion": "storage.k8s.io/v1", "kind": "CSINode",
            "metadata": {"name": name}, "spec": {"drivers": list(drivers)}}  # fmt: skip


def node_driver(name: str = "ebs.csi.aws.com", node_id: str = "i-1", **fields: Any) -> dict:
    return {"name": name, "nodeID": node_id, **fields}


def attachment(name: str = "csi-123", *, pv: str | None = "pv-1", **spec: Any) -> dict:
    source = {} if pv is None else {"persistentVolumeName": pv}
    body = {"attacher": "ebs.csi.aws.com", "nodeName": "node-1", "source": source, **spec}
    return {"apiVersion": "storage.k8s.io/v1", "kind": "VolumeAttachment",
            "metadata": {"name": name}, "spec": body}  # fmt: skip


def capacity(name: str = "cap-1", **fields: Any) -> dict:
    return {"apiVersion": "storage.k8s.io/v1", "kind": "CSIStorageCapacity",
            "metadata": {"name": name}, "storageClassName": "fast", **fields}  # fmt: skip


@pytest.fixture
def app(tmp_path: Path) -> Iterator[ApiApp]:
    with api_app(tmp_path) as a:
        yield a


def create(app: ApiApp, path: str, body: dict) -> dict:
    r = call(app, "POST", path, body)
    assert r.status_code == 201, r.text
    return r.json()


def causes(r: Any) -> list[tuple[str, str]]:
    assert r.status_code == 422, r.text
    return [(c["field"], c["message"]) for c in r.json()["details"]["causes"]]


# ---- served ---------------------------------------------------------------------------


def test_discovery_serves_the_csi_kinds_with_their_scopes(app: ApiApp) -> None:
    resources = call(app, "GET", STORAGE).json()["resources"]
    served = {r["name"]: (r["kind"], r["namespaced"]) for r in resources}
    assert served["csidrivers"] == ("CSIDriver", False)
    assert served["csinodes"] == ("CSINode", False)
    assert served["volumeattachments"] == ("VolumeAttachment", False)
    assert served["volumeattachments/status"] == ("VolumeAttachment", False)
    assert served["csistoragecapacities"] == ("CSIStorageCapacity", True)


def test_openapi_documents_the_csi_kinds(app: ApiApp) -> None:
    schemas = call(app, "GET", "/openapi/v3/apis/storage.k8s.io/v1").json()["components"]
    names = set(schemas["schemas"])
    for kind in ("CSIDriver", "CSINode", "VolumeAttachment", "CSIStorageCapacity"):
        assert f"io.k8s.api.storage.v1.{kind}" in names


# ---- CSIDriver ------------------------------------------------------------------------


def test_a_driver_takes_upstreams_defaults(app: ApiApp) -> None:
    spec = create(app, DRIVERS, csi_driver())["spec"]
    assert spec == {
        "attachRequired": True,
        "podInfoOnMount": False,
        "storageCapacity": False,
        "fsGroupPolicy": "ReadWriteOnceWithFSType",
        "requiresRepublish": False,
        "seLinuxMount": False,
        "volumeLifecycleModes": ["Persistent"],
    }


def test_a_driver_prints_kubectls_columns(app: ApiApp) -> None:
    create(app, DRIVERS, csi_driver(attachRequired=False, volumeLifecycleModes=["Persistent", "Ephemeral"],
                                    tokenRequests=[{"audience": "vault"}, {"audience": "aws"}]))  # fmt: skip
    create(app, DRIVERS, csi_driver("plain.csi.example.com"))
    table = call(app, "GET", DRIVERS, accept=TABLE).json()
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name", "AttachRequired", "PodInfoOnMount", "StorageCapacity", "TokenRequests",
        "RequiresRepublish", "Modes", "Age",
    ]  # fmt: skip
    rows = {row["cells"][0]: row["cells"][1:7] for row in table["rows"]}
    assert rows == {
        "ebs.csi.aws.com": [False, False, False, "vault,aws", False, "Persistent,Ephemeral"],
        "plain.csi.example.com": [True, False, False, "<unset>", False, "Persistent"],
    }


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"fsGroupPolicy": "Always"},
         [("spec.fsGroupPolicy", 'Unsupported value: "Always": supported values: '
           '"File", "None", "ReadWriteOnceWithFSType"')]),
        ({"volumeLifecycleModes": ["Forever"]},
         [("spec.volumeLifecycleModes", 'Unsupported value: "Forever": supported values: '
           '"Persistent", "Ephemeral"')]),
        ({"tokenRequests": [{"audience": "a"}, {"audience": "a"}]},
         [("spec.tokenRequests[1].audience", 'Duplicate value: "a"')]),
        ({"tokenRequests": [{"audience": "a", "expirationSeconds": 60}]},
         [("spec.tokenRequests[0].expirationSeconds",
           "Invalid value: 60: may not specify a duration less than 10 minutes")]),
        ({"tokenRequests": [{"audience": "a", "expirationSeconds": 1 << 33}]},
         [("spec.tokenRequests[0].expirationSeconds",
           "Invalid value: 8589934592: may not specify a duration larger than 2^32 seconds")]),
    ],
    ids=["fs-group-policy", "lifecycle-mode", "duplicate-audience", "short-token", "long-token"],
)  # fmt: skip
def test_a_bad_driver_is_refused_as_upstream_refuses_it(
    app: ApiApp, spec: dict, expected: list[tuple[str, str]]
) -> None:
    r = call(app, "POST", DRIVERS, csi_driver(**spec))
    assert causes(r) == expected
    assert r.json()["details"]["group"] == "storage.k8s.io"
    assert r.json()["message"].startswith('CSIDriver.storage.k8s.io "ebs.csi.aws.com" is invalid: ')


def test_attach_required_and_modes_are_immutable_the_rest_may_change(app: ApiApp) -> None:
    current = create(app, DRIVERS, csi_driver())
    changed = {**current, "spec": {**current["spec"], "attachRequired": False,
                                   "volumeLifecycleModes": ["Ephemeral"]}}  # fmt: skip
    assert causes(call(app, "PUT", f"{DRIVERS}/ebs.csi.aws.com", changed)) == [
        ("spec.attachedRequired", "Invalid value: false: field is immutable"),
        # Go's %#v of the internal type, as upstream's message prints it
        (
            "spec.volumeLifecycleModes",
            'Invalid value: []storage.VolumeLifecycleMode{"Ephemeral"}: field is immutable',
        ),
    ]
    mutable = {
        **current,
        "spec": {**current["spec"], "podInfoOnMount": True, "storageCapacity": True},
    }
    r = call(app, "PUT", f"{DRIVERS}/ebs.csi.aws.com", mutable)
    assert r.status_code == 200, r.text


def test_an_update_reports_a_bad_spec_field_twice_as_upstream_does(app: ApiApp) -> None:
    """The strategy runs ValidateCSIDriver and then ValidateCSIDriverUpdate, both on the spec."""
    current = create(app, DRIVERS, csi_driver())
    bad = {**current, "spec": {**current["spec"], "fsGroupPolicy": "Always"}}
    unsupported = (
        'Unsupported value: "Always": supported values: "File", "None", "ReadWriteOnceWithFSType"'
    )
    assert causes(call(app, "PUT", f"{DRIVERS}/ebs.csi.aws.com", bad)) == [
        ("spec.fsGroupPolicy", unsupported),
        ("spec.fsGroupPolicy", unsupported),
    ]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (DRIVERS, csi_driver()),
        (NODES, csi_node()),
        (ATTACHMENTS, attachment()),
        (CAPACITIES, capacity()),
    ],
    ids=["csidriver", "csinode", "volumeattachment", "csistoragecapacity"],
)
def test_a_put_must_name_the_version_it_replaces(app: ApiApp, path: str, body: dict) -> None:
    """Each strategy's AllowUnconditionalUpdate is false."""
    create(app, path, body)
    r = call(app, "PUT", f"{path}/{body['metadata']['name']}", body)
    assert r.status_code == 422
    assert r.json()["message"].endswith(
        "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"
    )


# ---- CSINode --------------------------------------------------------------------------


def test_a_csinode_is_stored_and_prints_its_driver_count(app: ApiApp) -> None:
    create(app, NODES, csi_node("node-1", node_driver(topologyKeys=["topology.ebs.csi.aws.com/zone"]),
                                node_driver("efs.csi.aws.com", allocatable={"count": 25})))  # fmt: skip
    table = call(app, "GET", NODES, accept=TABLE).json()
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Drivers", "Age"]
    assert table["rows"][0]["cells"][:2] == ["node-1", 2]


def test_a_bad_csinode_is_refused(app: ApiApp) -> None:
    r = call(app, "POST", NODES, csi_node("node-1", node_driver(node_id=""),
                                          node_driver(allocatable={"count": -1}),
                                          node_driver("x", topologyKeys=["k", "k"])))  # fmt: skip
    assert causes(r) == [
        ("spec.drivers[0].nodeID", "Required value"),
        (
            "spec.drivers[1].allocatable.count",
            "Invalid value: -1: must be greater than or equal to 0",
        ),
        ("spec.drivers[1].name", 'Duplicate value: "ebs.csi.aws.com"'),
        ("spec.drivers[2]", 'Duplicate value: "k"'),
    ]


def test_a_csinode_driver_entry_cannot_change_but_drivers_may_come_and_go(app: ApiApp) -> None:
    current = create(app, NODES, csi_node("node-1", node_driver()))
    changed = {**current, "spec": {"drivers": [node_driver(node_id="i-2")]}}
    r = call(app, "PUT", f"{NODES}/node-1", changed)
    assert causes(r) == [
        ("spec.drivers",
         'Invalid value: storage.CSINodeDriver{Name:"ebs.csi.aws.com", NodeID:"i-2", '
         "TopologyKeys:[]string(nil), Allocatable:(*storage.VolumeNodeResources)(nil)}: "
         "field is immutable"),
    ]  # fmt: skip
    added = {**current, "spec": {"drivers": [node_driver(), node_driver("efs.csi.aws.com")]}}
    assert call(app, "PUT", f"{NODES}/node-1", added).status_code == 200


# ---- VolumeAttachment -----------------------------------------------------------------


def test_an_attachment_starts_unattached_whatever_it_says(app: ApiApp) -> None:
    created = create(app, ATTACHMENTS, {**attachment(), "status": {"attached": True}})
    assert created["status"] == {"attached": False}
    table = call(app, "GET", ATTACHMENTS, accept=TABLE).json()
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name", "Attacher", "PV", "Node", "Attached", "Age",
    ]  # fmt: skip
    assert table["rows"][0]["cells"][:5] == ["csi-123", "ebs.csi.aws.com", "pv-1", "node-1", False]


def test_status_is_written_only_through_the_subresource(app: ApiApp) -> None:
    current = create(app, ATTACHMENTS, attachment())
    attached = {**current, "status": {"attached": True, "attachmentMetadata": {"dev": "/dev/xvdb"}}}
    r = call(app, "PUT", f"{ATTACHMENTS}/csi-123", attached)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == {"attached": False}  # the main resource keeps the stored status
    attached["metadata"] = r.json()["metadata"]
    r = call(app, "PUT", f"{ATTACHMENTS}/csi-123/status", attached)
    assert r.status_code == 200, r.text
    assert r.json()["status"]["attached"] is True


def test_a_bad_status_is_refused_on_the_subresource(app: ApiApp) -> None:
    current = create(app, ATTACHMENTS, attachment())
    failed = {**current, "status": {"attached": False,
                                    "attachError": {"message": "boom", "errorCode": -1}}}  # fmt: skip
    r = call(app, "PUT", f"{ATTACHMENTS}/csi-123/status", failed)
    cause = (
        "status.attachError.errorCode",
        "Invalid value: -1: must be between 0 and 2147483647, inclusive",
    )
    assert causes(r) == [cause, cause]  # ValidateVolumeAttachment runs twice on update


def test_the_spec_is_read_only(app: ApiApp) -> None:
    current = create(app, ATTACHMENTS, attachment())
    moved = {**current, "spec": {**current["spec"], "nodeName": "node-2"}}
    r = call(app, "PUT", f"{ATTACHMENTS}/csi-123", moved)
    # Go prints the pointer's address, which differs on every request upstream
    assert causes(r) == [
        ("spec",
         'Invalid value: storage.VolumeAttachmentSpec{Attacher:"ebs.csi.aws.com", '
         "Source:storage.VolumeAttachmentSource{PersistentVolumeName:(*string)(0xc000010000), "
         'InlineVolumeSpec:(*core.PersistentVolumeSpec)(nil)}, NodeName:"node-2"}: '
         "field is immutable"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (attachment(pv=None),
         [("spec.source",
           "Required value: must specify exactly one of inlineVolumeSpec and persistentVolumeName")]),
        (attachment(pv=""),
         [("spec.source.persistentVolumeName",
           "Required value: must specify non empty persistentVolumeName"),
          # and ValidateVolumeAttachmentV1 checks the empty name as a PV name too
          ("spec.source.persistentVolumeName", f'Invalid value: "": {DNS_SUBDOMAIN}')]),
        (attachment(attacher=""),
         [("spec.attacher", "Required value"), ("spec.attacher", "Required value"),
          ("spec.attacher",
           f'Invalid value: "": {DNS_SUBDOMAIN}')]),
    ],
    ids=["no-source", "empty-pv", "no-attacher"],
)  # fmt: skip
def test_a_bad_attachment_is_refused(app: ApiApp, body: dict, expected: list) -> None:
    assert causes(call(app, "POST", ATTACHMENTS, body)) == expected


# ---- CSIStorageCapacity ---------------------------------------------------------------


def test_a_capacity_is_namespaced_and_printed(app: ApiApp) -> None:
    created = create(app, CAPACITIES, capacity(capacity="1024Mi",
                                               nodeTopology={"matchLabels": {"zone": "a"}}))  # fmt: skip
    assert created["metadata"]["namespace"] == "default"
    assert created["capacity"] == "1Gi"  # canonical, as upstream stores quantities
    create(app, CAPACITIES, capacity("cap-2"))
    table = call(app, "GET", CAPACITIES, accept=TABLE).json()
    assert [c["name"] for c in table["columnDefinitions"]] == [
        "Name", "StorageClassName", "Capacity",
    ]  # fmt: skip
    assert [row["cells"] for row in table["rows"]] == [
        ["cap-1", "fast", "1Gi"],
        ["cap-2", "fast", "<unset>"],
    ]


def test_a_bad_capacity_is_refused(app: ApiApp) -> None:
    r = call(app, "POST", CAPACITIES, capacity(capacity="-1", storageClassName="Fast"))
    assert causes(r) == [
        ("storageClassName",
         f'Invalid value: "Fast": {DNS_SUBDOMAIN}'),
        ("capacity", 'Invalid value: "-1": must be greater than or equal to 0'),
    ]  # fmt: skip


def test_topology_and_class_are_immutable_capacity_is_not(app: ApiApp) -> None:
    current = create(app, CAPACITIES, capacity(capacity="1Gi"))
    r = call(app, "PUT", f"{CAPACITIES}/cap-1", {**current, "storageClassName": "slow"})
    assert causes(r) == [("storageClassName", 'Invalid value: "slow": field is immutable')]
    topology = {"matchLabels": {"zone": "b", "rack": "1"}}
    r = call(app, "PUT", f"{CAPACITIES}/cap-1", {**current, "nodeTopology": topology})
    assert causes(r) == [
        ("nodeTopology",
         'Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"rack":"1", "zone":"b"}, '
         "MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"),
    ]  # fmt: skip
    r = call(app, "PUT", f"{CAPACITIES}/cap-1", {**current, "capacity": "2Gi"})
    assert r.status_code == 200, r.text
