"""The ReplicaSet controller."""

from kubelite.controllers.replicaset.controller import ReplicaSetController

__all__ = ["ReplicaSetController"]
