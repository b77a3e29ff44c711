"""kubelite's scheduler: the kube-scheduler algorithm over Kubernetes-shaped dicts.

Public surface: :class:`Scheduler` (``schedule_one``), :class:`ScheduleResult`,
the :class:`Cache`, the :class:`SchedulingQueue`, profiles
(:func:`default_profile`, :func:`load_profiles`), the plugin ``REGISTRY``, and
the binder seam (:class:`Binder`, :func:`pod_scheduled_condition`).
"""

from __future__ import annotations

from kubelite.scheduler.binder import Binder, apply_result, pod_scheduled_condition
from kubelite.scheduler.framework.cache import Cache
from kubelite.scheduler.framework.diagnosis import Diagnosis, FitError
from kubelite.scheduler.framework.queue import QueuedPodInfo, SchedulingQueue
from kubelite.scheduler.framework.runtime import PluginScore
from kubelite.scheduler.framework.status import Code, Status
from kubelite.scheduler.profile import Profile, ProfileError, default_profile, load_profiles
from kubelite.scheduler.registry import REGISTRY
from kubelite.scheduler.result import ScheduleResult
from kubelite.scheduler.scheduler import Scheduler

__all__ = [
    "REGISTRY",
    "Binder",
    "apply_result",
    "pod_scheduled_condition",
    "Cache",
    "Code",
    "Diagnosis",
    "FitError",
    "PluginScore",
    "Profile",
    "ProfileError",
    "QueuedPodInfo",
    "ScheduleResult",
    "Scheduler",
    "SchedulingQueue",
    "Status",
    "default_profile",
    "load_profiles",
]
