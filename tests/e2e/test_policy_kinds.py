"""NetworkPolicy, LimitRange, ResourceQuota and PodTemplate through the real kubectl.

What a user of a chart or a tutorial does: apply the objects, read them back
with `get` and `describe`, and see pods defaulted and refused as a real
cluster would default and refuse them.
"""

from __future__ import annotations

import json
import re
import sys
from functools import partial
from typing import Any

import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.polling import wait_for as _wait_for

pytestmark = pytest.mark.e2e
IMAGE = "python:{}.{}".format(*sys.version_info[:2])
wait_for = partial(_wait_for, timeout=30, interval=0.2)


def apply(cluster: Cluster, ns: str, manifest: dict[str, Any], *, check: bool = True) -> Any:
    return cluster.kubectl("apply", "-n", ns, "-f", "-", input=json.dumps(manifest), check=check)


def sleeper(name: str, **resources: dict[str, str]) -> dict[str, Any]:
    container: dict[str, Any] = {
        "name": "app",
        "image": IMAGE,
        "command": ["python", "-c", "import time; time.sleep(600)"],
    }
    if resources:
        container["resources"] = resources
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [container], "terminationGracePeriodSeconds": 0},
    }


NETPOL = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "NetworkPolicy",
    "metadata": {"name": "web-allow"},
    "spec": {
        "podSelector": {"matchLabels": {"app": "web"}},
        "ingress": [
            {
                "from": [{"podSelector": {"matchLabels": {"role": "frontend"}}}],
                "ports": [{"port": 8080}],
            }
        ],
    },
}


def test_network_policy_apply_get_describe(cluster: Cluster, namespace: str) -> None:
    apply(cluster, namespace, NETPOL)
    stored = cluster.kubectl_json("get", "netpol", "web-allow", "-n", namespace)
    assert stored["spec"]["policyTypes"] == ["Ingress"]
    assert stored["spec"]["ingress"][0]["ports"][0]["protocol"] == "TCP"
    table = cluster.kubectl("get", "netpol", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "POD-SELECTOR", "AGE"]
    assert table[1].split()[:2] == ["web-allow", "app=web"]
    described = cluster.kubectl("describe", "netpol", "web-allow", "-n", namespace).stdout
    assert "PodSelector:     app=web" in described
    assert "From:" in described and "PodSelector: role=frontend" in described
    assert "Policy Types: Ingress" in described


def test_network_policy_refused_as_upstream(cluster: Cluster, namespace: str) -> None:
    bad = json.loads(json.dumps(NETPOL))
    bad["spec"]["ingress"][0]["ports"] = [{"port": 9000, "endPort": 8000}]
    proc = apply(cluster, namespace, bad, check=False)
    assert proc.returncode != 0
    assert (
        "spec.ingress[0].ports[0].endPort: Invalid value: 9000: "
        "must be greater than or equal to `port`" in proc.stderr
    )


def test_limit_range_defaults_and_refuses(cluster: Cluster, namespace: str) -> None:
    apply(
        cluster,
        namespace,
        {
            "apiVersion": "v1",
            "kind": "LimitRange",
            "metadata": {"name": "limits"},
            "spec": {
                "limits": [
                    {
                        "type": "Container",
                        "default": {"cpu": "500m", "memory": "256Mi"},
                        "defaultRequest": {"cpu": "100m", "memory": "128Mi"},
                        "max": {"memory": "1Gi"},
                    }
                ]
            },
        },
    )
    assert "limits" in cluster.kubectl("get", "limits", "-n", namespace).stdout
    cluster.kubectl(
        "run", "plain", "-n", namespace, f"--image={IMAGE}", "--command", "--", "sleep", "600"
    )
    pod = cluster.kubectl_json("get", "pod", "plain", "-n", namespace)
    assert pod["spec"]["containers"][0]["resources"] == {
        "limits": {"cpu": "500m", "memory": "256Mi"},
        "requests": {"cpu": "100m", "memory": "128Mi"},
    }
    assert pod["metadata"]["annotations"]["kubernetes.io/limit-ranger"] == (
        "LimitRanger plugin set: cpu, memory request for container plain; "
        "cpu, memory limit for container plain"
    )
    proc = apply(cluster, namespace, sleeper("big", limits={"memory": "2Gi"}), check=False)
    assert proc.returncode != 0
    assert (
        'pods "big" is forbidden: maximum memory usage per Container is 1Gi, but limit is 2Gi'
        in proc.stderr
    )
    described = cluster.kubectl("describe", "limits", "limits", "-n", namespace).stdout
    assert re.search(r"Container\s+memory\s+-\s+1Gi\s+128Mi\s+256Mi", described), described


def quota_used(cluster: Cluster, ns: str) -> dict[str, str]:
    quota = cluster.kubectl_json("get", "quota", "q", "-n", ns)
    return (quota.get("status") or {}).get("used") or {}


def test_quota_create_refuse_describe(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("create", "quota", "q", "--hard=pods=1", "-n", namespace)
    apply(cluster, namespace, sleeper("first"))
    proc = apply(cluster, namespace, sleeper("second"), check=False)
    assert proc.returncode != 0
    assert (
        'pods "second" is forbidden: exceeded quota: q, requested: pods=1, used: pods=1, '
        "limited: pods=1" in proc.stderr
    )
    wait_for(lambda: quota_used(cluster, namespace) == {"pods": "1"}, "quota usage counted")
    described = cluster.kubectl("describe", "quota", "q", "-n", namespace).stdout
    assert re.search(r"Resource\s+Used\s+Hard", described), described
    assert re.search(r"pods\s+1\s+1", described), described
    table = cluster.kubectl("get", "quota", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "AGE", "REQUEST", "LIMIT"]
    assert "pods: 1/1" in table[1]


def failed_creates(cluster: Cluster, ns: str) -> list[str]:
    events = cluster.kubectl_json(
        "get", "events", "-n", ns, "--field-selector", "reason=FailedCreate"
    )
    return [
        e["message"]
        for e in events["items"]
        if e["involvedObject"]["kind"] == "ReplicaSet" and "exceeded quota" in e["message"]
    ]


def test_deployment_over_quota_reports_failed_create(cluster: Cluster, namespace: str) -> None:
    cluster.kubectl("create", "quota", "q", "--hard=pods=1", "-n", namespace)
    cluster.kubectl(
        "create",
        "deployment",
        "web",
        f"--image={IMAGE}",
        "--replicas=2",
        "-n",
        namespace,
        "--",
        "sleep",
        "600",
    )
    messages = wait_for(lambda: failed_creates(cluster, namespace), "a FailedCreate event")
    assert re.match(
        r'Error creating: pods "web-[a-z0-9]+-[a-z0-9]{5}" is forbidden: exceeded quota: q, '
        r"requested: pods=1, used: pods=1, limited: pods=1",
        messages[0],
    ), messages


def test_pod_template_served(cluster: Cluster, namespace: str) -> None:
    apply(
        cluster,
        namespace,
        {
            "apiVersion": "v1",
            "kind": "PodTemplate",
            "metadata": {"name": "tpl"},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": IMAGE}]},
            },
        },
    )
    table = cluster.kubectl("get", "podtemplates", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "CONTAINERS", "IMAGES", "POD", "LABELS"]
    assert table[1].split() == ["tpl", "app", IMAGE, "app=web"]
    explained = cluster.kubectl("explain", "networkpolicy.spec.podSelector").stdout
    assert "podSelector" in explained
