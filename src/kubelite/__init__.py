"""kubelite: Kubernetes and a microservice platform for one machine, in pure Python."""

__version__ = "0.1.0"
