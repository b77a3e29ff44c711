"""`pods/proxy` and `services/proxy` through the real kubectl: `get --raw` and `kubectl proxy`."""

from __future__ import annotations

import re
import subprocess
import urllib.error
import urllib.request

import pytest
from tests.e2e.conftest import KUBECTL, Cluster
from tests.e2e.test_node_agent import apply, ready, simple_pod, wait_for

pytestmark = pytest.mark.e2e
SERVE = (
    "mkdir -p /tmp/w/sub && cd /tmp/w && echo hello > index.html && echo deep > sub/x.txt"
    " && exec python3 -m http.server 8080 --bind $POD_IP"
)


@pytest.fixture(scope="module")
def app(cluster: Cluster) -> str:
    ns = "proxied"
    cluster.kubectl("create", "namespace", ns)
    probe = {"tcpSocket": {"port": 8080}, "periodSeconds": 1}
    manifest = simple_pod(
        "web",
        ["sh", "-c", SERVE],
        container={"ports": [{"name": "http", "containerPort": 8080}], "readinessProbe": probe},
    )
    manifest["metadata"]["labels"] = {"app": "web"}
    apply(cluster, ns, manifest)
    cluster.kubectl("expose", "pod", "web", "-n", ns, "--port", "80", "--target-port", "http")
    wait_for(lambda: ready(cluster, ns, "web"), what="web ready")
    return ns


def test_get_raw_through_pod_and_service_proxies(cluster: Cluster, app: str) -> None:
    base = f"/api/v1/namespaces/{app}"
    assert cluster.kubectl("get", "--raw", f"{base}/pods/web/proxy/index.html").stdout == "hello\n"
    assert (
        cluster.kubectl("get", "--raw", f"{base}/pods/web:http/proxy/sub/x.txt").stdout == "deep\n"
    )
    service = wait_for(
        lambda: (
            cluster.kubectl(
                "get", "--raw", f"{base}/services/web:80/proxy/index.html", check=False
            ).stdout
        ),
        what="service endpoints",
    )
    assert service == "hello\n"
    refused = cluster.kubectl("get", "--raw", f"{base}/pods/web:9/proxy/", check=False)
    assert "error trying to reach service: dial tcp " in refused.stderr
    assert "connect: connection refused" in refused.stderr
    missing = cluster.kubectl("get", "--raw", f"{base}/services/nothing/proxy/", check=False)
    assert 'services "nothing" not found' in missing.stderr


def test_kubectl_proxy_opens_a_service(cluster: Cluster, app: str) -> None:
    if KUBECTL is None:
        pytest.skip("kubectl is not installed on this machine (needed for e2e tests)")
    proc = subprocess.Popen(
        [KUBECTL, "proxy", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cluster.env(),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"Starting to serve on 127\.0\.0\.1:(\d+)", line)
        assert match, f"kubectl proxy said {line!r}"
        url = f"http://127.0.0.1:{match.group(1)}/api/v1/namespaces/{app}/services/web/proxy/sub/x.txt"
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert resp.read() == b"deep\n"
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(url.replace("/x.txt", "/none.txt"), timeout=10)
        assert err.value.code == 404  # the app's own answer, passed through
    finally:
        proc.kill()
        proc.wait()
