"""Deletion details as rest.BeforeDelete has them: preconditions' conflicts, the
generation bump when deletion starts, a negative grace period."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.unit.apiserver.inprocess_api import api_app, call

from kubelite.apiserver.http import ApiApp

CMS = "/api/v1/namespaces/default/configmaps"
DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"


@pytest.fixture
def app(tmp_path: Path) -> Iterator[ApiApp]:
    with api_app(tmp_path) as a:
        yield a


def test_preconditions_conflict_in_upstreams_words(app: ApiApp) -> None:
    created = call(app, "POST", CMS, {"metadata": {"name": "pc"}}).json()["metadata"]
    r = call(app, "DELETE", f"{CMS}/pc", {"preconditions": {"uid": "abc"}})
    assert r.status_code == 409
    assert r.json()["message"] == (
        f'Operation cannot be fulfilled on ConfigMap "pc": the UID in the precondition (abc) '
        f"does not match the UID in record ({created['uid']}). The object might have been "
        "deleted and then recreated"
    )
    assert r.json()["details"] == {"name": "pc", "kind": "ConfigMap"}
    r = call(app, "DELETE", f"{CMS}/pc", {"preconditions": {"resourceVersion": "1"}})
    assert r.json()["message"].endswith(
        f"the ResourceVersion in the precondition (1) does not match the ResourceVersion in "
        f"record ({created['resourceVersion']}). The object might have been modified"
    )
    assert call(app, "GET", f"{CMS}/pc").status_code == 200


def test_the_generation_moves_when_deletion_starts(app: ApiApp) -> None:
    deploy = {
        "metadata": {"name": "d", "finalizers": ["example.com/x"]},
        "spec": {
            "selector": {"matchLabels": {"a": "b"}},
            "template": {
                "metadata": {"labels": {"a": "b"}},
                "spec": {"containers": [{"name": "c", "image": "app:1"}]},
            },
        },
    }
    assert call(app, "POST", DEPLOYS, deploy).json()["metadata"]["generation"] == 1
    r = call(app, "DELETE", f"{DEPLOYS}/d")
    assert r.status_code == 200
    got = call(app, "GET", f"{DEPLOYS}/d").json()["metadata"]
    assert got["generation"] == 2 and got["deletionTimestamp"]
    call(app, "DELETE", f"{DEPLOYS}/d")  # again: no second bump
    assert call(app, "GET", f"{DEPLOYS}/d").json()["metadata"]["generation"] == 2


def test_a_negative_grace_period_is_one_second(app: ApiApp) -> None:
    pod = {
        "metadata": {"name": "p"},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "app:1"}]},
    }
    pods = "/api/v1/namespaces/default/pods"
    assert call(app, "POST", pods, pod).status_code == 201
    r = call(app, "DELETE", f"{pods}/p", {"gracePeriodSeconds": -5})
    assert r.status_code == 200
    assert r.json()["metadata"]["deletionGracePeriodSeconds"] == 1
    assert call(app, "GET", f"{pods}/p").status_code == 200  # its kubelet stops it first
