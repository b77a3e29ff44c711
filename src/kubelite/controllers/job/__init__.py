"""The Job controller (batch/v1 Jobs) and the TTL-after-finished controller."""

from kubelite.controllers.job.controller import JobController
from kubelite.controllers.job.ttl import TTLAfterFinishedController

__all__ = ["JobController", "TTLAfterFinishedController"]
