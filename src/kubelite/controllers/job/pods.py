"""A Job's pods as its controller sees them, and the pods it makes.

Every pod a Job creates carries the `batch.kubernetes.io/job-tracking`
finalizer: a finished pod cannot vanish before the controller has counted it
(first recorded under `status.uncountedTerminatedPods`, then the finalizer
removed, then moved to the `succeeded`/`failed` counters), so a pod deleted
by hand or by the garbage collector is still counted exactly once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kubelite.controllers.job.indexes import COMPLETION_INDEX
from kubelite.controllers.objects import Obj, copy, deleting, meta
from kubelite.controllers.podcontrol import pod_from_template

TRACKING_FINALIZER = "batch.kubernetes.io/job-tracking"
COMPLETION_INDEX_ENV = "JOB_COMPLETION_INDEX"
INDEX_FAILURE_COUNT = "batch.kubernetes.io/job-index-failure-count"
INDEX_IGNORED_FAILURE_COUNT = "batch.kubernetes.io/job-index-ignored-failure-count"


def spec_of(job: Mapping[str, Any]) -> dict[str, Any]:
    return job.get("spec") or {}


def phase(pod: Mapping[str, Any]) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


def tracked(pod: Mapping[str, Any]) -> bool:
    return TRACKING_FINALIZER in (meta(pod).get("finalizers") or [])


def only_failed_replaced(job: Mapping[str, Any]) -> bool:
    """podReplacementPolicy Failed: a terminating pod is neither active nor failed yet."""
    return spec_of(job).get("podReplacementPolicy") == "Failed"


def is_failed(pod: Mapping[str, Any], job: Mapping[str, Any]) -> bool:
    """Upstream's isPodFailed: Failed, or being deleted before it succeeded."""
    if phase(pod) == "Failed":
        return True
    if only_failed_replaced(job):
        return False
    return deleting(pod) and phase(pod) != "Succeeded"


def is_active(pod: Mapping[str, Any]) -> bool:
    return phase(pod) not in ("Succeeded", "Failed") and not deleting(pod)


def is_terminating(pod: Mapping[str, Any]) -> bool:
    return deleting(pod) and phase(pod) not in ("Succeeded", "Failed")


def is_ready(pod: Mapping[str, Any]) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def restarts(pod: Mapping[str, Any]) -> int:
    status = pod.get("status") or {}
    return sum(
        int(s.get("restartCount") or 0)
        for key in ("initContainerStatuses", "containerStatuses")
        for s in status.get(key) or []
    )


@dataclass(frozen=True)
class PodFailureMatch:
    """The first podFailurePolicy rule a failed pod matches."""

    action: str  # FailJob, Ignore, Count, FailIndex
    message: str


def match_failure_policy(job: Mapping[str, Any], pod: Mapping[str, Any]) -> PodFailureMatch | None:
    """Upstream's matchPodFailurePolicy, for a pod in phase Failed."""
    policy = spec_of(job).get("podFailurePolicy")
    if not isinstance(policy, dict) or phase(pod) != "Failed":
        return None
    name = f"{meta(pod).get('namespace')}/{meta(pod).get('name')}"
    for i, rule in enumerate(policy.get("rules") or []):
        action = str(rule.get("action") or "")
        exit_codes = rule.get("onExitCodes")
        if isinstance(exit_codes, dict):
            hit = _exit_code_hit(exit_codes, pod)
            if hit is not None:
                container, code = hit
                return PodFailureMatch(
                    action,
                    f"Container {container} for pod {name} failed with exit code {code} "
                    f"matching {action} rule at index {i}",
                )
        for pattern in rule.get("onPodConditions") or []:
            if _condition_hit(pattern, pod):
                return PodFailureMatch(
                    action,
                    f"Pod {name} has condition {pattern.get('type')} matching {action} "
                    f"rule at index {i}",
                )
    return None


def _exit_code_hit(
    requirement: Mapping[str, Any], pod: Mapping[str, Any]
) -> tuple[str, int] | None:
    values = set(requirement.get("values") or [])
    operator = requirement.get("operator")
    wanted = requirement.get("containerName")
    status = pod.get("status") or {}
    for key in ("containerStatuses", "initContainerStatuses"):  # regular ones first
        for cs in status.get(key) or []:
            if wanted is not None and cs.get("name") != wanted:
                continue
            terminated = (cs.get("state") or {}).get("terminated") or {}
            code = terminated.get("exitCode")
            if not isinstance(code, int) or code == 0:
                continue
            if (operator == "In") == (code in values):
                return str(cs.get("name")), code
    return None


def _condition_hit(pattern: Mapping[str, Any], pod: Mapping[str, Any]) -> bool:
    wanted = pattern.get("status") or "True"
    return any(
        c.get("type") == pattern.get("type") and c.get("status") == wanted
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def new_pod(job: Obj, index: int | None, failures: tuple[int, int] | None = None) -> Obj:
    """A pod from the Job's template: tracking finalizer, and its index when Indexed.

    `failures` (failed, ignored) are the index's earlier failures, recorded on
    the pod when the Job has a backoff limit per index.
    """
    template = copy(spec_of(job).get("template") or {})
    name = meta(job)["name"]
    if index is not None:
        tmeta = template.setdefault("metadata", {})
        tmeta.setdefault("annotations", {})[COMPLETION_INDEX] = str(index)
        if failures is not None:
            tmeta["annotations"][INDEX_FAILURE_COUNT] = str(failures[0])
            if failures[1]:
                tmeta["annotations"][INDEX_IGNORED_FAILURE_COUNT] = str(failures[1])
        tmeta.setdefault("labels", {})[COMPLETION_INDEX] = str(index)
        pod_spec = template.setdefault("spec", {})
        pod_spec["hostname"] = f"{name}-{index}"
        _add_index_env(pod_spec)
    pod = pod_from_template(job, template)
    if index is not None:
        pod["metadata"]["generateName"] = _indexed_prefix(name, index)
    finalizers = pod["metadata"].setdefault("finalizers", [])
    if TRACKING_FINALIZER not in finalizers:
        finalizers.append(TRACKING_FINALIZER)
    return pod


def _add_index_env(pod_spec: dict[str, Any]) -> None:
    """JOB_COMPLETION_INDEX from the annotation, in every container that lacks it."""
    source = {"fieldRef": {"fieldPath": f"metadata.annotations['{COMPLETION_INDEX}']"}}
    for key in ("initContainers", "containers"):
        for container in pod_spec.get(key) or []:
            env = container.setdefault("env", [])
            if not any(e.get("name") == COMPLETION_INDEX_ENV for e in env):
                env.append({"name": COMPLETION_INDEX_ENV, "valueFrom": copy(source)})


def _indexed_prefix(name: str, index: int) -> str:
    """`<job>-<index>-`, the name part shortened so the pod name stays within 63."""
    suffix = f"-{index}-"
    room = 63 - 5 - len(suffix)
    return f"{name[:room]}{suffix}"
