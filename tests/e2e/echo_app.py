"""A Deployment and a Service of a small app, for the ingress tests.

`source` is the app's Python program, run by the host interpreter's image;
it reads its name from `WHO` and listens on `$POD_IP:8080` (the port `http`).
"""

from __future__ import annotations

from typing import Any


def echo_app(name: str, source: str, service_port_name: str | None = None) -> list[dict[str, Any]]:
    container = {
        "name": "app",
        "image": "python:3.11",
        "command": ["python", "-c", source],
        "env": [{"name": "WHO", "value": name}],
        "ports": [{"name": "http", "containerPort": 8080}],
        "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
    }
    port: dict[str, Any] = {"port": 80, "targetPort": "http"}
    if service_port_name:
        port = {"name": service_port_name, **port}
    return served(name, container, port)


def served(name: str, container: dict[str, Any], port: dict[str, Any]) -> list[dict[str, Any]]:
    """A one-replica Deployment of `container` (label app=NAME) and its Service on `port`."""
    labels = {"app": name}
    return [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name},
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"terminationGracePeriodSeconds": 1, "containers": [container]},
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name},
            "spec": {"selector": labels, "ports": [port]},
        },
    ]
