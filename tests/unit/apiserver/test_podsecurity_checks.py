"""Each Pod Security check alone: what it allows, and what it refuses in upstream's
words (the reason and detail strings of k8s.io/pod-security-admission 1.32)."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.apiserver.podsecurity import policy

Obj = dict[str, Any]
APPARMOR = "container.apparmor.security.beta.kubernetes.io/c"


def pod(*, meta: Obj | None = None, **spec: Any) -> tuple[Obj, Obj]:
    """(metadata, spec) with one container "c"; `c` sets its securityContext."""
    sc = spec.pop("c", None)
    c: Obj = {"name": "c", "image": "app:1", **spec.pop("container", {})}
    if sc is not None:
        c["securityContext"] = sc
    return meta or {}, {"containers": [c], **spec}


# (id, check, pod, expected (reason, detail) or None when allowed)
CASES = [
    (
        "apparmor-ok",
        policy.app_armor_profile,
        pod(c={"appArmorProfile": {"type": "Localhost"}}),
        None,
    ),
    (
        "apparmor-field",
        policy.app_armor_profile,
        pod(c={"appArmorProfile": {"type": "Unconfined"}}),
        (
            "forbidden AppArmor profile",
            'container "c" must not set AppArmor profile type to "Unconfined"',
        ),
    ),
    (
        "apparmor-annotation-ok",
        policy.app_armor_profile,
        pod(meta={"annotations": {APPARMOR: "runtime/default"}}),
        None,
    ),
    (
        "apparmor-annotation",
        policy.app_armor_profile,
        pod(meta={"annotations": {APPARMOR: "unconfined"}}),
        (
            "forbidden AppArmor profile",
            # joinQuote quotes the already %q-quoted annotation again
            f'annotation must not set AppArmor profile type to "{APPARMOR}="unconfined""',
        ),
    ),
    (
        "caps-baseline-ok",
        policy.capabilities_baseline,
        pod(c={"capabilities": {"add": ["CHOWN"]}}),
        None,
    ),
    (
        "caps-baseline",
        policy.capabilities_baseline,
        pod(c={"capabilities": {"add": ["SYS_ADMIN", "CHOWN", "NET_RAW"]}}),
        (
            "non-default capabilities",
            'container "c" must not include "NET_RAW", "SYS_ADMIN" in securityContext.capabilities.add',
        ),
    ),
    ("hostns-ok", policy.host_namespaces, pod(hostNetwork=False), None),
    (
        "hostns",
        policy.host_namespaces,
        pod(hostIPC=True, hostNetwork=True),
        ("host namespaces", "hostNetwork=true, hostIPC=true"),
    ),
    ("hostpath-ok", policy.host_path_volumes, pod(volumes=[{"name": "e", "emptyDir": {}}]), None),
    (
        "hostpath",
        policy.host_path_volumes,
        pod(
            volumes=[
                {"name": "a", "hostPath": {"path": "/"}},
                {"name": "b", "hostPath": {"path": "/x"}},
            ]
        ),
        ("hostPath volumes", 'volumes "a", "b"'),
    ),
    ("hostport-ok", policy.host_ports, pod(container={"ports": [{"containerPort": 80}]}), None),
    (
        "hostport",
        policy.host_ports,
        pod(container={"ports": [{"containerPort": 80, "hostPort": 80}]}),
        ("hostPort", 'container "c" uses hostPort 80'),
    ),
    ("privileged-ok", policy.privileged, pod(c={"privileged": False}), None),
    (
        "privileged",
        policy.privileged,
        pod(c={"privileged": True}),
        ("privileged", 'container "c" must not set securityContext.privileged=true'),
    ),
    ("procmount-ok", policy.proc_mount, pod(c={"procMount": "Default"}), None),
    (
        "procmount",
        policy.proc_mount,
        pod(c={"procMount": "Unmasked"}),
        ("procMount", 'container "c" must not set securityContext.procMount to "Unmasked"'),
    ),
    (
        "selinux-ok",
        policy.se_linux_options,
        pod(c={"seLinuxOptions": {"type": "container_engine_t", "level": "s0"}}),
        None,
    ),
    (
        "selinux",
        policy.se_linux_options,
        pod(
            securityContext={"seLinuxOptions": {"type": "spc_t"}},
            c={"seLinuxOptions": {"user": "u"}},
        ),
        (
            "seLinuxOptions",
            'pod and container "c" set forbidden securityContext.seLinuxOptions: '
            'type "spc_t"; user may not be set',
        ),
    ),
    ("seccomp-baseline-ok", policy.seccomp_baseline, pod(), None),
    (
        "seccomp-baseline",
        policy.seccomp_baseline,
        pod(c={"seccompProfile": {"type": "Unconfined"}}),
        (
            "seccompProfile",
            'container "c" must not set securityContext.seccompProfile.type to "Unconfined"',
        ),
    ),
    (
        "sysctls-ok",
        policy.sysctls,
        pod(securityContext={"sysctls": [{"name": "net.ipv4.tcp_syncookies", "value": "1"}]}),
        None,
    ),
    (
        "sysctls",
        policy.sysctls,
        pod(
            securityContext={
                "sysctls": [{"name": "kernel.msgmax", "value": "1"}, {"name": "a.b", "value": "1"}]
            }
        ),
        ("forbidden sysctls", "kernel.msgmax, a.b"),  # in the pod's order, not sorted
    ),
    (
        "hostprocess-ok",
        policy.windows_host_process,
        pod(c={"windowsOptions": {"hostProcess": False}}),
        None,
    ),
    (
        "hostprocess",
        policy.windows_host_process,
        pod(securityContext={"windowsOptions": {"hostProcess": True}}),
        ("hostProcess", "pod must not set securityContext.windowsOptions.hostProcess=true"),
    ),
    ("ape-ok", policy.allow_privilege_escalation, pod(c={"allowPrivilegeEscalation": False}), None),
    ("ape-windows", policy.allow_privilege_escalation, pod(os={"name": "windows"}), None),
    (
        "ape",
        policy.allow_privilege_escalation,
        pod(),
        (
            "allowPrivilegeEscalation != false",
            'container "c" must set securityContext.allowPrivilegeEscalation=false',
        ),
    ),
    (
        "caps-restricted-ok",
        policy.capabilities_restricted,
        pod(c={"capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}),
        None,
    ),
    (
        "caps-restricted-drop",
        policy.capabilities_restricted,
        pod(),
        (
            "unrestricted capabilities",
            'container "c" must set securityContext.capabilities.drop=["ALL"]',
        ),
    ),
    (
        "caps-restricted-add",
        policy.capabilities_restricted,
        pod(c={"capabilities": {"drop": ["ALL"], "add": ["SYS_ADMIN"]}}),
        (
            "unrestricted capabilities",
            'container "c" must not include "SYS_ADMIN" in securityContext.capabilities.add',
        ),
    ),
    (
        "volumes-ok",
        policy.restricted_volumes,
        pod(volumes=[{"name": "s", "secret": {"secretName": "s"}}]),
        None,
    ),
    (
        "volumes",
        policy.restricted_volumes,
        pod(volumes=[{"name": "n", "nfs": {"server": "x", "path": "/"}}]),
        ("restricted volume types", 'volume "n" uses restricted volume type "nfs"'),
    ),
    (
        "volumes-image-1.32",  # image volumes were allowed only from 1.33 (kubernetes#130394)
        policy.restricted_volumes,
        pod(volumes=[{"name": "i", "image": {"reference": "x:1"}}]),
        ("restricted volume types", 'volume "i" uses restricted volume type "unknown"'),
    ),
    ("nonroot-ok", policy.run_as_non_root, pod(securityContext={"runAsNonRoot": True}), None),
    (
        "nonroot-implicit",
        policy.run_as_non_root,
        pod(),
        ("runAsNonRoot != true", 'pod or container "c" must set securityContext.runAsNonRoot=true'),
    ),
    ("runasuser-ok", policy.run_as_user, pod(c={"runAsUser": 1000}), None),
    (
        "runasuser",
        policy.run_as_user,
        pod(c={"runAsUser": 0}),
        ("runAsUser=0", 'container "c" must not set runAsUser=0'),
    ),
    (
        "seccomp-restricted-ok",
        policy.seccomp_restricted,
        pod(securityContext={"seccompProfile": {"type": "RuntimeDefault"}}),
        None,
    ),
    (
        "seccomp-restricted-implicit",
        policy.seccomp_restricted,
        pod(),
        (
            "seccompProfile",
            'pod or container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"',
        ),
    ),
]


@pytest.mark.parametrize(
    ("check", "case", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_check(check: Any, case: tuple[Obj, Obj], expected: tuple[str, str] | None) -> None:
    meta, spec = case
    assert check(meta, spec, policy.SERVER_MINOR) == expected


def test_selinux_container_engine_t_is_allowed_from_131() -> None:
    meta, spec = pod(c={"seLinuxOptions": {"type": "container_engine_t"}})
    assert policy.se_linux_options(meta, spec, 31) is None
    assert policy.se_linux_options(meta, spec, 30) == (
        "seLinuxOptions",
        'container "c" set forbidden securityContext.seLinuxOptions: type "container_engine_t"',
    )


def test_seccomp_baseline_before_119_reads_the_annotations() -> None:
    meta = {"annotations": {"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}}
    _, spec = pod()
    assert policy.seccomp_baseline(meta, spec, 18) == (
        "seccompProfile",
        'forbidden annotation seccomp.security.alpha.kubernetes.io/pod="unconfined"',
    )


def test_checks_after_132_do_not_apply() -> None:
    """1.34's host probes check is not registered: a probe with a host passes."""
    probe = {"httpGet": {"host": "10.0.0.1", "port": 80}}
    meta, spec = pod(container={"livenessProbe": probe})
    assert policy.evaluate(policy.LevelVersion(policy.BASELINE), meta, spec) == []
    ids = {e.id for e in policy.checks_for(policy.LevelVersion(policy.RESTRICTED))}
    assert "hostProbesAndhostLifecycle" not in ids and "procMount_restricted" not in ids


# Rules later releases relaxed; a 1.32 server still refuses them, at "latest" and at any
# newer pin (a version newer than the server's evaluates as latest).
LATER_RELAXATIONS = [
    (  # 1.35: a pod in a user namespace may run as root (behind a gate, off, in 1.32)
        "hostUsers-false-runAsUser-0",
        policy.RESTRICTED,
        pod(hostUsers=False, c={"runAsUser": 0}),
        ("runAsUser=0", 'container "c" must not set runAsUser=0'),
    ),
    (  # 1.35: ... and unmask /proc
        "hostUsers-false-procMount-Unmasked",
        policy.BASELINE,
        pod(hostUsers=False, c={"procMount": "Unmasked"}),
        ("procMount", 'container "c" must not set securityContext.procMount to "Unmasked"'),
    ),
    (  # 1.37: two more safe sysctls
        "sysctl-tcp_slow_start_after_idle",
        policy.BASELINE,
        pod(securityContext={"sysctls": [{"name": "net.ipv4.tcp_slow_start_after_idle"}]}),
        ("forbidden sysctls", "net.ipv4.tcp_slow_start_after_idle"),
    ),
]


@pytest.mark.parametrize("minor", [None, 35, 40], ids=["latest", "v1.35", "v1.40"])
@pytest.mark.parametrize(
    ("level", "case", "expected"),
    [c[1:] for c in LATER_RELAXATIONS],
    ids=[c[0] for c in LATER_RELAXATIONS],
)
def test_later_relaxations_do_not_apply(
    minor: int | None, level: str, case: tuple[Obj, Obj], expected: tuple[str, str]
) -> None:
    meta, spec = case
    assert expected in policy.evaluate(policy.LevelVersion(level, minor), meta, spec)
