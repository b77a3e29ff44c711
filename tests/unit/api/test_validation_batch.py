"""batch/v1 defaults and validation, with upstream's values, field paths and wording."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubelite.api.defaults import apply_defaults
from kubelite.api.validation import validate

UID = "0d9a5e2c-1111-2222-3333-444455556666"


def job(name: str = "work", **spec: Any) -> dict[str, Any]:
    """A Job as the API server sees it on create: uid set, no resourceVersion yet."""
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": "default", "uid": UID},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "main", "image": "python:3.11"}],
                }
            },
            **spec,
        },
    }


def cron_job(name: str = "tick", **spec: Any) -> dict[str, Any]:
    template = job()["spec"]["template"]
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": name, "namespace": "default", "uid": UID},
        "spec": {
            "schedule": "*/5 * * * *",
            "jobTemplate": {"spec": {"template": template}},
            **spec,
        },
    }


def messages(obj: dict[str, Any], old: dict[str, Any] | None = None) -> list[str]:
    apply_defaults(obj)
    return [str(e) for e in validate(obj, old=old)]


# ---- defaults --------------------------------------------------------------------------


def test_job_defaults_and_generated_selector() -> None:
    j = apply_defaults(job())
    spec = j["spec"]
    assert (spec["completions"], spec["parallelism"], spec["backoffLimit"]) == (1, 1, 6)
    assert spec["completionMode"] == "NonIndexed"
    assert spec["suspend"] is False
    assert spec["manualSelector"] is False
    assert spec["podReplacementPolicy"] == "TerminatingOrFailed"
    assert spec["selector"] == {"matchLabels": {"batch.kubernetes.io/controller-uid": UID}}
    assert spec["template"]["metadata"]["labels"] == {
        "batch.kubernetes.io/controller-uid": UID,
        "batch.kubernetes.io/job-name": "work",
        "controller-uid": UID,
        "job-name": "work",
    }
    assert j["metadata"]["labels"] == spec["template"]["metadata"]["labels"]
    assert spec["template"]["spec"]["dnsPolicy"] == "ClusterFirst"  # pod template defaults


@pytest.mark.parametrize(
    ("spec", "completions", "parallelism", "backoff_limit", "replacement"),
    [
        ({"parallelism": 3}, None, 3, 6, "TerminatingOrFailed"),  # a work queue: no completions
        ({"completions": 4}, 4, 1, 6, "TerminatingOrFailed"),
        (
            {"completionMode": "Indexed", "completions": 2, "backoffLimitPerIndex": 1},
            2,
            1,
            2**31 - 1,
            "TerminatingOrFailed",
        ),
        ({"podFailurePolicy": {"rules": []}}, 1, 1, 6, "Failed"),
    ],
)
def test_job_defaults_depend_on_what_is_set(
    spec: dict[str, Any],
    completions: int | None,
    parallelism: int,
    backoff_limit: int,
    replacement: str,
) -> None:
    s = apply_defaults(job(**spec))["spec"]
    assert s.get("completions") == completions
    assert (s["parallelism"], s["backoffLimit"]) == (parallelism, backoff_limit)
    assert s["podReplacementPolicy"] == replacement


def test_a_manual_selector_is_left_alone() -> None:
    j = job(manualSelector=True, selector={"matchLabels": {"app": "x"}})
    j["spec"]["template"]["metadata"] = {"labels": {"app": "x"}}
    spec = apply_defaults(j)["spec"]
    assert spec["selector"] == {"matchLabels": {"app": "x"}}
    assert spec["template"]["metadata"]["labels"] == {"app": "x"}


def test_no_selector_generated_on_update() -> None:
    j = job()
    j["metadata"]["resourceVersion"] = "7"
    assert "selector" not in apply_defaults(j)["spec"]


def test_cron_job_defaults() -> None:
    spec = apply_defaults(cron_job())["spec"]
    assert spec["concurrencyPolicy"] == "Allow"
    assert spec["suspend"] is False
    assert (spec["successfulJobsHistoryLimit"], spec["failedJobsHistoryLimit"]) == (3, 1)
    template_spec = spec["jobTemplate"]["spec"]
    assert template_spec["template"]["spec"]["schedulerName"] == "default-scheduler"
    assert "backoffLimit" not in template_spec  # the Job gets it when it is made


# ---- Job validation ----------------------------------------------------------------------


def test_a_good_job() -> None:
    assert messages(job(completions=3, parallelism=2)) == []


def test_restart_policy_always_is_refused() -> None:
    j = job()
    j["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    assert messages(j) == [
        'spec.template.spec.restartPolicy: Required value: valid values: "OnFailure", "Never"'
    ]


def test_unknown_restart_policy_is_unsupported() -> None:
    j = job()
    j["spec"]["template"]["spec"]["restartPolicy"] = "Sometimes"
    errs = messages(j)
    assert (
        'spec.template.spec.restartPolicy: Unsupported value: "Sometimes": '
        'supported values: "OnFailure", "Never"'
    ) in errs


def test_selector_must_match_template_labels() -> None:
    j = job(manualSelector=True, selector={"matchLabels": {"app": "a"}})
    j["spec"]["template"]["metadata"] = {"labels": {"app": "b"}}
    assert messages(j) == [
        'spec.template.metadata.labels: Invalid value: {"app":"b"}: '
        "`selector` does not match template `labels`"
    ]


def test_a_hand_written_selector_is_not_auto_generated() -> None:
    errs = messages(job(selector={"matchLabels": {"app": "a"}}))
    assert errs[0].startswith("spec.selector: Invalid value: ")
    assert errs[0].endswith("`selector` not auto-generated")


@pytest.mark.parametrize(
    "field", ["parallelism", "completions", "activeDeadlineSeconds", "backoffLimit"]
)
def test_negative_counts(field: str) -> None:
    assert f"spec.{field}: Invalid value: -1: must be greater than or equal to 0" in messages(
        job(**{field: -1})
    )


def test_indexed_needs_completions() -> None:
    assert messages(job(completionMode="Indexed", completions=None, parallelism=2)) == [
        "spec.completions: Required value: when completion mode is Indexed"
    ]


def test_indexed_names_must_fit_hostnames() -> None:
    errs = messages(job(name="a" * 62, completionMode="Indexed", completions=10))
    assert errs == [
        f'metadata.name: Invalid value: "{"a" * 62}": will not able to create pod with '
        f"invalid DNS label: {'a' * 62}-9"
    ]


def test_backoff_limit_per_index_needs_indexed() -> None:
    assert messages(job(backoffLimitPerIndex=1)) == [
        "spec.backoffLimitPerIndex: Invalid value: 1: requires indexed completion mode"
    ]


def test_pod_failure_policy_rules() -> None:
    rules = [
        {"action": "FailJob", "onExitCodes": {"operator": "In", "values": [0, 2, 1]}},
        {"action": "Explode", "onPodConditions": [{"type": "DisruptionTarget"}]},
    ]
    assert messages(job(podFailurePolicy={"rules": rules})) == [
        "spec.podFailurePolicy.rules[0].onExitCodes.values[0]: Invalid value: 0: "
        "must not be 0 for the In operator",
        "spec.podFailurePolicy.rules[0].onExitCodes.values: Invalid value: [0,2,1]: must be ordered",
        'spec.podFailurePolicy.rules[1].action: Unsupported value: "Explode": '
        'supported values: "Count", "FailIndex", "FailJob", "Ignore"',
    ]


def test_pod_failure_policy_needs_restart_policy_never() -> None:
    j = job(podFailurePolicy={"rules": [{"action": "Ignore", "onPodConditions": [{"type": "X"}]}]})
    j["spec"]["template"]["spec"]["restartPolicy"] = "OnFailure"
    assert messages(j) == [
        'spec.template.spec.restartPolicy: Invalid value: "OnFailure": '
        'only "Never" is supported when podFailurePolicy is specified'
    ]


def stored(j: dict[str, Any]) -> dict[str, Any]:
    apply_defaults(j)
    j["metadata"]["resourceVersion"] = "5"
    return j


def test_immutable_fields_on_update() -> None:
    old = stored(job(completions=2))
    new = copy.deepcopy(old)
    new["spec"]["completions"] = 3
    new["spec"]["template"]["spec"]["containers"][0]["image"] = "python:3.12"
    errs = messages(new, old)
    assert "spec.completions: Invalid value: 3: field is immutable" in errs
    assert any(e.startswith("spec.template: Invalid value:") for e in errs)
    mode = copy.deepcopy(old)
    mode["spec"]["completionMode"] = "Indexed"
    assert messages(mode, old) == [
        'spec.completionMode: Invalid value: "Indexed": field is immutable'
    ]


def test_indexed_completions_change_only_with_parallelism() -> None:
    old = stored(job(completionMode="Indexed", completions=4, parallelism=4))
    new = copy.deepcopy(old)
    new["spec"]["completions"] = 6
    assert messages(new, old) == [
        "spec.completions: Invalid value: 6: can only be modified in tandem with spec.parallelism"
    ]
    new["spec"]["parallelism"] = 6
    assert messages(new, old) == []


def test_parallelism_and_suspend_may_change() -> None:
    old = stored(job(completions=4, parallelism=2))
    new = copy.deepcopy(old)
    new["spec"]["parallelism"] = 4
    new["spec"]["suspend"] = True
    assert messages(new, old) == []


def test_a_suspended_job_that_never_ran_may_change_its_scheduling() -> None:
    old = stored(job(suspend=True))
    new = copy.deepcopy(old)
    new["spec"]["template"]["spec"]["nodeSelector"] = {"disk": "ssd"}
    assert messages(new, old) == []
    old["status"] = {"startTime": "2026-01-01T00:00:00Z"}
    assert any(e.startswith("spec.template:") for e in messages(copy.deepcopy(new), old))


# ---- CronJob validation ---------------------------------------------------------------


def test_a_good_cron_job() -> None:
    assert messages(cron_job(timeZone="Europe/Berlin")) == []


def test_bad_schedule_time_zone_and_name() -> None:
    errs = messages(cron_job(name="x" * 53, schedule="* * * * * *", timeZone="Mars/Base"))
    assert errs == [
        'spec.schedule: Invalid value: "* * * * * *": '
        "expected exactly 5 fields, found 6: [* * * * * *]",
        'spec.timeZone: Invalid value: "Mars/Base": unknown time zone Mars/Base',
        f'metadata.name: Invalid value: "{"x" * 53}": must be no more than 52 characters',
    ]


def test_tz_in_schedule_is_refused() -> None:
    assert messages(cron_job(schedule="TZ=UTC 0 * * * *")) == [
        'spec.schedule: Invalid value: "TZ=UTC 0 * * * *": '
        "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"
    ]


def test_concurrency_policy_and_template_selector() -> None:
    cj = cron_job(concurrencyPolicy="Sometimes")
    cj["spec"]["jobTemplate"]["spec"]["selector"] = {"matchLabels": {"a": "b"}}
    assert messages(cj) == [
        'spec.concurrencyPolicy: Unsupported value: "Sometimes": '
        'supported values: "Allow", "Forbid", "Replace"',
        'spec.jobTemplate.spec.selector: Invalid value: {"matchLabels":{"a":"b"}}: '
        "`selector` will be auto-generated",
    ]


def test_local_time_zone_is_refused() -> None:
    assert messages(cron_job(timeZone="Local")) == [
        'spec.timeZone: Invalid value: "Local": timeZone must be an explicit time zone as '
        "defined in https://www.iana.org/time-zones"
    ]


def test_managed_by_is_a_domain_prefixed_path() -> None:
    assert messages(job(managedBy="kubernetes.io/job-controller")) == []
    assert messages(job(managedBy="mine")) == [
        'spec.managedBy: Invalid value: "mine": must be a domain-prefixed path '
        '(such as "acme.io/foo")'
    ]
