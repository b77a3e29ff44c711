"""The Deployment controller."""

from kubelite.controllers.deployment.controller import DeploymentController

__all__ = ["DeploymentController"]
