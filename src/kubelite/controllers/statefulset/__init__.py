"""The StatefulSet controller."""

from kubelite.controllers.statefulset.controller import StatefulSetController

__all__ = ["StatefulSetController"]
