"""The DaemonSet controller."""

from kubelite.controllers.daemonset.controller import DaemonSetController

__all__ = ["DaemonSetController"]
