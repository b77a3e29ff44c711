"""`kubectl port-forward` (SPDY through a WebSocket) and the official client's `portforward()`."""

from __future__ import annotations

import hashlib
import re
import subprocess
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from tests.e2e.conftest import KUBECTL, Cluster
from tests.e2e.test_node_agent import apply, pod, ready, simple_pod, wait_for

pytestmark = pytest.mark.e2e
SERVE = "cd /tmp && head -c 300000 /dev/urandom > blob && echo hello > index.html && exec python3 -m http.server 8080 --bind $POD_IP"


@pytest.fixture(scope="module")
def web(cluster: Cluster) -> str:
    ns = "forward"
    cluster.kubectl("create", "namespace", ns)
    probe = {"tcpSocket": {"port": 8080}, "periodSeconds": 1}
    manifest = simple_pod("web", ["sh", "-c", SERVE], container={"readinessProbe": probe})
    manifest["metadata"]["labels"] = {"app": "web"}
    apply(cluster, ns, manifest)
    cluster.kubectl("expose", "pod", "web", "-n", ns, "--port", "80", "--target-port", "8080")
    wait_for(lambda: ready(cluster, ns, "web"), what="web ready")
    return ns


@contextmanager
def forwarding(
    cluster: Cluster, ns: str, target: str, remote: int, to: int | None = None
) -> Iterator[tuple[int, Any]]:
    if KUBECTL is None:
        pytest.skip("kubectl is not installed on this machine (needed for e2e tests)")
    proc = subprocess.Popen(
        [KUBECTL, "port-forward", "-n", ns, target, f":{remote}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cluster.env(),
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"Forwarding from 127\.0\.0\.1:(\d+) -> (\d+)", line)
        assert match, f"kubectl port-forward said {line!r}"
        assert int(match.group(2)) == (to or remote)  # a Service's port: its target port
        yield int(match.group(1)), proc
    finally:
        proc.kill()
        proc.wait()


def _get(port: int, path: str) -> bytes:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as resp:
        return bytes(resp.read())


def test_port_forward_to_a_pod(cluster: Cluster, web: str) -> None:
    with forwarding(cluster, web, "pod/web", 8080) as (port, _):
        assert _get(port, "/index.html") == b"hello\n"
        blob = _get(port, "/blob")  # more than any one frame or window
        digest = cluster.kubectl("exec", "web", "-n", web, "--", "sha256sum", "/tmp/blob").stdout
        assert len(blob) == 300000 and hashlib.sha256(blob).hexdigest() == digest.split()[0]
        assert _get(port, "/index.html") == b"hello\n"  # a second connection on one tunnel


def test_port_forward_to_a_service(cluster: Cluster, web: str) -> None:
    with forwarding(cluster, web, "svc/web", 80, to=8080) as (port, _):
        assert _get(port, "/index.html") == b"hello\n"


def test_port_forward_to_a_closed_port_says_so(cluster: Cluster, web: str) -> None:
    with forwarding(cluster, web, "pod/web", 9) as (port, proc):
        with pytest.raises(OSError):
            _get(port, "/")
        proc.wait(timeout=30)  # kubectl gives up on the pod, as upstream's does
        assert proc.stderr is not None
        err = proc.stderr.read()
    uid = pod(cluster, web, "web")["metadata"]["uid"]
    assert f"error forwarding port 9 to pod web, uid {uid}: dial tcp " in err
    assert "connect: connection refused" in err


def test_official_client_portforward(cluster: Cluster, web: str) -> None:
    from kubernetes.stream import portforward

    api, client = cluster.api_client()
    core: Any = client.CoreV1Api(api)
    pf = portforward(core.connect_get_namespaced_pod_portforward, "web", web, ports="8080")
    sock = pf.socket(8080)
    sock.setblocking(True)
    sock.sendall(b"GET /index.html HTTP/1.0\r\nHost: web\r\n\r\n")
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    sock.close()
    assert data.startswith(b"HTTP/1.0 200") and data.endswith(b"\r\n\r\nhello\n")
    assert pf.error(8080) is None


@pytest.mark.parametrize("protocol", [None, "v4.base64.channel.k8s.io"], ids=["none", "base64"])
def test_websocket_channels_without_a_subprotocol_or_base64(
    cluster: Cluster, web: str, protocol: str | None
) -> None:
    """kr8s offers no subprotocol; the kubelet also speaks the base64 framing."""
    import base64
    import ssl
    import struct

    import websocket

    url = cluster.status["api"].replace("https://", "wss://")
    token = (cluster.data_dir / "token").read_text().strip()
    ws = websocket.create_connection(
        f"{url}/api/v1/namespaces/{web}/pods/web/portforward?ports=8080",
        header=[f"Authorization: Bearer {token}"],
        subprotocols=[protocol] if protocol else None,
        sslopt={
            "ca_certs": str(cluster.data_dir / "tls" / "ca.crt"),
            "cert_reqs": ssl.CERT_REQUIRED,
        },
        timeout=10,
    )

    def decode(frame: bytes | str) -> tuple[int, bytes]:
        if isinstance(frame, str):  # base64: the channel as a digit
            return int(frame[0]), base64.b64decode(frame[1:])
        return frame[0], frame[1:]

    try:
        assert ws.subprotocol == protocol
        prefix = struct.pack("<H", 8080)
        assert [decode(ws.recv()), decode(ws.recv())] == [(0, prefix), (1, prefix)]
        request = b"GET /index.html HTTP/1.0\r\nHost: web\r\n\r\n"
        if protocol:
            ws.send("0" + base64.b64encode(request).decode())
        else:
            ws.send_binary(b"\x00" + request)
        data = b""
        while True:
            try:
                frame = ws.recv()
            except websocket.WebSocketConnectionClosedException:
                break
            if not frame:
                break
            channel, payload = decode(frame)
            assert channel == 0, payload  # nothing on the error channel
            data += payload
    finally:
        ws.close()
    assert data.startswith(b"HTTP/1.0 200") and data.endswith(b"\r\n\r\nhello\n")
