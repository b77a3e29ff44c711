"""`kubectl get deploy x --subresource=scale`: the Scale's Table has upstream's columns."""

from __future__ import annotations

from pathlib import Path

from tests.unit.apiserver.inprocess_api import api_app, call

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"


def test_scale_table_has_desired_and_available(tmp_path: Path) -> None:
    deploy = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]},
            },
        },
    }
    with api_app(tmp_path) as app:
        path = "/apis/apps/v1/namespaces/default/deployments"
        assert call(app, "POST", path, deploy).status_code == 201
        r = call(app, "GET", path + "/web/scale", accept=TABLE)
        table = r.json()
        assert table["kind"] == "Table"
        columns = [(c["name"], c["type"], c["format"]) for c in table["columnDefinitions"]]
        assert columns == [
            ("Name", "string", ""),
            ("Desired", "integer", ""),
            ("Available", "integer", ""),
            ("Age", "string", ""),
        ]
        [row] = table["rows"]
        assert row["cells"][:3] == ["web", 3, 0]
        assert row["object"]["metadata"]["name"] == "web"
        # without the Table Accept, the Scale itself
        assert call(app, "GET", path + "/web/scale").json()["kind"] == "Scale"
