"""kubelite's node agent: pods run as supervised local processes.

Public surface: `NodeAgent` (a cluster Component), `node_agents` (one per
`--nodes`), `LogRouter`/`NodeLogs` (the API server's `pods/log` source),
`ExecRouter` (its `pods/exec` and `pods/attach` source), `MetricsRouter`
(its `metrics.k8s.io` source) and the image store used by `kubelite build`
and `kubelite images`.
"""

from __future__ import annotations

from kubelite.kubelet.agent import NodeAgent, node_agents
from kubelite.kubelet.exec import ExecRouter
from kubelite.kubelet.images import Image, ImageNotFound, ImageStore
from kubelite.kubelet.logs import LogRouter, NodeLogs
from kubelite.kubelet.metrics import MetricsRouter

__all__ = [
    "ExecRouter",
    "Image",
    "ImageNotFound",
    "ImageStore",
    "LogRouter",
    "MetricsRouter",
    "NodeAgent",
    "NodeLogs",
    "node_agents",
]
