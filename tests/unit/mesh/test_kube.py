from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from kubelite.mesh import kube

KUBECONFIG = {
    "apiVersion": "v1",
    "kind": "Config",
    "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:6443"}}],
    "users": [{"name": "u", "user": {"token": "abc"}}],
    "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u", "namespace": "shop"}}],
    "current-context": "x",
}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT", "POD_NAMESPACE",
                 "KUBELITE_SERVICE_ACCOUNT_DIR", "KUBECONFIG"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_laptop_reads_kubeconfig_env_at_call_time(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(KUBECONFIG))
    clean_env.setenv("KUBECONFIG", str(path))
    access = kube.connect()
    assert access.source == "kubeconfig"
    assert access.namespace == "shop"  # from the context
    assert access.api_client.configuration.host == "https://127.0.0.1:6443"


def test_in_cluster_uses_service_account_dir(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    (tmp_path / "token").write_text("tok-123")
    (tmp_path / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    (tmp_path / "namespace").write_text("payments")
    clean_env.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    clean_env.setenv("KUBERNETES_SERVICE_PORT", "6443")
    clean_env.setenv("KUBELITE_SERVICE_ACCOUNT_DIR", str(tmp_path))
    access = kube.connect()
    assert access.source == "in-cluster"
    assert access.namespace == "payments"
    configuration = access.api_client.configuration
    assert configuration.host == "https://127.0.0.1:6443"
    assert configuration.api_key["BearerToken"] == "bearer tok-123"  # re-read as it rotates


def test_pod_namespace_env_wins(tmp_path: Path, clean_env: pytest.MonkeyPatch) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(KUBECONFIG))
    clean_env.setenv("POD_NAMESPACE", "other")
    assert kube.connect(path).namespace == "other"
