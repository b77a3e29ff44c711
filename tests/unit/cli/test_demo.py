"""The pure parts of `kubelite demo`: Dockerfile pinning, what is applied, rollout wording."""

from __future__ import annotations

import base64
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubelite.cli import demo
from kubelite.cli.build_cmd import build
from kubelite.kubelet.dockerfile import parse
from kubelite.kubelet.images import ImageStore

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "shop"


@pytest.mark.parametrize(
    ("line", "pinned"),
    [
        ("FROM python:3.11", "FROM python:3.13"),
        ("FROM python:3.12-slim", "FROM python:3.13"),
        ("from docker.io/library/python:3.10 AS base", "from python:3.13 AS base"),
    ],
    ids=["plain", "variant-tag", "registry-prefix"],
)
def test_pin_dockerfile_sets_the_host_python_and_the_sdk_path(line: str, pinned: str) -> None:
    text = f'# comment\n{line}\nWORKDIR /app\nCMD ["python"]\n'
    out = demo.pin_dockerfile(text, "3.13", ["/src", "/venv/site-packages"])
    assert out.splitlines() == [
        "# comment",
        pinned,
        "ENV PYTHONPATH=/src:/venv/site-packages",
        "WORKDIR /app",
        'CMD ["python"]',
    ]


def test_pin_dockerfile_refuses_a_non_python_base() -> None:
    with pytest.raises(demo.DemoError, match="no FROM python:X.Y"):
        demo.pin_dockerfile("FROM scratch\n", "3.13", ["/src"])


def test_the_shop_dockerfile_uses_only_the_build_subset() -> None:
    parsed = parse((EXAMPLES / "Dockerfile").read_text())
    assert parsed.base.startswith("python:")
    assert {i.keyword for i in parsed.instructions} <= {"WORKDIR", "COPY", "ENV", "EXPOSE",
                                                         "ENTRYPOINT", "CMD"}  # fmt: skip


def test_the_pinned_shop_dockerfile_builds(tmp_path: Path) -> None:
    context = tmp_path / "shop"
    context.mkdir()
    for script in ("frontend.py", "orders.py", "payments.py"):
        (context / script).write_text((EXAMPLES / script).read_text())
    python = "{}.{}".format(*sys.version_info[:2])
    text = demo.pin_dockerfile((EXAMPLES / "Dockerfile").read_text(), python, ["/sdk"])
    (context / "Dockerfile").write_text(text)
    build(demo.IMAGE, context, tmp_path / "data", quiet=True)
    image = ImageStore(tmp_path / "data").resolve(demo.IMAGE)
    assert "PYTHONPATH=/sdk" in image.env
    assert image.run_config["Entrypoint"] == ["python"]
    assert (image.rootfs / "app" / "orders.py").is_file()


def test_cluster_objects_put_the_cluster_facts_first() -> None:
    manifests = (EXAMPLES / "k8s.yaml").read_text()
    docs = demo.cluster_objects(manifests, zipkin="http://127.0.0.1:9411", kubeconfig="kc: 1\n")
    env, secret = docs[0], docs[1]
    assert env["metadata"]["name"] == demo.ENV_CONFIGMAP
    assert env["data"]["OTEL_EXPORTER_ZIPKIN_ENDPOINT"] == "http://127.0.0.1:9411/api/v2/spans"
    assert env["data"]["KUBECONFIG"] == "/etc/kubelite/kubeconfig"
    assert base64.b64decode(secret["data"]["kubeconfig"]) == b"kc: 1\n"
    kinds = [(d["kind"], d["metadata"]["name"]) for d in docs[2:]]
    assert kinds == [
        ("Role", "shop-mesh"), ("RoleBinding", "shop-mesh"),
        ("Deployment", "frontend"), ("Service", "frontend"),
        ("Deployment", "orders"), ("Service", "orders"),
        ("Deployment", "payments"), ("Service", "payments"),
    ]  # fmt: skip


def _deployments() -> list[dict[str, Any]]:
    docs = yaml.safe_load_all((EXAMPLES / "k8s.yaml").read_text())
    return [d for d in docs if d and d["kind"] == "Deployment"]


def test_manifests_wire_probes_requests_and_the_optional_cluster_facts() -> None:
    for dep in _deployments():
        pod = dep["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["image"] == demo.IMAGE
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert set(container["resources"]["requests"]) == {"cpu", "memory"}
        assert container["envFrom"] == [
            {"configMapRef": {"name": demo.ENV_CONFIGMAP, "optional": True}}
        ]
        (volume,) = pod["volumes"]
        assert volume["secret"] == {"secretName": demo.KUBECONFIG_SECRET, "optional": True}
        (mount,) = container["volumeMounts"]
        assert f"{mount['mountPath']}/kubeconfig" == demo.KUBECONFIG_MOUNT
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert container["args"] == [f"{labels['app.kubernetes.io/name']}.py"]


@pytest.mark.parametrize(
    ("doc", "path"),
    [
        ({"apiVersion": "v1", "kind": "Service"}, "/api/v1/namespaces/ns/services/x"),
        ({"apiVersion": "v1", "kind": "Secret"}, "/api/v1/namespaces/ns/secrets/x"),
        ({"apiVersion": "apps/v1", "kind": "Deployment"},
         "/apis/apps/v1/namespaces/ns/deployments/x"),
    ],
    ids=["service", "secret", "deployment"],
)  # fmt: skip
def test_resource_path(doc: dict[str, Any], path: str) -> None:
    assert demo.resource_path({**doc, "metadata": {"name": "x"}}, "ns") == path


def test_resource_path_refuses_other_kinds() -> None:
    with pytest.raises(demo.DemoError, match="cannot apply Ingress"):
        demo.resource_path({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                            "metadata": {"name": "x"}}, "ns")  # fmt: skip


def make_deployment(*, generation: int = 1, observed: int = 1, replicas: int = 2,
                    status_replicas: int = 2, updated: int = 2, available: int = 2,
                    deadline_exceeded: bool = False) -> dict[str, Any]:  # fmt: skip
    conditions = (
        [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]
        if deadline_exceeded
        else []
    )
    return {
        "metadata": {"name": "web", "generation": generation},
        "spec": {"replicas": replicas},
        "status": {"observedGeneration": observed, "replicas": status_replicas,
                   "updatedReplicas": updated, "availableReplicas": available,
                   "conditions": conditions},
    }  # fmt: skip


@pytest.mark.parametrize(
    ("deployment", "message"),
    [
        (make_deployment(), None),
        (make_deployment(generation=2), "waiting for deployment spec update to be observed"),
        (make_deployment(updated=1),
         'waiting for deployment "web" rollout to finish: 1 out of 2 new replicas have been updated'),
        # 3 pods, 2 of them new: 3 - 2 = 1 old
        (make_deployment(status_replicas=3),
         'waiting for deployment "web" rollout to finish: 1 old replicas are pending termination'),
        (make_deployment(available=0),
         'waiting for deployment "web" rollout to finish: 0 of 2 updated replicas are available'),
        (make_deployment(available=0, deadline_exceeded=True),
         'deployment "web" exceeded its progress deadline'),
    ],
    ids=["done", "unobserved", "updating", "old-pending", "unavailable", "deadline"],
)  # fmt: skip
def test_rollout_message(deployment: dict[str, Any], message: str | None) -> None:
    assert demo.rollout_message(deployment) == message


def make_pod(name: str, *, waiting: str | None = None, ready: bool = True) -> dict[str, Any]:
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    return {"metadata": {"name": name},
            "status": {"phase": "Running", "containerStatuses": [{"ready": ready, "state": state}]}}  # fmt: skip


@pytest.mark.parametrize(
    ("pods", "problem"),
    [
        ([make_pod("a")], None),
        ([make_pod("a"), make_pod("b", waiting="CrashLoopBackOff", ready=False)],
         "pod b: CrashLoopBackOff"),
        ([make_pod("a", ready=False)], "pod a: not ready"),
        ([{"metadata": {"name": "p"}, "status": {"phase": "Pending"}}], "pod p: Pending"),
    ],
    ids=["all-ready", "crashing", "not-ready", "unscheduled"],
)  # fmt: skip
def test_pod_problem(pods: list[dict[str, Any]], problem: str | None) -> None:
    assert demo.pod_problem(pods) == problem


def test_frontend_urls_from_the_node_port_service() -> None:
    service = {"spec": {"clusterIP": "127.96.0.7",
                        "ports": [{"port": 80, "nodePort": 31000, "targetPort": "http"}]}}  # fmt: skip
    assert demo.frontend_urls(service) == (
        "http://127.0.0.1:31000/checkout",
        "http://127.96.0.7/checkout",
        31000,
    )


def test_frontend_urls_refuse_a_service_without_node_port() -> None:
    with pytest.raises(demo.DemoError, match="no node port"):
        demo.frontend_urls({"spec": {"clusterIP": "127.96.0.7", "ports": [{"port": 80}]}})


def test_render_lists_every_url_and_how_to_stop() -> None:
    urls = demo.Urls("http://127.0.0.1:31000/checkout", "http://127.96.0.7/checkout", 31000,
                     "http://127.0.0.1:8001", "http://127.0.0.1:9411", "/d/kubeconfig", "/d")  # fmt: skip
    text = demo.render(urls, default_dir=False)
    assert "  frontend   http://127.0.0.1:31000/checkout\n" in text
    assert "http://127.0.0.1:8001/traces?service=frontend" in text
    assert "http://127.0.0.1:9411/api/v2/traces?serviceName=frontend" in text
    assert "\nexport KUBECONFIG=/d/kubeconfig\n" in text
    assert "kubelite down --data-dir /d " in text
    assert "kubelite down   #" in demo.render(urls, default_dir=True)
