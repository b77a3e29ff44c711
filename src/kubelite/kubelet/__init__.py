"""kubelite's node agent: pods run as supervised local processes.

Public surface: `NodeAgent` (a cluster Component), `node_agents` (one per
`--nodes`), `LogRouter`/`NodeLogs` (the API server's `pods/log` source),
`ExecRouter` (its `pods/exec` source) and
the image store used by `kubelite build` and `kubelite images`.
"""

from __future__ import annotations

from kubelite.kubelet.agent import NodeAgent, node_agents
from kubelite.kubelet.exec import ExecRouter
from kubelite.kubelet.images import Image, ImageNotFound, ImageStore
from kubelite.kubelet.logs import LogRouter, NodeLogs

__all__ = [
    "ExecRouter",
    "Image",
    "ImageNotFound",
    "ImageStore",
    "LogRouter",
    "NodeAgent",
    "NodeLogs",
    "node_agents",
]
