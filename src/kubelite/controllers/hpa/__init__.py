"""The HorizontalPodAutoscaler controller (autoscaling/v2)."""

from kubelite.controllers.hpa.controller import HorizontalPodAutoscalerController

__all__ = ["HorizontalPodAutoscalerController"]
