"""Missing image pull secrets: the kubelet's FailedToRetrieveImagePullSecret warning."""

from __future__ import annotations

import json

import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.polling import wait_for
from tests.e2e.test_service_accounts import python_pod

pytestmark = pytest.mark.e2e
MESSAGE = (
    "Unable to retrieve some image pull secrets ({}); attempting to pull the image may not succeed."
)


def _warnings(cluster: Cluster, ns: str, pod: str) -> list[str]:
    out = cluster.kubectl_json(
        "get", "events", "-n", ns, "--field-selector", f"involvedObject.name={pod}"
    )
    return [
        e["message"]
        for e in out["items"]
        if e.get("reason") == "FailedToRetrieveImagePullSecret" and e.get("type") == "Warning"
    ]


def test_missing_pull_secrets_are_warned_of(cluster: Cluster, namespace: str) -> None:
    ns = namespace
    cluster.kubectl("create", "sa", "puller", "-n", ns)
    cluster.kubectl(
        "patch", "sa", "puller", "-n", ns, "-p", '{"imagePullSecrets":[{"name":"regcred"}]}'
    )
    cluster.kubectl(
        "create",
        "secret",
        "docker-registry",
        "there",
        "-n",
        ns,
        "--docker-server=r.example",
        "--docker-username=u",
        "--docker-password=p",
    )
    inherited = python_pod("inherited", "pass", serviceAccountName="puller")
    own = python_pod(
        "own", "pass", imagePullSecrets=[{"name": "there"}, {"name": "a"}, {"name": "b"}]
    )
    fine = python_pod("fine", "pass", imagePullSecrets=[{"name": "there"}])
    for manifest in (inherited, own, fine):
        cluster.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(manifest))

    def seen(pod: str) -> list[str]:
        return _warnings(cluster, ns, pod)

    assert wait_for(lambda: seen("inherited"), what="the warning")[0] == MESSAGE.format("regcred")
    assert wait_for(lambda: seen("own"), what="the warning")[0] == MESSAGE.format("a, b")
    wait_for(
        lambda: (
            cluster.kubectl_json("get", "pod", "fine", "-n", ns)["status"]["phase"] == "Succeeded"
        ),
        what="pod fine to finish",
    )
    assert seen("fine") == []
