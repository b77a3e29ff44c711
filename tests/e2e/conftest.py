"""A real `kubelite up` per test module, driven by the real kubectl and the official client.

Each cluster gets its own `--port 0 --data-dir` under a temp dir, and kubectl
its own cache dir, so clusters and tests never share state.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

KUBECTL = shutil.which("kubectl")


@dataclass
class Cluster:
    data_dir: Path
    cache_dir: Path
    status: dict[str, Any] = field(default_factory=dict)

    @property
    def kubeconfig(self) -> Path:
        return self.data_dir / "kubeconfig"

    def env(self) -> dict[str, str]:
        return dict(
            os.environ,
            KUBECONFIG=str(self.kubeconfig),
            KUBECACHEDIR=str(self.cache_dir),
            HOME=str(self.cache_dir),
        )

    def kubelite(
        self, *args: str, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "kubelite", *args, "--data-dir", str(self.data_dir)]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=self.env())
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubelite {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        if KUBECTL is None:
            pytest.skip("kubectl is not installed on this machine (needed for e2e tests)")
        proc = subprocess.run(
            [KUBECTL, *args],
            capture_output=True,
            text=True,
            input=input,
            timeout=timeout,
            env=self.env(),
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def kubectl_json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    def start(self) -> None:
        self.kubelite("up", "--port", "0", "--detach")
        self.status = json.loads(self.kubelite("status", "-o", "json").stdout)

    def stop(self) -> None:
        self.kubelite("down", check=False)

    def api_client(self) -> Any:
        from kubernetes import client, config

        api = config.new_client_from_config(config_file=str(self.kubeconfig))
        return api, client


def _new_cluster(tmp: Path) -> Cluster:
    cache = tmp / "kubectl-cache"
    cache.mkdir(parents=True, exist_ok=True)
    return Cluster(data_dir=tmp / "data", cache_dir=cache)


@contextlib.contextmanager
def _running(c: Cluster, *up_args: str) -> Iterator[Cluster]:
    """The cluster up (with `up_args`) for the block; its log's traceback, if any, shown."""
    if up_args:
        c.kubelite("up", "--port", "0", "--detach", *up_args)
        c.status = json.loads(c.kubelite("status", "-o", "json").stdout)
    else:
        c.start()
    try:
        yield c
    finally:
        c.stop()
        log = c.data_dir / "kubelite.log"
        if log.exists() and "Traceback" in log.read_text(errors="replace"):
            sys.stderr.write(log.read_text(errors="replace")[-4000:])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with _running(_new_cluster(tmp_path_factory.mktemp("cluster"))) as c:
        yield c


@pytest.fixture(scope="module")
def rbac_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A cluster of the module's own that enforces RBAC (`--authorization-mode RBAC`)."""
    with _running(
        _new_cluster(tmp_path_factory.mktemp("rbac")), "--authorization-mode", "RBAC"
    ) as c:
        yield c


@pytest.fixture
def fresh_cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A cluster of the test's own, for tests that stop and restart it."""
    c = _new_cluster(tmp_path)
    c.start()
    try:
        yield c
    finally:
        c.stop()


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    name = "t-" + uuid.uuid4().hex[:8]
    cluster.kubectl("create", "namespace", name)
    yield name


SEED = Path(__file__).resolve().parents[2].parent / "shared" / "seed" / "deployment.yaml"
SEED_DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: go-app
spec:
  replicas: 3
  selector:
    matchLabels:
      app: go-app
  template:
    metadata:
      labels:
        app: go-app
    spec:
      containers:
      - name: go-app
        image: go-app:latest
        ports:
        - containerPort: 8080
"""


@pytest.fixture
def seed_manifest(tmp_path: Path) -> Path:
    """The seed's Deployment (a copy ships with the tests: CI may lack ../shared)."""
    path = tmp_path / "deployment.yaml"
    path.write_text(SEED.read_text() if SEED.exists() else SEED_DEPLOYMENT)
    return path
