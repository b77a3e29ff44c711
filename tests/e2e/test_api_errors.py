"""Bad input gets a clear `Status` and changes nothing."""

from __future__ import annotations

import json
import ssl

import httpx
import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture
def http(cluster):
    ctx = ssl.create_default_context(cafile=str(cluster.data_dir / "tls" / "ca.crt"))
    token = (cluster.data_dir / "token").read_text().strip()
    with httpx.Client(
        base_url=cluster.status["api"], verify=ctx, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        yield client


def _count(http, path):
    return len(http.get(path).json()["items"])


def test_missing_or_wrong_token_is_401(cluster):
    ctx = ssl.create_default_context(cafile=str(cluster.data_dir / "tls" / "ca.crt"))
    with httpx.Client(base_url=cluster.status["api"], verify=ctx) as anon:
        resp = anon.get("/api/v1/namespaces")
        assert resp.status_code == 401
        assert resp.json()["kind"] == "Status" and resp.json()["reason"] == "Unauthorized"
        resp = anon.get("/api/v1/namespaces", headers={"authorization": "Bearer nope"})
        assert resp.status_code == 401


def test_malformed_json_is_400_and_stores_nothing(http, namespace):
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    before = _count(http, path)
    resp = http.post(
        path, content=b'{"metadata": {"name": "x"', headers={"content-type": "application/json"}
    )
    assert resp.status_code == 400
    status = resp.json()
    assert status["reason"] == "BadRequest"
    assert (
        "line 1" in status["message"]
        or "column" in status["message"]
        or "char" in status["message"]
    )
    assert _count(http, path) == before


def test_malformed_yaml_is_400_with_position(http, namespace):
    resp = http.post(
        f"/api/v1/namespaces/{namespace}/configmaps",
        content=b"metadata:\n  name: [unclosed\n",
        headers={"content-type": "application/yaml"},
    )
    assert resp.status_code == 400
    assert "line" in resp.json()["message"]


def test_unknown_kind_or_version_is_404_naming_it(http):
    resp = http.get("/apis/apps/v1/namespaces/default/widgets")
    assert resp.status_code == 404
    assert "widgets" in resp.json()["message"]
    resp = http.get("/apis/apps/v2/namespaces/default/deployments")
    assert resp.status_code == 404
    assert "v2" in resp.json()["message"]


def test_body_over_3mib_is_413(http, namespace):
    big = json.dumps({"metadata": {"name": "big"}, "data": {"x": "a" * (3 * 1024 * 1024 + 10)}})
    resp = http.post(f"/api/v1/namespaces/{namespace}/configmaps", content=big.encode())
    assert resp.status_code == 413
    assert http.get(f"/api/v1/namespaces/{namespace}/configmaps/big").status_code == 404


def test_stale_update_is_409(http, namespace):
    path = f"/api/v1/namespaces/{namespace}/configmaps"
    cm = http.post(path, json={"metadata": {"name": "cas"}, "data": {"v": "1"}}).json()
    stale_rv = cm["metadata"]["resourceVersion"]
    cm["data"]["v"] = "2"
    assert http.put(f"{path}/cas", json=cm).status_code == 200
    cm["data"]["v"] = "3"
    cm["metadata"]["resourceVersion"] = stale_rv
    resp = http.put(f"{path}/cas", json=cm)
    assert resp.status_code == 409
    assert resp.json()["reason"] == "Conflict"
    assert http.get(f"{path}/cas").json()["data"]["v"] == "2"


def test_missing_namespace_is_404(http):
    resp = http.post("/api/v1/namespaces/no-such-ns/configmaps", json={"metadata": {"name": "x"}})
    assert resp.status_code == 404
    assert resp.json()["message"] == 'namespaces "no-such-ns" not found'


def test_invalid_deployment_is_422_with_field_causes(http, namespace):
    dep = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "bad"},
        "spec": {
            "selector": {"matchLabels": {"app": "x"}},
            "template": {
                "metadata": {"labels": {"app": "y"}},
                "spec": {"containers": [{"name": "c", "image": "i"}]},
            },
        },
    }
    resp = http.post(f"/apis/apps/v1/namespaces/{namespace}/deployments", json=dep)
    assert resp.status_code == 422
    status = resp.json()
    assert status["reason"] == "Invalid"
    fields = [c["field"] for c in status["details"]["causes"]]
    assert "spec.template.metadata.labels" in fields
    assert "`selector` does not match template `labels`" in status["message"]
    assert http.get(f"/apis/apps/v1/namespaces/{namespace}/deployments/bad").status_code == 404


def test_strict_field_validation_refuses_unknown_fields(http, namespace):
    resp = http.post(
        f"/api/v1/namespaces/{namespace}/configmaps?fieldValidation=Strict",
        json={"metadata": {"name": "strict"}, "data": {}, "bogus": 1},
    )
    assert resp.status_code == 400
    assert 'unknown field "bogus"' in resp.json()["message"]
    assert http.get(f"/api/v1/namespaces/{namespace}/configmaps/strict").status_code == 404


def test_kubectl_prints_server_errors(cluster, namespace, tmp_path):
    manifest = tmp_path / "bad.yaml"
    manifest.write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: bad\nspec:\n"
        "  selector: {matchLabels: {app: x}}\n  template:\n    metadata: {labels: {app: z}}\n"
        "    spec: {containers: [{name: c, image: i}]}\n"
    )
    proc = cluster.kubectl("apply", "-f", str(manifest), "-n", namespace, check=False)
    assert proc.returncode != 0
    assert 'The Deployment "bad" is invalid' in proc.stderr
    assert "`selector` does not match template `labels`" in proc.stderr
    assert "traceback" not in proc.stderr.lower()


def test_wrong_json_type_is_400_naming_the_field(cluster, namespace, tmp_path):
    manifest = tmp_path / "typed.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typed\n  labels: {on: y}\n"
    )
    proc = cluster.kubectl("apply", "-f", str(manifest), "-n", namespace, check=False)
    assert proc.returncode != 0
    assert "cannot unmarshal bool" in proc.stderr and "metadata.labels" in proc.stderr
    assert cluster.kubectl("get", "cm", "typed", "-n", namespace, check=False).returncode != 0
