"""The Pod Security Standards' checks, with upstream's reasons and details."""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.apiserver.podsecurity.policy import (
    BASELINE,
    RESTRICTED,
    LevelVersion,
    evaluate,
    forbidden_detail,
    parse_level,
    parse_version,
)

Obj = dict[str, Any]

RESTRICTED_OK: Obj = {
    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": [
        {
            "name": "c",
            "image": "app:1",
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
            },
        }
    ],
}


def spec(**pod: Any) -> Obj:
    return {"containers": [{"name": "c", "image": "app:1"}], **pod}


def container(name: str, **sc: Any) -> Obj:
    return {"name": name, "image": "app:1", "securityContext": sc}


def test_a_compliant_pod_passes_both_standards() -> None:
    assert evaluate(LevelVersion(RESTRICTED), {}, RESTRICTED_OK) == []
    assert evaluate(LevelVersion(BASELINE), {}, RESTRICTED_OK) == []


def test_baseline_checks_in_upstreams_order_and_words() -> None:
    pod = {
        "hostNetwork": True,
        "hostPID": True,
        "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
        "securityContext": {"sysctls": [{"name": "kernel.msgmax", "value": "1"}]},
        "containers": [
            {
                **container("a", privileged=True, capabilities={"add": ["SYS_ADMIN", "NET_RAW"]}),
                "ports": [
                    {"containerPort": 80, "hostPort": 8080},
                    {"containerPort": 9, "hostPort": 443},
                ],
            },
            container("b", privileged=True, procMount="Unmasked"),
        ],
    }
    assert forbidden_detail(evaluate(LevelVersion(BASELINE), {}, pod)) == (
        'non-default capabilities (container "a" must not include "NET_RAW", "SYS_ADMIN" in '
        "securityContext.capabilities.add), host namespaces (hostNetwork=true, hostPID=true), "
        'hostPath volumes (volume "h"), hostPort (container "a" uses hostPorts 443, 8080), '
        'privileged (containers "a", "b" must not set securityContext.privileged=true), '
        'procMount (container "b" must not set securityContext.procMount to "Unmasked"), '
        "forbidden sysctls (kernel.msgmax)"
    )


def test_restricted_replaces_the_baseline_checks_it_tightens() -> None:
    pod = spec(volumes=[{"name": "h", "hostPath": {"path": "/"}}])
    reasons = [r for r, _ in evaluate(LevelVersion(RESTRICTED), {}, pod)]
    assert reasons == [
        "allowPrivilegeEscalation != false",
        "unrestricted capabilities",
        "restricted volume types",
        "runAsNonRoot != true",
        "seccompProfile",
    ]
    assert "hostPath volumes" not in reasons


@pytest.mark.parametrize(
    ("pod", "detail"),
    [
        (
            {
                "securityContext": {"runAsNonRoot": False},
                "containers": [container("c", runAsNonRoot=False)],
            },
            'runAsNonRoot != true (pod and container "c" must not set securityContext.runAsNonRoot=false)',
        ),
        (
            {
                **RESTRICTED_OK,
                "securityContext": {**RESTRICTED_OK["securityContext"], "runAsUser": 0},
            },
            "runAsUser=0 (pod must not set runAsUser=0)",
        ),
        (
            {
                **RESTRICTED_OK,
                "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "Unconfined"}},
            },
            'seccompProfile (pod must not set securityContext.seccompProfile.type to "Unconfined")',
        ),
    ],
)
def test_restricted_details(pod: Obj, detail: str) -> None:
    failures = evaluate(LevelVersion(RESTRICTED), {}, pod)
    assert detail in forbidden_detail(failures)


def test_a_pinned_version_skips_checks_introduced_later() -> None:
    root = {
        **RESTRICTED_OK,
        "securityContext": {**RESTRICTED_OK["securityContext"], "runAsUser": 0},
    }
    assert evaluate(LevelVersion(RESTRICTED, 22), {}, root) == []  # runAsUser came in 1.23
    assert evaluate(LevelVersion(RESTRICTED, 99), {}, root) != []  # newer than the server: latest
    tcp = spec(securityContext={"sysctls": [{"name": "net.ipv4.tcp_rmem", "value": "1"}]})
    assert evaluate(LevelVersion(BASELINE), {}, tcp) == []  # allowed from 1.32
    assert evaluate(LevelVersion(BASELINE, 31), {}, tcp) == [
        ("forbidden sysctls", "net.ipv4.tcp_rmem")
    ]


def test_levels_and_versions_parse_as_upstream() -> None:
    assert parse_level("baseline") == ("baseline", None)
    assert parse_level("foo") == ("restricted", "must be one of privileged, baseline, restricted")
    assert parse_version("v1.24") == (24, None)
    assert parse_version("latest") == (None, None)
    assert parse_version("1.24") == (None, 'must be "latest" or "v1.x"')
    assert str(LevelVersion(RESTRICTED, 24)) == "restricted:v1.24"


def test_one_pod_per_controller_is_checked_first() -> None:
    from kubelite.apiserver.podsecurity.plugin import _prioritized

    def owned(name: str, uid: str | None) -> Obj:
        refs = [{"uid": uid, "controller": True}] if uid else []
        return {"metadata": {"name": name, "ownerReferences": refs}}

    pods = [owned("a1", "A"), owned("a2", "A"), owned("b1", "B"), owned("solo", None)]
    # a2 repeats controller A, so it goes after every first-of-its-controller pod
    assert [p["metadata"]["name"] for p in _prioritized(pods)] == ["a1", "b1", "solo", "a2"]


@pytest.mark.parametrize(
    ("labels", "enforce", "warn", "audit", "bad"),
    [
        ({}, "privileged:latest", "privileged:latest", "privileged:latest", []),
        # warn follows a stricter enforce level, and its version unless warn-version is set
        (
            {"enforce": "baseline", "enforce-version": "v1.24"},
            "baseline:v1.24",
            "baseline:v1.24",
            "privileged:latest",
            [],
        ),
        (
            {"enforce": "restricted", "warn-version": "v1.30"},
            "restricted:latest",
            "restricted:v1.30",
            "privileged:latest",
            [],
        ),
        (
            {"enforce": "restricted", "warn": "baseline"},
            "restricted:latest",
            "baseline:latest",
            "privileged:latest",
            [],
        ),
        # a bad enforce level fails closed (restricted) and warn is not defaulted from it;
        # bad audit and warn levels fail open (privileged)
        (
            {"enforce": "foo"},
            "restricted:latest",
            "privileged:latest",
            "privileged:latest",
            ["enforce"],
        ),
        (
            {"audit": "foo", "warn": "bar"},
            "privileged:latest",
            "privileged:latest",
            "privileged:latest",
            ["audit", "warn"],
        ),
        (
            {"enforce": "baseline", "enforce-version": "1.2"},
            "baseline:latest",
            "baseline:latest",
            "privileged:latest",
            ["enforce-version"],
        ),
    ],
)
def test_policy_to_evaluate(
    labels: dict[str, str], enforce: str, warn: str, audit: str, bad: list[str]
) -> None:
    from kubelite.apiserver.podsecurity.plugin import policy_of

    policy, errs = policy_of({f"pod-security.kubernetes.io/{k}": v for k, v in labels.items()})
    assert (str(policy.enforce), str(policy.warn), str(policy.audit)) == (enforce, warn, audit)
    assert [e.field for e in errs] == [
        f"metadata.labels[pod-security.kubernetes.io/{b}]" for b in bad
    ]
