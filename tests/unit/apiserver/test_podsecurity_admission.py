"""Pod Security admission through the API: enforce refuses, warn warns, templates
warn, and a stricter namespace label warns about the pods already there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.unit.apiserver.inprocess_api import api_app, call

from kubelite.apiserver.http import ApiApp

NS = "/api/v1/namespaces"
MERGE = "application/merge-patch+json"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[ApiApp]:
    with api_app(tmp_path) as a:
        yield a


def namespace(app: ApiApp, name: str, **labels: str) -> None:
    body = {
        "metadata": {
            "name": name,
            "labels": {f"pod-security.kubernetes.io/{k}": v for k, v in labels.items()},
        }
    }
    r = call(app, "POST", NS, body)
    assert r.status_code == 201, r.text


def pod(name: str, **container_sc: Any) -> dict[str, Any]:
    c: dict[str, Any] = {"name": "c", "image": "app:1"}
    if container_sc:
        c["securityContext"] = container_sc
    return {"metadata": {"name": name}, "spec": {"containers": [c]}}


def warnings(r: Any) -> list[str]:
    return [
        w.split('"', 1)[1].rsplit('"', 1)[0].replace('\\"', '"')
        for w in r.headers.get_list("warning")
    ]


def test_enforce_refuses_a_violating_pod_with_upstreams_message(app: ApiApp) -> None:
    namespace(app, "base", enforce="baseline")
    r = call(app, "POST", f"{NS}/base/pods", pod("p", privileged=True))
    assert r.status_code == 403
    assert r.json()["message"] == (
        'pods "p" is forbidden: violates PodSecurity "baseline:latest": '
        'privileged (container "c" must not set securityContext.privileged=true)'
    )
    assert call(app, "GET", f"{NS}/base/pods/p").status_code == 404
    assert call(app, "POST", f"{NS}/base/pods", pod("q")).status_code == 201


def test_warn_admits_with_a_warning_and_templates_are_warned_about(app: ApiApp) -> None:
    namespace(app, "w", warn="baseline")
    r = call(app, "POST", f"{NS}/w/pods", pod("p", privileged=True))
    assert r.status_code == 201
    detail = 'privileged (container "c" must not set securityContext.privileged=true)'
    assert warnings(r) == [f'would violate PodSecurity "baseline:latest": {detail}']
    deploy = {
        "metadata": {"name": "d"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": pod("x", privileged=True)["spec"],
            },
        },
    }
    r = call(app, "POST", "/apis/apps/v1/namespaces/w/deployments", deploy)
    assert r.status_code == 201
    assert warnings(r) == [f'would violate PodSecurity "baseline:latest": {detail}']


def test_a_workload_is_never_refused_only_its_pods(app: ApiApp) -> None:
    namespace(app, "r", enforce="restricted")
    deploy = {
        "metadata": {"name": "d"},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": pod("x")["spec"]},
        },
    }
    r = call(app, "POST", "/apis/apps/v1/namespaces/r/deployments", deploy)
    assert r.status_code == 201  # warn follows enforce when not set
    assert warnings(r)[0].startswith('would violate PodSecurity "restricted:latest": ')


def test_a_stricter_label_warns_about_existing_pods(app: ApiApp) -> None:
    namespace(app, "n")
    for name in ("a", "b"):
        assert call(app, "POST", f"{NS}/n/pods", pod(name, privileged=True)).status_code == 201
    assert call(app, "POST", f"{NS}/n/pods", pod("c")).status_code == 201
    patch = {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "baseline"}}}
    r = call(app, "PATCH", f"{NS}/n?dryRun=All", patch, content_type=MERGE)
    assert r.status_code == 200, r.text
    assert warnings(r) == [
        'existing pods in namespace "n" violate the new PodSecurity enforce level "baseline:latest"',
        "a (and 1 other pod): privileged",
    ]


def test_a_bad_label_value_is_refused_on_the_namespace(app: ApiApp) -> None:
    r = call(
        app,
        "POST",
        NS,
        {"metadata": {"name": "bad", "labels": {"pod-security.kubernetes.io/enforce": "foo"}}},
    )
    assert r.status_code == 422
    assert r.json()["message"] == (
        'Namespace "bad" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: '
        'Invalid value: "foo": must be one of privileged, baseline, restricted'
    )


def test_updates_that_change_no_image_are_not_evaluated_again(app: ApiApp) -> None:
    namespace(app, "n")
    assert call(app, "POST", f"{NS}/n/pods", pod("a", privileged=True)).status_code == 201
    patch = {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "baseline"}}}
    assert call(app, "PATCH", f"{NS}/n", patch, content_type=MERGE).status_code == 200
    r = call(
        app, "PATCH", f"{NS}/n/pods/a", {"metadata": {"labels": {"x": "y"}}}, content_type=MERGE
    )
    assert r.status_code == 200, r.text
    image = {"spec": {"containers": [{"name": "c", "image": "app:2"}]}}
    r = call(
        app, "PATCH", f"{NS}/n/pods/a", image, content_type="application/strategic-merge-patch+json"
    )
    assert r.status_code == 403


def test_an_ephemeral_container_is_held_to_the_enforce_level(app: ApiApp) -> None:
    namespace(app, "e", enforce="baseline")
    assert call(app, "POST", f"{NS}/e/pods", pod("p")).status_code == 201
    current = call(app, "GET", f"{NS}/e/pods/p").json()
    current["spec"]["ephemeralContainers"] = [
        {"name": "dbg", "image": "busybox", "securityContext": {"privileged": True}}
    ]
    r = call(app, "PUT", f"{NS}/e/pods/p/ephemeralcontainers", current)
    assert r.status_code == 403, r.text
    assert r.json()["message"] == (
        'pods "p" is forbidden: violates PodSecurity "baseline:latest": '
        'privileged (container "dbg" must not set securityContext.privileged=true)'
    )


def test_a_pinned_version_is_named_and_skips_later_checks(app: ApiApp) -> None:
    namespace(app, "v", enforce="restricted", **{"enforce-version": "v1.22"})
    compliant_but_root = {
        "metadata": {"name": "root"},
        "spec": {
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": 0,  # refused only from 1.23
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": "c",
                    "image": "app:1",
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                    },
                }
            ],
        },
    }
    assert call(app, "POST", f"{NS}/v/pods", compliant_but_root).status_code == 201
    r = call(app, "POST", f"{NS}/v/pods", pod("p", privileged=True))
    assert r.status_code == 403
    assert r.json()["message"].startswith(
        'pods "p" is forbidden: violates PodSecurity "restricted:v1.22": privileged ('
    )


def test_audit_alone_admits_without_a_warning(app: ApiApp) -> None:
    namespace(app, "a", audit="restricted")
    r = call(app, "POST", f"{NS}/a/pods", pod("p", privileged=True))
    assert r.status_code == 201
    assert warnings(r) == []


def test_status_updates_are_not_evaluated(app: ApiApp) -> None:
    namespace(app, "s")
    assert call(app, "POST", f"{NS}/s/pods", pod("p", privileged=True)).status_code == 201
    patch = {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}
    assert call(app, "PATCH", f"{NS}/s", patch, content_type=MERGE).status_code == 200
    status = {"status": {"phase": "Running"}}
    r = call(app, "PATCH", f"{NS}/s/pods/p/status", status, content_type=MERGE)
    assert r.status_code == 200, r.text


def test_existing_pod_warnings_count_the_others_and_sort(app: ApiApp) -> None:
    namespace(app, "m")
    for name in ("z", "y", "x"):  # three pods share one reason; "x" names them
        assert call(app, "POST", f"{NS}/m/pods", pod(name, privileged=True)).status_code == 201
    host = pod("h")
    host["spec"]["hostNetwork"] = True
    assert call(app, "POST", f"{NS}/m/pods", host).status_code == 201
    patch = {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "baseline"}}}
    r = call(app, "PATCH", f"{NS}/m", patch, content_type=MERGE)
    assert r.status_code == 200, r.text
    assert warnings(r) == [
        'existing pods in namespace "m" violate the new PodSecurity enforce level "baseline:latest"',
        "h: host namespaces",
        "x (and 2 other pods): privileged",
    ]
    # Relaxing the level, or labelling it the same again, checks nothing.
    relax = {"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "privileged"}}}
    assert warnings(call(app, "PATCH", f"{NS}/m", relax, content_type=MERGE)) == []


def test_a_changed_bad_label_is_refused_on_update(app: ApiApp) -> None:
    namespace(app, "u")
    patch = {"metadata": {"labels": {"pod-security.kubernetes.io/warn-version": "1.24"}}}
    r = call(app, "PATCH", f"{NS}/u", patch, content_type=MERGE)
    assert r.status_code == 422
    assert r.json()["message"] == (
        'Namespace "u" is invalid: metadata.labels[pod-security.kubernetes.io/warn-version]: '
        'Invalid value: "1.24": must be "latest" or "v1.x"'
    )


def test_kube_system_has_no_exemption(app: ApiApp) -> None:
    namespace(app, "kube-system", enforce="baseline")  # the test API starts without it
    r = call(app, "POST", f"{NS}/kube-system/pods", pod("p", privileged=True))
    assert r.status_code == 403


def test_pod_security_answers_before_admission_policies(app: ApiApp) -> None:
    """Upstream's order: the built-in validating plugins, then policies and webhooks."""
    arg = "/apis/admissionregistration.k8s.io/v1"
    policy = {
        "metadata": {"name": "no-pods"},
        "spec": {
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE"],
                        "resources": ["pods"],
                    }
                ]
            },
            "validations": [{"expression": "false", "message": "no pods at all"}],
        },
    }
    assert call(app, "POST", f"{arg}/validatingadmissionpolicies", policy).status_code == 201
    binding = {
        "metadata": {"name": "no-pods"},
        "spec": {"policyName": "no-pods", "validationActions": ["Deny"]},
    }
    assert call(app, "POST", f"{arg}/validatingadmissionpolicybindings", binding).status_code == 201
    namespace(app, "both", enforce="baseline")
    r = call(app, "POST", f"{NS}/both/pods", pod("p", privileged=True))
    assert r.status_code == 403
    assert "violates PodSecurity" in r.json()["message"]
    r = call(app, "POST", f"{NS}/both/pods", pod("q"))
    assert r.status_code == 422 and "no pods at all" in r.json()["message"]
