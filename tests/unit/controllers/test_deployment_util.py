"""Deployment arithmetic: fenceposts, proportions, hashes, conditions."""

from __future__ import annotations

import re

import pytest
from ctl_builders import make_deployment

from kubelite.controllers.deployment import util as u
from kubelite.controllers.deployment.sync import new_rs_replicas, proportion_for


def rolling(replicas: int, surge: int | str, unavailable: int | str) -> dict:
    d = make_deployment(replicas=replicas)
    d["spec"]["strategy"] = {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable},
    }
    return d


@pytest.mark.parametrize(
    ("replicas", "surge", "unavailable", "expected"),
    [
        pytest.param(10, "25%", "25%", (3, 2), id="10x25%-surge-ceil-3-unavail-floor-2"),
        pytest.param(4, "25%", "25%", (1, 1), id="4x25%-exact-1-1"),
        pytest.param(3, "25%", "25%", (1, 0), id="3x25%=0.75-surge-1-unavail-0"),
        pytest.param(1, "25%", "25%", (1, 0), id="1x25%=0.25-surge-1-unavail-0"),
        pytest.param(3, 0, 0, (0, 1), id="both-zero-unavail-becomes-1"),
        pytest.param(5, "0%", "0%", (0, 1), id="both-zero-percent-unavail-becomes-1"),
        pytest.param(50, "25%", "25%", (13, 12), id="50x25%=12.5-13-12"),
        pytest.param(3, 2, "50%", (2, 1), id="ints-and-50%-of-3=1.5-floor-1"),
    ],
)
def test_fenceposts(
    replicas: int, surge: int | str, unavailable: int | str, expected: tuple[int, int]
) -> None:
    assert u.fenceposts(rolling(replicas, surge, unavailable)) == expected


@pytest.mark.parametrize(
    ("replicas", "unavailable", "expected"),
    [
        pytest.param(2, 5, 2, id="capped-at-replicas"),
        pytest.param(0, 1, 0, id="zero-replicas"),
    ],
)
def test_max_unavailable(replicas: int, unavailable: int, expected: int) -> None:
    assert u.max_unavailable(rolling(replicas, 1, unavailable)) == expected


def test_recreate_has_no_surge_or_unavailability() -> None:
    d = make_deployment(strategy={"type": "Recreate"})
    assert (u.max_surge(d), u.max_unavailable(d)) == (0, 0)


def test_hash_looks_like_upstream_and_depends_on_collisions() -> None:
    d = make_deployment()
    h0, h1 = u.compute_hash(d["spec"]["template"], None), u.compute_hash(d["spec"]["template"], 1)
    # A decimal uint32 safe-encoded: digits map onto "4-9" and "b-f".
    assert re.fullmatch(r"[456789bcdf]{1,10}", h0)
    assert h0 != h1
    assert u.compute_hash(d["spec"]["template"], None) == h0


def test_template_equality_ignores_hash_label_and_empty_fields() -> None:
    a = make_deployment()["spec"]["template"]
    b = make_deployment()["spec"]["template"]
    b["metadata"]["labels"]["pod-template-hash"] = "abc"
    b["metadata"]["creationTimestamp"] = None
    b["spec"]["volumes"] = []
    assert u.equal_ignore_hash(a, b)
    b["spec"]["containers"][0]["image"] = "app:v2"
    assert not u.equal_ignore_hash(a, b)


def rs(replicas: int, max_replicas: int | None = None) -> dict:
    ann = {} if max_replicas is None else {u.MAX_REPLICAS: str(max_replicas)}
    return {"metadata": {"name": "x", "annotations": ann}, "spec": {"replicas": replicas}}


@pytest.mark.parametrize(
    ("rs_replicas", "annotated", "to_add", "added", "expected"),
    [
        # d: 10 -> 20 replicas, surge 25% of 20 = 5: allowed 25; rs had 5 of a 13-pod max
        pytest.param(5, 13, 12, 0, 5, id="5*25/13=9.6-round-10-minus-5"),
        pytest.param(5, 13, 12, 10, 2, id="capped-by-what-is-left"),
        pytest.param(0, 13, 12, 0, 0, id="empty-rs-gets-nothing"),
    ],
)
def test_proportion(
    rs_replicas: int, annotated: int, to_add: int, added: int, expected: int
) -> None:
    d = rolling(20, "25%", "25%")
    assert proportion_for(rs(rs_replicas, annotated), d, to_add, added) == expected


@pytest.mark.parametrize(
    ("current", "new_rs", "expected"),
    [
        pytest.param([4], 0, 1, id="4-old+0-new-max-5-adds-1"),
        pytest.param([5], 0, 0, id="at-max-surge-nothing"),
        pytest.param([1], 3, 4, id="room-for-1-capped-by-replicas"),
    ],
)
def test_new_rs_replicas(current: list[int], new_rs: int, expected: int) -> None:
    d = rolling(4, "25%", "25%")  # surge 1: at most 5 pods
    new = rs(new_rs)
    assert new_rs_replicas(d, [*(rs(n) for n in current), new], new) == expected
