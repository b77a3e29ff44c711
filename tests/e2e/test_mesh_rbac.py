"""The mesh SDK on a cluster with RBAC: a service account without grants gets the API's
Forbidden message, not "no ready endpoints" or "not loaded yet"."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from tests.e2e.conftest import Cluster

pytestmark = pytest.mark.e2e

SDK_SCRIPT = textwrap.dedent(
    """
    import asyncio, pydantic
    from kubelite import mesh

    class Settings(pydantic.BaseModel):
        mode: str = "d"

    async def main():
        try:
            await mesh.http("web").get("/")
        except Exception as exc:
            print("http", type(exc).__name__, isinstance(exc, PermissionError), exc)
        try:
            mesh.Config("cfg", model=Settings).value
        except Exception as exc:
            print("config", type(exc).__name__, isinstance(exc, PermissionError), exc)

    asyncio.run(main())
    """
)


def service_account_kubeconfig(c: Cluster, token: str, path: Path) -> Path:
    config = yaml.safe_load(c.kubeconfig.read_text())
    context = config["contexts"][0]
    context["context"]["user"] = "sa"
    context["context"]["namespace"] = "default"
    config["users"] = [{"name": "sa", "user": {"token": token}}]
    config["contexts"] = [context]
    config["current-context"] = context["name"]
    path.write_text(yaml.safe_dump(config))
    return path


def test_sdk_reports_the_apis_forbidden_message(rbac_cluster: Cluster, tmp_path: Path) -> None:
    c = rbac_cluster
    c.kubectl("create", "service", "clusterip", "web", "--tcp=80:8080")
    c.kubectl("create", "configmap", "cfg", "--from-literal=mode=x")
    token = c.kubectl("create", "token", "default").stdout.strip()
    kubeconfig = service_account_kubeconfig(c, token, tmp_path / "sa.kubeconfig")
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "OTEL_TRACES_EXPORTER": "none"}
    env.pop("POD_NAMESPACE", None)
    run = subprocess.run([sys.executable, "-c", SDK_SCRIPT], capture_output=True, text=True,
                         env=env, timeout=120)  # fmt: skip
    lines = {line.split(" ", 1)[0]: line for line in run.stdout.splitlines()}
    user = "system:serviceaccount:default:default"
    assert lines["http"].startswith("http ServiceForbiddenError True "), run.stdout + run.stderr
    assert f'User "{user}" cannot get resource "services"' in lines["http"]
    assert "no ready endpoints" not in lines["http"]
    assert lines["config"].startswith("config ForbiddenError True "), run.stdout + run.stderr
    assert f'User "{user}" cannot list resource "configmaps"' in lines["config"]
    assert "not loaded yet" not in lines["config"]
