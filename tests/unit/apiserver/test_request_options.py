"""A request's options are validated before anything else, as kube-apiserver's handlers
validate them: a 422 naming the options kind, and nothing written."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.unit.apiserver.inprocess_api import api_app, call

from kubelite.apiserver.http import ApiApp

CMS = "/api/v1/namespaces/default/configmaps"
MERGE = "application/merge-patch+json"
APPLY = "application/apply-patch+yaml"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[ApiApp]:
    with api_app(tmp_path) as a:
        assert call(a, "POST", CMS, {"metadata": {"name": "c"}}).status_code == 201
        yield a


def refused(r: object, message: str) -> None:
    assert r.status_code == 422, r.text  # type: ignore[attr-defined]
    assert r.json()["message"] == message  # type: ignore[attr-defined]


def test_an_unknown_dry_run_value_is_refused_on_every_verb(app: ApiApp) -> None:
    unsupported = 'dryRun: Unsupported value: []string{"Foo"}: supported values: "All"'
    r = call(app, "POST", f"{CMS}?dryRun=Foo", {"metadata": {"name": "d"}})
    refused(r, f'CreateOptions.meta.k8s.io "" is invalid: {unsupported}')
    r = call(app, "PUT", f"{CMS}/c?dryRun=Foo", {"metadata": {"name": "c"}})
    refused(r, f'UpdateOptions.meta.k8s.io "" is invalid: {unsupported}')
    r = call(app, "PATCH", f"{CMS}/c?dryRun=Foo", {"data": {"a": "b"}}, content_type=MERGE)
    refused(r, f'PatchOptions.meta.k8s.io "" is invalid: {unsupported}')
    r = call(app, "DELETE", f"{CMS}/c", {"dryRun": ["Foo"]})
    refused(r, f'DeleteOptions.meta.k8s.io "" is invalid: {unsupported}')
    assert call(app, "GET", f"{CMS}/d").status_code == 404
    assert "data" not in call(app, "GET", f"{CMS}/c").json()


def test_delete_options_may_not_both_orphan_and_name_a_policy(app: ApiApp) -> None:
    body = {"propagationPolicy": "Orphan", "orphanDependents": True}
    refused(
        call(app, "DELETE", f"{CMS}/c", body),
        'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Invalid value: "Orphan": '
        "orphanDependents and deletionPropagation cannot be both set",
    )
    assert call(app, "GET", f"{CMS}/c").status_code == 200


def test_force_is_for_apply_patches_only_and_apply_needs_a_manager(app: ApiApp) -> None:
    refused(
        call(app, "PATCH", f"{CMS}/c?force=true", {}, content_type=MERGE),
        'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: '
        "may not be specified for non-apply patch",
    )
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}
    refused(
        call(app, "PATCH", f"{CMS}/c", body, content_type=APPLY),
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: '
        "is required for apply patch",
    )


def test_field_manager_and_field_validation_are_checked(app: ApiApp) -> None:
    refused(
        call(app, "POST", f"{CMS}?fieldManager={'a' * 129}", {"metadata": {"name": "d"}}),
        'CreateOptions.meta.k8s.io "" is invalid: fieldManager: Too long: '
        "may not be more than 128 bytes",
    )
    refused(
        call(app, "POST", f"{CMS}?fieldValidation=Bogus", {"metadata": {"name": "d"}}),
        'CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "Bogus": '
        'supported values: "", "Ignore", "Strict", "Warn"',
    )
    r = call(app, "POST", f"{CMS}?fieldValidation=&dryRun=All", {"metadata": {"name": "d"}})
    assert r.status_code == 201, r.text  # empty: the default (Warn)


def test_orphan_dependents_false_is_a_background_delete() -> None:
    from kubelite.apiserver.rest import DeleteOptions

    assert DeleteOptions.parse({"orphanDependents": False}, {}).propagation_policy == "Background"
    assert DeleteOptions.parse(None, {"orphanDependents": "true"}).propagation_policy == "Orphan"
    assert DeleteOptions.parse(None, {"orphanDependents": "yes"}).propagation_policy == "Orphan"
    assert DeleteOptions.parse({}, {}).propagation_policy is None


def test_a_delete_body_is_read_instead_of_the_query() -> None:
    """Upstream's delete handler decodes the body when one is sent, else the query."""
    from kubelite.apiserver.rest import DeleteOptions

    both = DeleteOptions.parse({"propagationPolicy": "Background"}, {"dryRun": "All"})
    assert both.dry_run is False and both.propagation_policy == "Background"
    assert DeleteOptions.parse(None, {"dryRun": "All"}).dry_run is True
    assert DeleteOptions.parse(None, {"gracePeriodSeconds": " 5 "}).grace_period_seconds == 5


def test_bad_numbers_in_the_query_are_a_bad_request() -> None:
    from kubelite.apiserver import errors, listoptions
    from kubelite.apiserver.rest import DeleteOptions

    with pytest.raises(errors.BadRequest, match='strconv.ParseInt: parsing "abc": invalid syntax'):
        DeleteOptions.parse(None, {"gracePeriodSeconds": "abc"})
    with pytest.raises(errors.BadRequest, match='parsing "1.5": invalid syntax'):
        listoptions.parse({"timeoutSeconds": "1.5"}, watch=True)
    with pytest.raises(errors.BadRequest, match='parsing "nan"'):
        listoptions.parse({"timeoutSeconds": "nan"}, watch=False)
    assert listoptions.parse({"timeoutSeconds": "30"}, watch=True).timeout_seconds == 30


def test_a_posted_object_may_not_carry_a_resource_version(app: ApiApp) -> None:
    """As etcd3's store refuses it: an object read back is not created again as it was."""
    r = call(app, "POST", CMS, {"metadata": {"name": "again", "resourceVersion": "5"}})
    assert r.status_code == 500
    assert r.json()["message"] == (
        "Internal error occurred: resourceVersion should not be set on objects to be created"
    )
    assert r.json()["reason"] == "InternalError"
    assert call(app, "GET", f"{CMS}/again").status_code == 404
    dry = call(
        app, "POST", f"{CMS}?dryRun=All", {"metadata": {"name": "d", "resourceVersion": "5"}}
    )
    assert dry.status_code == 201  # a dry run never reaches the store's check
    for rv in ("0", "-1", ""):  # what the versioner reads as no version, or not at all
        body = {"metadata": {"name": f"v{len(rv)}{rv.strip('-')}", "resourceVersion": rv}}
        assert call(app, "POST", CMS, body).status_code == 201, rv


def test_unknown_fields_are_warned_about_by_default_and_dropped(app: ApiApp) -> None:
    """fieldValidation=Warn, the server's default: a `Warning` per unknown field."""
    body = {"metadata": {"name": "uw"}, "junk": 1, "data": {"a": "b"}}
    r = call(app, "POST", CMS, body)
    assert r.status_code == 201
    assert r.headers.get_list("warning") == ['299 - "unknown field \\"junk\\""']
    assert "junk" not in call(app, "GET", f"{CMS}/uw").json()
    r = call(app, "PATCH", f"{CMS}/uw", {"junk2": 1}, content_type=MERGE)
    assert r.headers.get_list("warning") == ['299 - "unknown field \\"junk2\\""']
    r = call(app, "PUT", f"{CMS}/uw?fieldValidation=Ignore", {"metadata": {"name": "uw"}, "x": 1})
    assert r.status_code == 200 and r.headers.get_list("warning") == []


@pytest.mark.parametrize("content_type", ["text/plain", "*/*", "application/x-www-form-urlencoded"])
def test_a_body_in_an_unknown_format_is_a_415(app: ApiApp, content_type: str) -> None:
    r = call(app, "POST", CMS, {"metadata": {"name": "km"}}, content_type=content_type)
    assert r.status_code == 415
    assert r.json()["message"] == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json, application/yaml, application/vnd.kubernetes.protobuf"
    )
    assert call(app, "GET", f"{CMS}/km").status_code == 404


def test_a_value_of_the_wrong_type_is_worded_as_encoding_json_words_it(app: ApiApp) -> None:
    """The innermost Go struct and the JSON field path without indices, as upstream's
    decoder prints it (the line users search for)."""
    container = {"name": "c", "image": "i", "env": [{"name": "X", "value": 1}]}
    spec = {"selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [container]}}}  # fmt: skip
    body = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}, "spec": spec}
    r = call(app, "POST", "/apis/apps/v1/namespaces/default/deployments", body)
    assert (r.status_code, r.json()["message"]) == (
        400,
        'Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal '
        "number into Go struct field EnvVar.spec.template.spec.containers.env.value of type string",
    )


def test_a_map_field_given_another_type_is_refused_as_the_decoder_refuses_it(
    app: ApiApp,
) -> None:
    pod = {"metadata": {"name": "p"},
           "spec": {"nodeSelector": "a", "containers": [{"name": "c", "image": "i"}]}}  # fmt: skip
    r = call(app, "POST", "/api/v1/namespaces/default/pods", pod)
    assert (r.status_code, r.json()["message"]) == (
        400,
        'Pod in version "v1" cannot be handled as a Pod: json: cannot unmarshal string into '
        "Go struct field PodSpec.spec.nodeSelector of type map[string]string",
    )
