"""kubelite's controllers: the kube-controller-manager role.

`controllers(data_dir)` is what `kubelite up` starts: one
`ControllerManager` running every controller over shared informers.
"""

from __future__ import annotations

from pathlib import Path

from kubelite.controllers.clusterrole_aggregation import ClusterRoleAggregationController
from kubelite.controllers.controller import Controller, ControllerManager
from kubelite.controllers.crdcleanup import CustomResourceCleanupController
from kubelite.controllers.cronjob import CronJobController
from kubelite.controllers.daemonset import DaemonSetController
from kubelite.controllers.deployment import DeploymentController
from kubelite.controllers.disruption import DisruptionController
from kubelite.controllers.endpoints import EndpointsController
from kubelite.controllers.endpointslices import EndpointSliceController
from kubelite.controllers.ephemeral import EphemeralVolumeController
from kubelite.controllers.garbagecollector import GarbageCollector
from kubelite.controllers.hpa import HorizontalPodAutoscalerController
from kubelite.controllers.informer import Handlers, Informer, InformerFactory
from kubelite.controllers.job import JobController, TTLAfterFinishedController
from kubelite.controllers.namespace import NamespaceController
from kubelite.controllers.nodelifecycle import NodeLifecycleController
from kubelite.controllers.replicaset import ReplicaSetController
from kubelite.controllers.replication import ReplicationManager
from kubelite.controllers.resourcequota import ResourceQuotaController
from kubelite.controllers.rootca import RootCACertPublisher, read_root_ca
from kubelite.controllers.serviceaccounts import ServiceAccountsController
from kubelite.controllers.statefulset import StatefulSetController
from kubelite.controllers.storageprotection import StorageProtectionController
from kubelite.controllers.tainteviction import TaintEvictionController
from kubelite.controllers.tokens import TokensController
from kubelite.controllers.volumes import PersistentVolumeController


def all_controllers(data_dir: Path) -> list[Controller]:
    return [
        NamespaceController(),
        GarbageCollector(),
        CustomResourceCleanupController(),
        ReplicaSetController(),
        ReplicationManager(),
        DeploymentController(),
        StatefulSetController(),
        DaemonSetController(),
        PersistentVolumeController(data_dir / "storage"),
        EphemeralVolumeController(),
        StorageProtectionController(),
        EndpointsController(),
        EndpointSliceController(),
        NodeLifecycleController(),
        TaintEvictionController(),
        ServiceAccountsController(),
        TokensController(read_root_ca(data_dir)),
        DisruptionController(),
        JobController(),
        TTLAfterFinishedController(),
        CronJobController(),
        HorizontalPodAutoscalerController(),
        ResourceQuotaController(),
        RootCACertPublisher(read_root_ca(data_dir)),
        ClusterRoleAggregationController(),
    ]


def controllers(data_dir: Path) -> list[ControllerManager]:
    """The Components `kubelite up` runs for the controllers."""
    return [ControllerManager(all_controllers(data_dir))]


__all__ = [
    "ClusterRoleAggregationController",
    "Controller",
    "ControllerManager",
    "CronJobController",
    "CustomResourceCleanupController",
    "DaemonSetController",
    "DeploymentController",
    "DisruptionController",
    "EndpointSliceController",
    "EndpointsController",
    "EphemeralVolumeController",
    "GarbageCollector",
    "Handlers",
    "HorizontalPodAutoscalerController",
    "Informer",
    "InformerFactory",
    "JobController",
    "NamespaceController",
    "NodeLifecycleController",
    "PersistentVolumeController",
    "ReplicaSetController",
    "ReplicationManager",
    "ResourceQuotaController",
    "RootCACertPublisher",
    "ServiceAccountsController",
    "TokensController",
    "StatefulSetController",
    "StorageProtectionController",
    "TTLAfterFinishedController",
    "TaintEvictionController",
    "controllers",
]
