"""The `PodSecurity` admission plugin: the namespace's `pod-security.kubernetes.io/*`
labels decide which standard its pods are held to, as upstream's plugin decides.

`enforce` refuses a violating pod (`pods "x" is forbidden: violates PodSecurity
"restricted:latest": ...`); `warn` answers a `Warning:`; `audit` would annotate
the audit log, which kubelite does not keep. Workload resources (Deployments,
Jobs, ...) are checked on their pod template, for warnings only. Labelling a
namespace with a stricter enforce level warns about its pods that would
violate it. A namespace without such labels is privileged: its pods cost one
cached lookup.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kubelite.api.fielderrors import FieldError, invalid
from kubelite.api.registry import REGISTRY
from kubelite.apiserver import errors
from kubelite.apiserver.admission import Attributes
from kubelite.apiserver.podsecurity.policy import (
    PRIVILEGED,
    LevelVersion,
    compare_levels,
    evaluate,
    forbidden_detail,
    forbidden_reason,
    parse_level,
    parse_version,
)
from kubelite.apiserver.request_context import add_warning

if TYPE_CHECKING:
    from kubelite.apiserver.rest import RestStorage

Obj = dict[str, Any]
PREFIX = "pod-security.kubernetes.io/"
ENFORCE, AUDIT, WARN = PREFIX + "enforce", PREFIX + "audit", PREFIX + "warn"
_LATEST_PRIVILEGED = LevelVersion(PRIVILEGED)
IGNORED_POD_SUBRESOURCES = frozenset(
    {"exec", "attach", "binding", "eviction", "log", "portforward", "proxy", "status"}
)
POD_CONTROLLERS = frozenset(
    {
        ("", "ReplicationController"),
        ("", "PodTemplate"),
        ("apps", "ReplicaSet"),
        ("apps", "Deployment"),
        ("apps", "DaemonSet"),
        ("apps", "StatefulSet"),
        ("batch", "Job"),
        ("batch", "CronJob"),
    }
)
MAX_PODS_TO_CHECK = 3000
NAMESPACE = REGISTRY.by_kind("v1", "Namespace")
POD = REGISTRY.by_kind("v1", "Pod")


@dataclass(frozen=True)
class Policy:
    enforce: LevelVersion = _LATEST_PRIVILEGED
    audit: LevelVersion = _LATEST_PRIVILEGED
    warn: LevelVersion = _LATEST_PRIVILEGED

    @property
    def fully_privileged(self) -> bool:
        return all(lv.level == PRIVILEGED for lv in (self.enforce, self.audit, self.warn))


def policy_of(labels: dict[str, str] | None) -> tuple[Policy, list[FieldError]]:
    """PolicyToEvaluate: the namespace's policy and its labels' errors."""
    if not labels or not any(k.startswith(PREFIX) for k in labels):
        return Policy(), []
    errs: list[FieldError] = []

    def level(key: str, fail_open: bool) -> str | None:
        if key not in labels:
            return None
        value, err = parse_level(labels[key])
        if err:
            errs.append(invalid(f"metadata.labels[{key}]", labels[key], err))
            return PRIVILEGED if fail_open else value
        return value

    def version(key: str) -> tuple[bool, int | None]:
        if key not in labels:
            return False, None
        minor, err = parse_version(labels[key])
        if err:
            errs.append(invalid(f"metadata.labels[{key}]", labels[key], err))
        return True, minor

    enforce_level = level(ENFORCE, False)
    has_enforce = enforce_level is not None and not any(
        e.field == f"metadata.labels[{ENFORCE}]" for e in errs
    )
    _, enforce_minor = version(ENFORCE + "-version")
    audit_level = level(AUDIT, True)
    _, audit_minor = version(AUDIT + "-version")
    warn_level = level(WARN, True)
    has_warn_version, warn_minor = version(WARN + "-version")
    enforce = LevelVersion(enforce_level or PRIVILEGED, enforce_minor)
    warn = LevelVersion(warn_level or PRIVILEGED, warn_minor)
    if warn_level is None and has_enforce and compare_levels(enforce.level, warn.level) > 0:
        warn = LevelVersion(enforce.level, warn_minor if has_warn_version else enforce.minor)
    return Policy(enforce, LevelVersion(audit_level or PRIVILEGED, audit_minor), warn), errs


def pod_template(group: str, kind: str, obj: Obj) -> Obj | None:
    if kind == "PodTemplate":
        template = obj.get("template")
    elif kind == "CronJob":
        job = ((obj.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {}
        template = job.get("template")
    else:
        template = (obj.get("spec") or {}).get("template")
    return template if isinstance(template, dict) else None


class PodSecurity:
    """Upstream's PodSecurity plugin (validating), with no exemptions configured."""

    def __init__(self) -> None:
        # namespace -> (its revision, its policy, its label errors)
        self._policies: dict[str, tuple[int, Policy, list[FieldError]]] = {}

    def admit(self, attrs: Attributes, obj: Obj | None, old: Obj | None, storage: Any) -> None:
        return None

    def validate(self, attrs: Attributes, obj: Obj, old: Obj | None, storage: RestStorage) -> None:
        if attrs.operation not in ("CREATE", "UPDATE"):
            return
        rt = attrs.resource
        if rt.group == "" and rt.kind == "Namespace":
            if not attrs.subresource:
                self._namespace(attrs, obj, old, storage)
        elif rt.group == "" and rt.kind == "Pod":
            if attrs.subresource not in IGNORED_POD_SUBRESOURCES:
                self._pod(attrs, obj, old, storage)
        elif (rt.group, rt.kind) in POD_CONTROLLERS and not attrs.subresource:
            self._controller(attrs, obj, storage)

    # ---- the namespace's policy ---------------------------------------------------------

    def _policy(
        self, namespace: str | None, storage: RestStorage
    ) -> tuple[Policy, list[FieldError]]:
        if not namespace or NAMESPACE is None:
            return Policy(), []
        kv = storage.store.get(NAMESPACE.key(None, namespace))
        if kv is None:  # gone: forget it, so deleted namespaces do not pile up here
            self._policies.pop(namespace, None)
            return Policy(), []
        cached = self._policies.get(namespace)
        if cached is not None and cached[0] == kv.revision:
            return cached[1], cached[2]
        labels = (kv.obj().get("metadata") or {}).get("labels")
        policy, errs = policy_of(labels)
        self._policies[namespace] = (kv.revision, policy, errs)
        return policy, errs

    def _namespace(
        self, attrs: Attributes, obj: Obj, old: Obj | None, storage: RestStorage
    ) -> None:
        name = str((obj.get("metadata") or {}).get("name") or attrs.name)
        policy, errs = policy_of((obj.get("metadata") or {}).get("labels"))
        if old is None:
            if errs:
                raise errors.Invalid.fields("Namespace", "", name, errs)
            return
        old_policy, old_errs = policy_of((old.get("metadata") or {}).get("labels"))
        if errs and (not old_errs or errs != old_errs):
            raise errors.Invalid.fields("Namespace", "", name, errs)
        new, previous = policy.enforce, old_policy.enforce
        if new == previous or new.level == PRIVILEGED:
            return
        if new.minor == previous.minor and compare_levels(new.level, previous.level) < 1:
            return
        for warning in self._existing_pods(name, new, storage):
            add_warning(warning)

    def _existing_pods(
        self, namespace: str, enforce: LevelVersion, storage: RestStorage
    ) -> list[str]:
        assert POD is not None
        pods = _prioritized([kv.obj() for kv in storage.list(POD, namespace).items])
        total = len(pods)
        pods = pods[:MAX_PODS_TO_CHECK]
        first: dict[str, tuple[str, int]] = {}  # reason -> (first pod by name, count)
        order: list[str] = []
        for pod in pods:
            failures = evaluate(enforce, pod.get("metadata") or {}, pod.get("spec") or {})
            if not failures:
                continue
            reason = forbidden_reason(failures)
            name = str(pod["metadata"].get("name", ""))
            if reason not in first:
                order.append(reason)
                first[reason] = (name, 1)
            else:
                known, count = first[reason]
                first[reason] = (min(known, name), count + 1)
        warnings = []
        if len(pods) < total:
            warnings.append(
                f"new PodSecurity enforce level only checked against the first {len(pods)} "
                f"of {total} existing pods"
            )
        if order:
            warnings.append(
                f'existing pods in namespace "{namespace}" violate the new PodSecurity '
                f'enforce level "{enforce}"'
            )
        lines = []
        for reason in order:
            name, count = first[reason]
            if count == 1:
                lines.append(f"{name}: {reason}")
            elif count == 2:
                lines.append(f"{name} (and 1 other pod): {reason}")
            else:
                lines.append(f"{name} (and {count - 1} other pods): {reason}")
        return warnings + sorted(lines)

    # ---- pods and their templates -------------------------------------------------------

    def _pod(self, attrs: Attributes, obj: Obj, old: Obj | None, storage: RestStorage) -> None:
        policy, errs = self._policy(attrs.namespace, storage)
        if not errs and policy.fully_privileged:
            return
        if old is not None and not _significant_update(obj, old):
            return
        meta, spec = obj.get("metadata") or {}, obj.get("spec") or {}
        failures = evaluate(policy.enforce, meta, spec)
        if failures:
            raise errors.Forbidden(
                f'pods "{attrs.name}" is forbidden: violates PodSecurity '
                f'"{policy.enforce}": {forbidden_detail(failures)}',
                details={"name": attrs.name, "kind": "pods"} if attrs.name else {"kind": "pods"},
            )
        self._warn(policy, meta, spec, cached=(policy.enforce, failures))

    def _controller(self, attrs: Attributes, obj: Obj, storage: RestStorage) -> None:
        policy, errs = self._policy(attrs.namespace, storage)
        if not errs and policy.warn.level == PRIVILEGED and policy.audit.level == PRIVILEGED:
            return
        template = pod_template(attrs.resource.group, attrs.resource.kind, obj)
        if template is None:
            return
        self._warn(policy, template.get("metadata") or {}, template.get("spec") or {})

    def _warn(
        self,
        policy: Policy,
        meta: Obj,
        spec: Obj,
        cached: tuple[LevelVersion, list[tuple[str, str]]] | None = None,
    ) -> None:
        if cached is not None and cached[0] == policy.warn:
            failures = cached[1]
        else:
            failures = evaluate(policy.warn, meta, spec)
        if failures:
            add_warning(f'would violate PodSecurity "{policy.warn}": {forbidden_detail(failures)}')


def _prioritized(pods: list[Obj]) -> list[Obj]:
    """prioritizePods: one pod per controller first, so the checked ones (at most
    MAX_PODS_TO_CHECK) cover as many workloads as they can; the rest of each
    controller's pods after them."""
    first, rest, seen = [], [], set()
    for pod in pods:
        owner = next(
            (
                ref.get("uid")
                for ref in (pod.get("metadata") or {}).get("ownerReferences") or []
                if ref.get("controller") is True
            ),
            None,
        )
        if owner is None or owner not in seen:
            first.append(pod)
            if owner is not None:
                seen.add(owner)
        else:
            rest.append(pod)
    return first + rest


def _significant_update(pod: Obj, old: Obj) -> bool:
    """isSignificantPodUpdate: only a change of image or of the containers' number
    (or a new ephemeral container) is evaluated again."""
    spec, old_spec = pod.get("spec") or {}, old.get("spec") or {}
    for key in ("containers", "initContainers"):
        new, before = spec.get(key) or [], old_spec.get(key) or []
        if len(new) != len(before):
            return True
        if any(a.get("image") != b.get("image") for a, b in zip(new, before, strict=True)):
            return True
    previous = {c.get("name"): c for c in old_spec.get("ephemeralContainers") or []}
    for c in spec.get("ephemeralContainers") or []:
        before = previous.get(c.get("name"))
        if before is None or before.get("image") != c.get("image"):
            return True
    return False
