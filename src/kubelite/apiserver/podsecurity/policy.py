"""The Pod Security Standards' checks, as k8s.io/pod-security-admission (1.32) words them.

Each check looks at a pod's metadata and spec and returns None (allowed) or a
(reason, detail) pair. Checks are versioned: a namespace may pin a standard to
an older release (`enforce-version: v1.24`), and a check applies from the
release that introduced it. The server is 1.32, so "latest", and any later
version, is 1.32.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from kubelite.api.sysctls import safe as safe_sysctls

Obj = dict[str, Any]
Result = tuple[str, str] | None  # (forbidden reason, detail)

SERVER_MINOR = 32
PRIVILEGED, BASELINE, RESTRICTED = "privileged", "baseline", "restricted"
LEVELS = (PRIVILEGED, BASELINE, RESTRICTED)


# ---- levels and versions ----------------------------------------------------------------


@dataclass(frozen=True)
class LevelVersion:
    level: str
    minor: int | None = None  # None: latest

    def __str__(self) -> str:
        return f"{self.level}:{'latest' if self.minor is None else f'v1.{self.minor}'}"

    @property
    def effective_minor(self) -> int:
        return SERVER_MINOR if self.minor is None or self.minor > SERVER_MINOR else self.minor


_VERSION = re.compile(r"^v1\.([0-9]|[1-9][0-9]*)$")


def parse_level(text: str) -> tuple[str, str | None]:
    """(level, error): an unknown level is restricted, with upstream's message."""
    if text in LEVELS:
        return text, None
    return RESTRICTED, "must be one of privileged, baseline, restricted"


def parse_version(text: str) -> tuple[int | None, str | None]:
    if text == "latest":
        return None, None
    m = _VERSION.match(text)
    if m is None:
        return None, 'must be "latest" or "v1.x"'
    return int(m.group(1)), None


def compare_levels(a: str, b: str) -> int:
    return LEVELS.index(a) - LEVELS.index(b)


# ---- helpers ----------------------------------------------------------------------------


def _join_quote(items: list[str]) -> str:
    return '"' + '", "'.join(items) + '"' if items else ""


def _plural(singular: str, plural: str, n: int) -> str:
    return singular if n == 1 else plural


def _containers(spec: Obj) -> Iterator[Obj]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for c in spec.get(key) or []:
            if isinstance(c, dict):
                yield c


def _sc(obj: Obj) -> Obj:
    sc = obj.get("securityContext")
    return sc if isinstance(sc, dict) else {}


def _windows(spec: Obj) -> bool:
    return ((spec.get("os") or {}).get("name")) == "windows"


def _named(kind: str, names: list[str]) -> str:
    return f"{_plural(kind, kind + 's', len(names))} {_join_quote(names)}"


def _setters(pod_bad: bool, containers: list[str]) -> list[str]:
    out = ["pod"] if pod_bad else []
    if containers:
        out.append(_named("container", containers))
    return out


def _go_quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


# ---- baseline ---------------------------------------------------------------------------


def app_armor_profile(meta: Obj, spec: Obj, minor: int) -> Result:
    ok_types = ("RuntimeDefault", "Localhost")
    bad_setters: list[str] = []
    bad_values: set[str] = set()
    pod_profile = _sc(spec).get("appArmorProfile")
    if isinstance(pod_profile, dict) and pod_profile.get("type") not in ok_types:
        bad_setters.append("pod")
        bad_values.add(str(pod_profile.get("type") or ""))
    bad_containers = []
    for c in _containers(spec):
        profile = _sc(c).get("appArmorProfile")
        if isinstance(profile, dict) and profile.get("type") not in ok_types:
            bad_containers.append(c.get("name", ""))
            bad_values.add(str(profile.get("type") or ""))
    if bad_containers:
        bad_setters.append(_named("container", bad_containers))
    forbidden = []
    for k, v in (meta.get("annotations") or {}).items():
        if k.startswith("container.apparmor.security.beta.kubernetes.io/") and not (
            not v or v == "runtime/default" or str(v).startswith("localhost/")
        ):
            forbidden.append(f"{k}={_go_quote(str(v))}")
    values = sorted(bad_values)
    if forbidden:
        values += sorted(forbidden)
        bad_setters.append(_plural("annotation", "annotations", len(forbidden)))
    if not bad_setters:
        return None
    reason = _plural("forbidden AppArmor profile", "forbidden AppArmor profiles", len(values))
    return reason, (
        f"{' and '.join(bad_setters)} must not set AppArmor profile type to {_join_quote(values)}"
    )


_CAPS_BASELINE = frozenset(
    [
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    ]
)


def capabilities_baseline(meta: Obj, spec: Obj, minor: int) -> Result:
    bad, caps = [], set()
    for c in _containers(spec):
        added = (_sc(c).get("capabilities") or {}).get("add") or []
        extra = [str(a) for a in added if a not in _CAPS_BASELINE]
        if extra:
            bad.append(c.get("name", ""))
            caps.update(extra)
    if not bad:
        return None
    return "non-default capabilities", (
        f"{_named('container', bad)} must not include {_join_quote(sorted(caps))} in "
        "securityContext.capabilities.add"
    )


def host_namespaces(meta: Obj, spec: Obj, minor: int) -> Result:
    found = [f"{k}=true" for k in ("hostNetwork", "hostPID", "hostIPC") if spec.get(k) is True]
    return ("host namespaces", ", ".join(found)) if found else None


def host_path_volumes(meta: Obj, spec: Obj, minor: int) -> Result:
    vols = [str(v.get("name", "")) for v in spec.get("volumes") or [] if v.get("hostPath")]
    return ("hostPath volumes", _named("volume", vols)) if vols else None


def host_ports(meta: Obj, spec: Obj, minor: int) -> Result:
    bad: list[str] = []
    ports: set[str] = set()
    for c in _containers(spec):
        used = [int(p["hostPort"]) for p in c.get("ports") or [] if p.get("hostPort")]
        if used:
            bad.append(c.get("name", ""))
            ports.update(str(p) for p in used)
    if not bad:
        return None
    listed = sorted(ports)  # Go's sets.String sorts as strings
    return "hostPort", (
        f"{_named('container', bad)} {_plural('uses', 'use', len(bad))} "
        f"{_plural('hostPort', 'hostPorts', len(listed))} {', '.join(listed)}"
    )


def privileged(meta: Obj, spec: Obj, minor: int) -> Result:
    bad = [c.get("name", "") for c in _containers(spec) if _sc(c).get("privileged") is True]
    if not bad:
        return None
    return "privileged", f"{_named('container', bad)} must not set securityContext.privileged=true"


def proc_mount(meta: Obj, spec: Obj, minor: int) -> Result:
    bad, kinds = [], set()
    for c in _containers(spec):
        mount = _sc(c).get("procMount")
        if mount is not None and mount != "Default":
            bad.append(c.get("name", ""))
            kinds.add(str(mount))
    if not bad:
        return None
    return "procMount", (
        f"{_named('container', bad)} must not set securityContext.procMount to "
        f"{_join_quote(sorted(kinds))}"
    )


def se_linux_options(meta: Obj, spec: Obj, minor: int) -> Result:
    allowed = {"", "container_t", "container_init_t", "container_kvm_t"}
    if minor >= 31:
        allowed.add("container_engine_t")
    bad_types: set[str] = set()
    flags = {"user": False, "role": False}

    def valid(opts: Obj) -> bool:
        ok = True
        if str(opts.get("type") or "") not in allowed:
            ok = False
            bad_types.add(str(opts.get("type") or ""))
        for key in ("user", "role"):
            if opts.get(key):
                ok, flags[key] = False, True
        return ok

    pod_opts = _sc(spec).get("seLinuxOptions")
    pod_bad = isinstance(pod_opts, dict) and not valid(pod_opts)
    bad = []
    for c in _containers(spec):
        opts = _sc(c).get("seLinuxOptions")
        if isinstance(opts, dict) and not valid(opts):
            bad.append(c.get("name", ""))
    setters = _setters(pod_bad, bad)
    if not setters:
        return None
    data = []
    if bad_types:
        types = sorted(bad_types)
        data.append(f"{_plural('type', 'types', len(types))} {_join_quote(types)}")
    if flags["user"]:
        data.append("user may not be set")
    if flags["role"]:
        data.append("role may not be set")
    return "seLinuxOptions", (
        f"{' and '.join(setters)} set forbidden securityContext.seLinuxOptions: {'; '.join(data)}"
    )


_SECCOMP_OK = ("RuntimeDefault", "Localhost")
_SECCOMP_POD = "seccomp.security.alpha.kubernetes.io/pod"
_SECCOMP_CONTAINER = "container.seccomp.security.alpha.kubernetes.io/"


def seccomp_baseline(meta: Obj, spec: Obj, minor: int) -> Result:
    if minor < 19:
        annotations = meta.get("annotations") or {}
        forbidden = set()
        keys = [_SECCOMP_POD] + [_SECCOMP_CONTAINER + c.get("name", "") for c in _containers(spec)]
        for key in keys:
            value = annotations.get(key)
            if value is not None and not (
                value in ("runtime/default", "docker/default") or value.startswith("localhost/")
            ):
                forbidden.add(f"{key}={_go_quote(value)}")
        if not forbidden:
            return None
        return "seccompProfile", (
            f"forbidden {_plural('annotation', 'annotations', len(forbidden))} "
            f"{', '.join(sorted(forbidden))}"
        )
    return _seccomp(spec, require=False)


def _seccomp(spec: Obj, *, require: bool) -> Result:
    values: set[str] = set()
    pod_profile = _sc(spec).get("seccompProfile")
    pod_bad = isinstance(pod_profile, dict) and pod_profile.get("type") not in _SECCOMP_OK
    if pod_bad:
        values.add(str(pod_profile.get("type") or ""))  # type: ignore[union-attr]
    pod_set = isinstance(pod_profile, dict) and not pod_bad
    bad, implicit = [], []
    for c in _containers(spec):
        profile = _sc(c).get("seccompProfile")
        if isinstance(profile, dict):
            if profile.get("type") not in _SECCOMP_OK:
                bad.append(c.get("name", ""))
                values.add(str(profile.get("type") or ""))
        elif not pod_set:
            implicit.append(c.get("name", ""))
    setters = _setters(pod_bad, bad)
    if setters:
        return "seccompProfile", (
            f"{' and '.join(setters)} must not set securityContext.seccompProfile.type to "
            f"{_join_quote(sorted(values))}"
        )
    if require and implicit:
        return "seccompProfile", (
            f"pod or {_named('container', implicit)} must set "
            'securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"'
        )
    return None


def sysctls(meta: Obj, spec: Obj, minor: int) -> Result:
    allowed = safe_sysctls(minor)
    bad = [
        str(s.get("name")) for s in _sc(spec).get("sysctls") or [] if s.get("name") not in allowed
    ]
    return ("forbidden sysctls", ", ".join(bad)) if bad else None


def windows_host_process(meta: Obj, spec: Obj, minor: int) -> Result:
    def host(obj: Obj) -> bool:
        return (_sc(obj).get("windowsOptions") or {}).get("hostProcess") is True

    bad = [c.get("name", "") for c in _containers(spec) if host(c)]
    setters = _setters(host(spec), bad)
    if not setters:
        return None
    return "hostProcess", (
        f"{' and '.join(setters)} must not set securityContext.windowsOptions.hostProcess=true"
    )


# ---- restricted -------------------------------------------------------------------------


def allow_privilege_escalation(meta: Obj, spec: Obj, minor: int) -> Result:
    if minor >= 25 and _windows(spec):
        return None
    bad = [
        c.get("name", "")
        for c in _containers(spec)
        if _sc(c).get("allowPrivilegeEscalation") is not False
    ]
    if not bad:
        return None
    return "allowPrivilegeEscalation != false", (
        f"{_named('container', bad)} must set securityContext.allowPrivilegeEscalation=false"
    )


def capabilities_restricted(meta: Obj, spec: Obj, minor: int) -> Result:
    if minor >= 25 and _windows(spec):
        return None
    missing_drop, adding, caps = [], [], set()
    for c in _containers(spec):
        capabilities = _sc(c).get("capabilities")
        if not isinstance(capabilities, dict):
            missing_drop.append(c.get("name", ""))
            continue
        if "ALL" not in (capabilities.get("drop") or []):
            missing_drop.append(c.get("name", ""))
        extra = [str(a) for a in capabilities.get("add") or [] if a != "NET_BIND_SERVICE"]
        if extra:
            adding.append(c.get("name", ""))
            caps.update(extra)
    details = []
    if missing_drop:
        details.append(
            f'{_named("container", missing_drop)} must set securityContext.capabilities.drop=["ALL"]'
        )
    if adding:
        details.append(
            f"{_named('container', adding)} must not include {_join_quote(sorted(caps))} in "
            "securityContext.capabilities.add"
        )
    return ("unrestricted capabilities", "; ".join(details)) if details else None


_OK_VOLUMES = (
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    # not "image": 1.33 allowed image volumes (kubernetes#130394); 1.32 calls them "unknown"
    "persistentVolumeClaim",
    "projected",
    "secret",
)
_BAD_VOLUMES = (
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "fc",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
)


def restricted_volumes(meta: Obj, spec: Obj, minor: int) -> Result:
    bad, kinds = [], set()
    for v in spec.get("volumes") or []:
        if any(v.get(k) is not None for k in _OK_VOLUMES):
            continue
        bad.append(str(v.get("name", "")))
        kinds.add(next((k for k in _BAD_VOLUMES if v.get(k) is not None), "unknown"))
    if not bad:
        return None
    types = sorted(kinds)
    return "restricted volume types", (
        f"{_named('volume', bad)} {_plural('uses', 'use', len(bad))} "
        f"{_plural('restricted volume type', 'restricted volume types', len(types))} "
        f"{_join_quote(types)}"
    )


def run_as_non_root(meta: Obj, spec: Obj, minor: int) -> Result:
    pod_value = _sc(spec).get("runAsNonRoot")
    pod_bad, pod_ok = pod_value is False, pod_value is True
    explicit, implicit = [], []
    for c in _containers(spec):
        value = _sc(c).get("runAsNonRoot")
        if value is not None:
            if value is False:
                explicit.append(c.get("name", ""))
        elif not pod_ok:
            implicit.append(c.get("name", ""))
    setters = _setters(pod_bad, explicit)
    if setters:
        return "runAsNonRoot != true", (
            f"{' and '.join(setters)} must not set securityContext.runAsNonRoot=false"
        )
    if implicit:
        return "runAsNonRoot != true", (
            f"pod or {_named('container', implicit)} must set securityContext.runAsNonRoot=true"
        )
    return None


def run_as_user(meta: Obj, spec: Obj, minor: int) -> Result:
    bad = [c.get("name", "") for c in _containers(spec) if _sc(c).get("runAsUser") == 0]
    setters = _setters(_sc(spec).get("runAsUser") == 0, bad)
    if not setters:
        return None
    return "runAsUser=0", f"{' and '.join(setters)} must not set runAsUser=0"


def seccomp_restricted(meta: Obj, spec: Obj, minor: int) -> Result:
    if minor >= 25 and _windows(spec):
        return None
    return _seccomp(spec, require=True)


# ---- the registry -----------------------------------------------------------------------

Check = Callable[[Obj, Obj, int], Result]


@dataclass(frozen=True)
class _Entry:
    id: str
    level: str
    since: int  # the minor release that introduced the check
    check: Check
    overrides: str = ""  # the baseline check it replaces at restricted


_CHECKS = (
    _Entry("allowPrivilegeEscalation", RESTRICTED, 8, allow_privilege_escalation),
    _Entry("appArmorProfile", BASELINE, 0, app_armor_profile),
    _Entry("capabilities_baseline", BASELINE, 0, capabilities_baseline),
    _Entry(
        "capabilities_restricted", RESTRICTED, 22, capabilities_restricted, "capabilities_baseline"
    ),  # fmt: skip
    _Entry("hostNamespaces", BASELINE, 0, host_namespaces),
    _Entry("hostPathVolumes", BASELINE, 0, host_path_volumes),
    _Entry("hostPorts", BASELINE, 0, host_ports),
    _Entry("privileged", BASELINE, 0, privileged),
    _Entry("procMount", BASELINE, 0, proc_mount),
    _Entry("restrictedVolumes", RESTRICTED, 0, restricted_volumes, "hostPathVolumes"),
    _Entry("runAsNonRoot", RESTRICTED, 0, run_as_non_root),
    _Entry("runAsUser", RESTRICTED, 23, run_as_user),
    _Entry("seLinuxOptions", BASELINE, 0, se_linux_options),
    _Entry("seccompProfile_baseline", BASELINE, 0, seccomp_baseline),
    _Entry(
        "seccompProfile_restricted", RESTRICTED, 19, seccomp_restricted, "seccompProfile_baseline"
    ),  # fmt: skip
    _Entry("sysctls", BASELINE, 0, sysctls),
    _Entry("windowsHostProcess", BASELINE, 0, windows_host_process),
)
# Upstream's order: baseline checks by ID, then restricted ones by ID (byte order).
_ORDERED = sorted(_CHECKS, key=lambda e: (e.level == RESTRICTED, e.id.encode()))


def checks_for(lv: LevelVersion) -> list[_Entry]:
    minor = lv.effective_minor
    if lv.level == PRIVILEGED:
        return []
    if lv.level == BASELINE:
        return [e for e in _ORDERED if e.level == BASELINE and minor >= e.since]
    active = [e for e in _ORDERED if minor >= e.since]
    replaced = {e.overrides for e in active if e.level == RESTRICTED and e.overrides}
    return [e for e in active if e.id not in replaced]


def evaluate(lv: LevelVersion, meta: Obj, spec: Obj) -> list[tuple[str, str]]:
    """The failed checks' (reason, detail), in upstream's order."""
    minor = lv.effective_minor
    out = []
    for entry in checks_for(lv):
        result = entry.check(meta, spec, minor)
        if result is not None:
            out.append(result)
    return out


def forbidden_detail(failures: list[tuple[str, str]]) -> str:
    """AggregateCheckResult.ForbiddenDetail: `reason (detail), reason (detail)`."""
    return ", ".join(f"{r} ({d})" if d else r for r, d in failures)


def forbidden_reason(failures: list[tuple[str, str]]) -> str:
    return ", ".join(r for r, _ in failures)
