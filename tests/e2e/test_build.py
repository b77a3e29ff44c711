"""`kubelite build` end to end: the FastAPI docs' Dockerfile, built and run as a pod.

Its shape is what used to fail: WORKDIR /code, COPY to an absolute path, then
`RUN pip install -r /code/requirements.txt` reading it there. The package is
a wheel made here, so pip needs no index.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from pathlib import Path

import pytest
from tests.e2e.conftest import Cluster
from tests.e2e.test_node_agent import PY, apply, build_image, container_status, wait_for

pytestmark = pytest.mark.e2e


def make_wheel(directory: Path, name: str, version: str, source: str) -> Path:
    """A one-module pure-Python wheel, as the wheel spec lays it out."""
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": source,
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: kubelite-tests\n"
        "Root-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = hashlib.sha256(text.encode()).digest()
        b64 = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        record.append(f"{path},sha256={b64},{len(text.encode())}")
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,"]) + "\n"
    directory.mkdir(parents=True, exist_ok=True)
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return wheel


APP = """\
import http.server, os, pathlib, tinygreet
marker = pathlib.Path("/data/marker").read_text().strip()
print(tinygreet.greet("pod"), marker, sorted(os.listdir("/code")), flush=True)
server = http.server.ThreadingHTTPServer((os.environ["POD_IP"], 8080), http.server.SimpleHTTPRequestHandler)
server.serve_forever()
"""


def test_fastapi_shaped_dockerfile_builds_and_runs(
    cluster: Cluster, namespace: str, tmp_path: Path
) -> None:
    ctx = tmp_path / "fastapi"
    make_wheel(ctx / "wheels", "tinygreet", "1.0", "def greet(who):\n    return 'hello ' + who\n")
    (ctx / "requirements.txt").write_text(
        "--no-index\n/code/wheels/tinygreet-1.0-py3-none-any.whl\n"
    )
    (ctx / "app").mkdir()
    (ctx / "app" / "main.py").write_text(APP)
    (ctx / "app" / "__pycache__").mkdir()
    (ctx / "app" / "__pycache__" / "stale.pyc").write_text("x")
    (ctx / "secrets").mkdir()
    (ctx / "secrets" / "token").write_text("t")
    (ctx / ".dockerignore").write_text("secrets\n**/__pycache__\n")
    (ctx / "Dockerfile").write_text(
        f"FROM python:{PY}\n"
        "WORKDIR /code\n"
        "COPY ./requirements.txt /code/requirements.txt\n"
        "COPY ./wheels /code/wheels\n"
        "RUN pip install --no-cache-dir --upgrade -r /code/requirements.txt\n"
        "COPY ./app /code/app\n"
        "COPY . /code/context\n"
        "RUN mkdir /data && echo built > /data/marker\n"
        'CMD ["python", "-m", "app.main"]\n'
    )
    build_image(cluster, "e2e-fastapi:1", ctx)
    manifest = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "fastapi"},
        "spec": {
            "containers": [
                {
                    "name": "web",
                    "image": "e2e-fastapi:1",
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "readinessProbe": {
                        "httpGet": {"port": "http", "path": "/"},
                        "periodSeconds": 1,
                    },
                }
            ]
        },
    }
    apply(cluster, namespace, manifest)
    wait_for(lambda: container_status(cluster, namespace, "fastapi").get("ready"), what="ready")
    logs = cluster.kubectl("logs", "fastapi", "-n", namespace).stdout
    assert "hello pod built ['app', 'context', 'requirements.txt', 'wheels']" in logs
    listing = cluster.kubectl(
        "exec", "fastapi", "-n", namespace, "--", "ls", "-AR", "/code/context", "/code/app"
    ).stdout.split()
    assert "secrets" not in listing and "stale.pyc" not in listing  # .dockerignore'd
    assert {".dockerignore", "Dockerfile", "app", "requirements.txt", "wheels"} <= set(listing)
