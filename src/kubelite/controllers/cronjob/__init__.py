"""The CronJob controller."""

from kubelite.controllers.cronjob.controller import CronJobController

__all__ = ["CronJobController"]
