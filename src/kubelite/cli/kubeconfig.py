"""The kubeconfig kubelite writes: CA data and bearer token inside."""

from __future__ import annotations

import base64
from pathlib import Path

import yaml


def render(server: str, ca_pem: bytes, token: str, *, name: str = "kubelite") -> str:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": name,
                "cluster": {
                    "server": server,
                    "certificate-authority-data": base64.b64encode(ca_pem).decode(),
                },
            }
        ],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
        "preferences": {},
    }
    return yaml.safe_dump(config, sort_keys=False)


def server_of(path: Path) -> str | None:
    try:
        config = yaml.safe_load(path.read_text())
        return str(config["clusters"][0]["cluster"]["server"])
    except (OSError, KeyError, IndexError, TypeError, yaml.YAMLError):
        return None
