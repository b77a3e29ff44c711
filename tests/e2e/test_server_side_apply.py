"""`kubectl apply --server-side` against kubelite, compared with what a real cluster answers.

A wrongly typed value is upstream's typed-patch error (not a crash), a second
manager's list elements come after the live ones, and a stale resourceVersion
in the configuration is an optimistic-lock conflict.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e


def _apply(cluster, namespace, manifest: str, *args: str, check: bool = True):
    return cluster.kubectl(
        "apply", "--server-side", *args, "-n", namespace, "-f", "-", input=manifest, check=check
    )


def test_a_wrongly_typed_value_names_the_field(cluster, namespace):
    for name in ("new", "existing"):
        if name == "existing":
            _apply(
                cluster, namespace, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: existing}\n"
            )
        manifest = f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{x: 1}}\n"
        refused = _apply(cluster, namespace, manifest, check=False)
        assert refused.returncode != 0
        assert refused.stderr.strip() == (
            f"Error from server: failed to create typed patch object ({namespace}/{name}; "
            "/v1, Kind=ConfigMap): .data.x: expected string, got "
            "&value.valueUnstructured{Value:1}"
        )


DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: order}
spec:
  selector: {matchLabels: {app: order}}
  template:
    metadata: {labels: {app: order}}
    spec:
      containers:
      - {name: a, image: python:3.11, command: [sleep, "3600"], env: [{name: X, value: "1"}]}
"""
SIDECAR = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: order}
spec:
  template:
    spec:
      containers:
      - {name: b, image: python:3.11, command: [sleep, "3600"]}
"""
ENV = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: order}
spec:
  template:
    spec:
      containers:
      - {name: a, env: [{name: Z, value: "2"}]}
"""
SERVICE = """\
apiVersion: v1
kind: Service
metadata: {name: order}
spec:
  selector: {app: order}
  ports: [{name: http, port: 80, protocol: TCP}]
"""
SERVICE_TLS = """\
apiVersion: v1
kind: Service
metadata: {name: order}
spec:
  ports: [{name: https, port: 443, protocol: TCP}]
"""


def test_another_managers_list_elements_come_after_the_live_ones(cluster, namespace):
    _apply(cluster, namespace, DEPLOYMENT)
    _apply(cluster, namespace, SIDECAR, "--field-manager=sidecar")
    _apply(cluster, namespace, ENV, "--field-manager=env2")
    template = (
        "{.spec.template.spec.containers[*].name}/{.spec.template.spec.containers[0].env[*].name}"
    )
    out = cluster.kubectl("get", "deploy", "order", "-n", namespace, "-o", f"jsonpath={template}")
    assert out.stdout == "a b/X Z"

    _apply(cluster, namespace, SERVICE)
    _apply(cluster, namespace, SERVICE_TLS, "--field-manager=m2")
    out = cluster.kubectl(
        "get", "svc", "order", "-n", namespace, "-o", "jsonpath={.spec.ports[*].name}"
    )
    assert out.stdout == "http https"


def test_a_stale_resource_version_is_a_conflict(cluster, namespace):
    manifest = "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: rv{rv}}}\ndata: {{a: {a}}}\n"
    _apply(cluster, namespace, manifest.format(rv="", a='"1"'))
    stale = manifest.format(rv=', resourceVersion: "5"', a='"r1"')
    refused = _apply(cluster, namespace, stale, check=False)
    assert refused.returncode != 0
    # kubectl adds its advice on field conflicts to every 409 an apply gets.
    assert refused.stderr.splitlines()[0] == (
        'error: Operation cannot be fulfilled on configmaps "rv": the object has been '
        "modified; please apply your changes to the latest version and try again"
    )
    data = cluster.kubectl("get", "cm", "rv", "-n", namespace, "-o", "jsonpath={.data.a}")
    assert data.stdout == "1"

    live = cluster.kubectl_json("get", "cm", "rv", "-n", namespace)["metadata"]["resourceVersion"]
    _apply(cluster, namespace, manifest.format(rv=f', resourceVersion: "{live}"', a='"r2"'))
    data = cluster.kubectl("get", "cm", "rv", "-n", namespace, "-o", "jsonpath={.data.a}")
    assert data.stdout == "r2"
