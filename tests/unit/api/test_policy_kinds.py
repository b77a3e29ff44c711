"""NetworkPolicy, LimitRange, ResourceQuota and PodTemplate: defaults, validation, usage."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.api import quota as rl
from kubelite.api.defaults import apply_defaults
from kubelite.api.validation import validate


def netpol(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "np", "namespace": "default"},
        "spec": {"podSelector": {}, **spec},
    }


def messages(obj: dict[str, Any]) -> list[str]:
    return [str(e) for e in validate(apply_defaults(obj))]


def test_network_policy_defaults_follow_the_rules_given() -> None:
    only_ingress = apply_defaults(netpol(ingress=[{"ports": [{"port": 80}]}]))
    assert only_ingress["spec"]["policyTypes"] == ["Ingress"]
    assert only_ingress["spec"]["ingress"][0]["ports"][0]["protocol"] == "TCP"
    with_egress = apply_defaults(netpol(egress=[{}]))
    assert with_egress["spec"]["policyTypes"] == ["Ingress", "Egress"]
    explicit = apply_defaults(netpol(policyTypes=["Egress"], egress=[{}]))
    assert explicit["spec"]["policyTypes"] == ["Egress"]


def test_network_policy_reads_back_as_the_go_type_serialises() -> None:
    # podSelector is a non-pointer field without omitempty: omitted, it reads back as {}.
    bare = apply_defaults({**netpol(), "spec": {}})
    assert bare["spec"] == {"podSelector": {}, "policyTypes": ["Ingress"]}
    # ingress/egress are omitempty: an empty list reads back absent.
    emptied = apply_defaults(netpol(ingress=[], egress=[]))
    assert "ingress" not in emptied["spec"] and "egress" not in emptied["spec"]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param(
            {"ingress": [{"ports": [{"port": 90, "endPort": 80}]}]},
            "spec.ingress[0].ports[0].endPort: Invalid value: 90: must be greater than or equal to `port`",
            id="endPort-below-port",
        ),
        pytest.param(
            {"egress": [{"ports": [{"endPort": 80}]}]},
            "spec.egress[0].ports[0].endPort: Invalid value: 80: may not be specified when `port` is not specified",
            id="endPort-without-port",
        ),
        pytest.param(
            {"ingress": [{"ports": [{"port": "web", "endPort": 80}]}]},
            "spec.ingress[0].ports[0].endPort: Invalid value: 80: may not be specified when `port` is non-numeric",
            id="endPort-named-port",
        ),
        pytest.param(
            {"ingress": [{"ports": [{"protocol": "ICMP"}]}]},
            'spec.ingress[0].ports[0].protocol: Unsupported value: "ICMP": supported values: "TCP", "UDP", "SCTP"',
            id="protocol",
        ),
        pytest.param(
            {"ingress": [{"from": [{}]}]},
            "spec.ingress[0].from[0]: Required value: must specify a peer",
            id="empty-peer",
        ),
        pytest.param(
            {"ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]}]},
            "spec.ingress[0].from[0]: Forbidden: may not specify both ipBlock and another peer",
            id="ipBlock-and-selector",
        ),
        pytest.param(
            {"egress": [{"to": [{"ipBlock": {"cidr": "nope"}}]}]},
            'spec.egress[0].to[0].ipBlock.cidr: Invalid value: "nope": '
            "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)",
            id="bad-cidr",
        ),
        pytest.param(
            {"egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/16", "except": ["10.0.0.0/8"]}}]}]},
            'spec.egress[0].to[0].ipBlock.except[0]: Invalid value: "10.0.0.0/8": '
            "must be a strict subset of `cidr`",
            id="except-wider",
        ),
        pytest.param(
            {"policyTypes": ["Ingress", "Sideways"]},
            'spec.policyTypes[1]: Unsupported value: "Sideways": supported values: "Ingress", "Egress"',
            id="policy-type",
        ),
        pytest.param(
            {"podSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}},
            "spec.podSelector.matchExpressions[0].values: Required value: "
            "must be specified when `operator` is 'In' or 'NotIn'",
            id="selector",
        ),
    ],
)
def test_network_policy_validation(spec: dict[str, Any], expected: str) -> None:
    assert messages(netpol(**spec)) == [expected]


def limit_range(*items: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {"name": "lr", "namespace": "default"},
        "spec": {"limits": list(items)},
    }


def test_limit_range_defaults_come_from_max_then_default_then_min() -> None:
    lr = apply_defaults(
        limit_range({"type": "Container", "max": {"cpu": "2"}, "min": {"memory": "64Mi"}})
    )
    item = lr["spec"]["limits"][0]
    # default <- max; defaultRequest <- default, then <- min
    assert item["default"] == {"cpu": "2"}
    assert item["defaultRequest"] == {"cpu": "2", "memory": "64Mi"}


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        pytest.param(
            {"type": "Container", "default": {"memory": "2Gi"}, "max": {"memory": "1Gi"}},
            # defaultRequest defaults to 2Gi too, so both bounds are reported
            [
                'spec.limits[0].defaultRequest[memory]: Invalid value: "2Gi": '
                "default request value 2Gi is greater than max value 1Gi",
                'spec.limits[0].default[memory]: Invalid value: "1Gi": '
                "default value 2Gi is greater than max value 1Gi",
            ],
            id="default-above-max",
        ),
        pytest.param(
            {"type": "Pod", "default": {"cpu": "1"}},
            ["spec.limits[0].default: Forbidden: may not be specified when `type` is 'Pod'"],
            id="pod-default",
        ),
        pytest.param(
            {"type": "PersistentVolumeClaim", "max": {"cpu": "1"}},
            [
                "spec.limits[0].limits: Required value: "
                "either minimum or maximum storage value is required, but neither was provided"
            ],
            id="pvc-without-storage",
        ),
        pytest.param(
            {"type": "Pod", "maxLimitRequestRatio": {"cpu": "500m"}},
            [
                'spec.limits[0].maxLimitRequestRatio[cpu]: Invalid value: "500m": ratio 500m is less than 1'
            ],
            id="ratio-below-one",
        ),
        pytest.param(
            {"type": "Node"},
            [
                'spec.limits[0].type: Invalid value: "Node": must be a standard limit type or fully qualified'
            ],
            id="type",
        ),
    ],
)
def test_limit_range_validation(item: dict[str, Any], expected: list[str]) -> None:
    assert messages(limit_range(item)) == expected


def quota(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "q", "namespace": "default"},
        "spec": spec,
    }


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param({"hard": {"pods": "2", "count/deployments.apps": "1"}}, [], id="valid"),
        pytest.param(
            {"hard": {"storage": "1Gi"}},
            ['spec.hard[storage]: Invalid value: "storage": must be a standard resource for quota'],
            id="not-a-quota-resource",
        ),
        pytest.param(
            {"hard": {"pods": "1.5"}},
            ['spec.hard[pods]: Invalid value: "1500m": must be an integer'],
            id="fractional-count",
        ),
        pytest.param(
            {"hard": {"pods": "1"}, "scopes": ["BestEffort", "NotBestEffort"]},
            [
                'spec.scopes: Invalid value: []core.ResourceQuotaScope{"BestEffort", "NotBestEffort"}: conflicting scopes'
            ],
            id="conflicting-scopes",
        ),
        pytest.param(
            {"hard": {"services": "1"}, "scopes": ["Terminating"]},
            [
                'spec.scopes: Invalid value: []core.ResourceQuotaScope{"Terminating"}: unsupported scope applied to resource'
            ],
            id="scope-on-services",
        ),
    ],
)
def test_resource_quota_validation(spec: dict[str, Any], expected: list[str]) -> None:
    assert messages(quota(**spec)) == expected


def test_pod_template_validates_its_template() -> None:
    pt = {
        "apiVersion": "v1",
        "kind": "PodTemplate",
        "metadata": {"name": "pt", "namespace": "default"},
        "template": {"spec": {"containers": []}},
    }
    assert messages(pt) == ["template.spec.containers: Required value"]


def pod(*containers: dict[str, Any], phase: str = "Running") -> dict[str, Any]:
    return {"spec": {"containers": list(containers)}, "status": {"phase": phase}}


def test_pod_usage_sums_containers_and_skips_terminal_pods() -> None:
    a = {"name": "a", "resources": {"requests": {"memory": "512Mi", "cpu": "250m"}}}
    b = {"name": "b", "resources": {"requests": {"memory": "512Mi"}, "limits": {"cpu": "1"}}}
    used = rl.pod_usage(pod(a, b), now=0)
    # 512Mi + 512Mi prints as 1Gi (the first addend's binary format)
    assert rl.to_wire(used) == {
        "count/pods": "1",
        "cpu": "250m",
        "limits.cpu": "1",
        "memory": "1Gi",
        "pods": "1",
        "requests.cpu": "250m",
        "requests.memory": "1Gi",
    }
    assert rl.to_wire(rl.pod_usage(pod(a, phase="Succeeded"), now=0)) == {"count/pods": "1"}


def test_missing_compute_names_containers_per_resource() -> None:
    p = {
        "spec": {
            "containers": [{"name": "c"}, {"name": "d", "resources": {"limits": {"cpu": "1"}}}]
        }
    }
    assert rl.missing_compute(p, {"limits.cpu", "requests.memory", "pods"}) == (
        "must specify limits.cpu for: c; requests.memory for: c,d"
    )


def test_tracked_resources_per_kind() -> None:
    names = {"pods", "services", "configmaps", "count/deployments.apps", "requests.storage"}
    assert rl.tracked("", "pods", names) == {"pods"}
    assert rl.tracked("", "configmaps", names) == {"configmaps"}
    assert rl.tracked("apps", "deployments", names) == {"count/deployments.apps"}
    assert rl.tracked("", "persistentvolumeclaims", names) == {"requests.storage"}
