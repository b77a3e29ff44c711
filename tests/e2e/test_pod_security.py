"""Pod Security admission through the real kubectl: a namespace's labels hold its pods
to a standard, with kube-apiserver's refusals and warnings."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.polling import wait_for

pytestmark = pytest.mark.e2e
IMAGE = "python:{}.{}".format(*sys.version_info[:2])


def sleeper(name: str, ns: str, **container_sc: Any) -> str:
    container: dict[str, Any] = {"name": "c", "image": IMAGE, "command": ["sleep", "600"]}
    if container_sc:
        container["securityContext"] = container_sc
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"containers": [container]},
    }
    return json.dumps(pod)


def test_enforce_refuses_and_a_stricter_label_warns(cluster: Cluster) -> None:
    cluster.kubectl("create", "namespace", "psa")
    cluster.kubectl("label", "namespace", "psa", "pod-security.kubernetes.io/enforce=baseline")
    refused = cluster.kubectl(
        "apply", "-f", "-", input=sleeper("priv", "psa", privileged=True), check=False
    )
    assert refused.returncode != 0
    assert (
        'pods "priv" is forbidden: violates PodSecurity "baseline:latest": privileged '
        '(container "c" must not set securityContext.privileged=true)'
    ) in refused.stderr
    cluster.kubectl("apply", "-f", "-", input=sleeper("plain", "psa"))
    dry = cluster.kubectl(
        "label",
        "--dry-run=server",
        "--overwrite",
        "namespace",
        "psa",
        "pod-security.kubernetes.io/enforce=restricted",
    )
    assert (
        'Warning: existing pods in namespace "psa" violate the new PodSecurity enforce level '
        '"restricted:latest"'
    ) in dry.stderr
    assert (
        "Warning: plain: allowPrivilegeEscalation != false, unrestricted capabilities, "
        "runAsNonRoot != true, seccompProfile"
    ) in dry.stderr
    labels = cluster.kubectl_json("get", "namespace", "psa")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"  # a dry run changes nothing
    cluster.kubectl("delete", "namespace", "psa", "--wait=false")


def test_warn_admits_a_workload_with_a_warning(cluster: Cluster) -> None:
    cluster.kubectl("create", "namespace", "psa-warn")
    cluster.kubectl("label", "namespace", "psa-warn", "pod-security.kubernetes.io/warn=baseline")
    deploy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "psa-warn"},
        "spec": {
            "selector": {"matchLabels": {"app": "d"}},
            "template": {
                "metadata": {"labels": {"app": "d"}},
                "spec": {"hostNetwork": True, "containers": [{"name": "c", "image": IMAGE}]},
            },
        },
    }
    out = cluster.kubectl("apply", "-f", "-", input=json.dumps(deploy))
    assert (
        'Warning: would violate PodSecurity "baseline:latest": host namespaces (hostNetwork=true)'
        in (out.stderr)
    )
    assert "deployment.apps/d created" in out.stdout
    cluster.kubectl("delete", "namespace", "psa-warn", "--wait=false")


def test_restricted_refuses_a_privileged_pod_and_admits_a_compliant_one(cluster: Cluster) -> None:
    cluster.kubectl("create", "namespace", "psa-r")
    cluster.kubectl("label", "namespace", "psa-r", "pod-security.kubernetes.io/enforce=restricted")
    refused = cluster.kubectl(
        "apply", "-f", "-", input=sleeper("priv", "psa-r", privileged=True), check=False
    )
    assert refused.returncode != 0
    assert (
        'pods "priv" is forbidden: violates PodSecurity "restricted:latest": privileged '
        '(container "c" must not set securityContext.privileged=true), '
        "allowPrivilegeEscalation != false "
        '(container "c" must set securityContext.allowPrivilegeEscalation=false), '
        'unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]), '
        'runAsNonRoot != true (pod or container "c" must set securityContext.runAsNonRoot=true), '
        'seccompProfile (pod or container "c" must set securityContext.seccompProfile.type to '
        '"RuntimeDefault" or "Localhost")'
    ) in refused.stderr
    ok = sleeper(
        "ok",
        "psa-r",
        allowPrivilegeEscalation=False,
        capabilities={"drop": ["ALL"]},
        runAsNonRoot=True,
        runAsUser=1000,
        seccompProfile={"type": "RuntimeDefault"},
    )
    out = cluster.kubectl("apply", "-f", "-", input=ok)
    assert "pod/ok created" in out.stdout
    assert "Warning:" not in out.stderr
    assert cluster.kubectl("get", "pod", "-n", "psa-r", "priv", check=False).returncode != 0
    cluster.kubectl("delete", "namespace", "psa-r", "--wait=false")


def test_a_controllers_violating_pods_are_refused_with_an_event(cluster: Cluster) -> None:
    """Enforce holds controllers' pods too: the Deployment is admitted with the
    warning (warn follows enforce), its ReplicaSet's pod creates fail as upstream's
    do ("Error creating: pods ... is forbidden: violates PodSecurity ...")."""
    cluster.kubectl("create", "namespace", "psa-ctl")
    cluster.kubectl("label", "namespace", "psa-ctl", "pod-security.kubernetes.io/enforce=baseline")
    deploy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "h", "namespace": "psa-ctl"},
        "spec": {
            "selector": {"matchLabels": {"app": "h"}},
            "template": {
                "metadata": {"labels": {"app": "h"}},
                "spec": {"hostPID": True, "containers": [{"name": "c", "image": IMAGE}]},
            },
        },
    }
    out = cluster.kubectl("apply", "-f", "-", input=json.dumps(deploy))
    assert (
        'Warning: would violate PodSecurity "baseline:latest": host namespaces (hostPID=true)'
        in (out.stderr)
    )

    def refused() -> list[str]:
        events = cluster.kubectl_json("get", "events", "-n", "psa-ctl")["items"]
        return [e["message"] for e in events if e.get("reason") == "FailedCreate"]

    messages = wait_for(refused, "the ReplicaSet's FailedCreate event")
    assert any(
        m.startswith('Error creating: pods "h-')
        and m.endswith(
            'is forbidden: violates PodSecurity "baseline:latest": host namespaces (hostPID=true)'
        )
        for m in messages
    ), messages
    assert cluster.kubectl_json("get", "pods", "-n", "psa-ctl")["items"] == []
    cluster.kubectl("delete", "namespace", "psa-ctl", "--wait=false")
