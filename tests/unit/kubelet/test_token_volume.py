"""Projected serviceAccountToken sources: asked for, bound to the pod, refreshed at 80 %."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kubelite.kubelet.rootpath import resolve_in_root
from kubelite.kubelet.volumes import PodVolumes, VolumeError, fs_user_of

Obj = dict[str, Any]
T0 = 1_800_000_000.0


class FakeTokenApi:
    """The TokenRequest API: records requests, answers with numbered tokens."""

    def __init__(self, clock: list[float], *, fail: bool = False) -> None:
        self.clock = clock
        self.requests: list[tuple[str, str, Obj]] = []
        self.fail = fail

    async def __call__(self, ns: str, sa: str, request: Obj) -> Obj:
        if self.fail:
            raise RuntimeError('serviceaccounts "robot" not found')
        self.requests.append((ns, sa, request))
        exp = self.clock[0] + request["spec"]["expirationSeconds"]
        stamp = datetime.fromtimestamp(exp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"status": {"token": f"token-{len(self.requests)}", "expirationTimestamp": stamp}}


def pod(**token: Any) -> Obj:
    source = {"serviceAccountToken": {"path": "token", "expirationSeconds": 1000, **token}}
    return {
        "metadata": {"name": "web", "namespace": "shop", "uid": "pod-uid"},
        "spec": {
            "serviceAccountName": "robot",
            "volumes": [
                {
                    "name": "kube-api-access-abcde",
                    "projected": {"defaultMode": 0o600, "sources": [source]},
                }
            ],
        },
    }


async def no_objects(kind: str, ns: str, name: str) -> Obj | None:
    return None


def setup(tmp_path: Path, api: FakeTokenApi, clock: list[float], p: Obj) -> PodVolumes:
    vols = PodVolumes(tmp_path, tokens=api, now=lambda: clock[0])
    asyncio.run(vols.setup(p, no_objects, pod_ip="127.244.0.2", host_ip="127.0.0.1"))
    return vols


def token_file(tmp_path: Path) -> Path:
    return tmp_path / "volumes" / "kube-api-access-abcde" / "token"


def test_token_is_requested_for_the_pods_account_bound_to_the_pod(tmp_path: Path) -> None:
    clock = [T0]
    api = FakeTokenApi(clock)
    setup(tmp_path, api, clock, pod(audience="vault"))
    (ns, sa, request) = api.requests[0]
    assert (ns, sa) == ("shop", "robot")
    assert request["spec"] == {
        "audiences": ["vault"],
        "expirationSeconds": 1000,
        "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": "web", "uid": "pod-uid"},
    }
    assert token_file(tmp_path).read_text() == "token-1"
    assert token_file(tmp_path).stat().st_mode & 0o777 == 0o600  # the projected defaultMode


def test_no_audience_leaves_it_to_the_api(tmp_path: Path) -> None:
    clock = [T0]
    api = FakeTokenApi(clock)
    setup(tmp_path, api, clock, pod())
    assert api.requests[0][2]["spec"]["audiences"] == []


@pytest.mark.parametrize(
    ("elapsed", "requests", "content"),
    [
        pytest.param(0, 1, "token-1", id="fresh-kept"),
        pytest.param(799, 1, "token-1", id="just-under-80-percent"),  # 0.8 * 1000 s = 800 s
        pytest.param(800, 2, "token-2", id="at-80-percent-refreshed"),
    ],
)
def test_refresh_at_80_percent_of_lifetime(
    tmp_path: Path, elapsed: float, requests: int, content: str
) -> None:
    clock = [T0]
    api = FakeTokenApi(clock)
    p = pod()
    vols = setup(tmp_path, api, clock, p)
    clock[0] += elapsed
    asyncio.run(vols.refresh(p, no_objects, pod_ip="127.244.0.2", host_ip="127.0.0.1"))
    assert len(api.requests) == requests
    assert token_file(tmp_path).read_text() == content


def test_failed_refresh_keeps_a_still_valid_token(tmp_path: Path) -> None:
    clock = [T0]
    api = FakeTokenApi(clock)
    p = pod()
    vols = setup(tmp_path, api, clock, p)
    api.fail = True
    clock[0] += 900  # due for refresh, not yet expired
    asyncio.run(vols.refresh(p, no_objects, pod_ip="127.244.0.2", host_ip="127.0.0.1"))
    assert token_file(tmp_path).read_text() == "token-1"


def test_token_that_cannot_be_fetched_is_a_failed_mount(tmp_path: Path) -> None:
    clock = [T0]
    vols = PodVolumes(tmp_path, tokens=FakeTokenApi(clock, fail=True), now=lambda: clock[0])
    with pytest.raises(VolumeError) as info:
        asyncio.run(vols.setup(pod(), no_objects, pod_ip="", host_ip=""))
    assert str(info.value) == (
        'MountVolume.SetUp failed for volume "kube-api-access-abcde" : '
        'failed to fetch token: serviceaccounts "robot" not found'
    )


# ---- mount targets inside the container's view ----------------------------------------


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        pytest.param(
            "/var/run/secrets/kubernetes.io/serviceaccount",
            "/run/secrets/kubernetes.io/serviceaccount",
            id="absolute-link-stays-inside",
        ),
        pytest.param("/data/rel/x", "/srv/x", id="relative-link"),
        pytest.param("/var/run", "/var/run", id="last-name-kept"),
        pytest.param("/app/config", "/app/config", id="no-link"),
        pytest.param("/loop/a/b", "/loop/a/b", id="link-loop-left-alone"),
    ],
)
def test_resolve_in_root(tmp_path: Path, target: str, expected: str) -> None:
    host = tmp_path / "host"
    (host / "var").mkdir(parents=True)
    (host / "run").mkdir()
    (host / "var" / "run").symlink_to("/run")  # absolute: must not leave the root
    (host / "data").mkdir()
    (host / "data" / "rel").symlink_to("../srv")
    (host / "loop").symlink_to("loop")
    assert resolve_in_root(target, [tmp_path / "image", host]) == expected


def test_image_layer_wins_over_host(tmp_path: Path) -> None:
    image, host = tmp_path / "image", tmp_path / "host"
    (image / "var").mkdir(parents=True)
    (image / "var" / "run").mkdir()  # a real directory in the image
    (host / "var").mkdir(parents=True)
    (host / "var" / "run").symlink_to("/run")
    target = "/var/run/secrets/kubernetes.io/serviceaccount"
    assert resolve_in_root(target, [image, host]) == target


def test_a_pod_running_as_one_user_gets_a_token_only_that_user_reads(tmp_path: Path) -> None:
    clock = [T0]
    p = pod()
    p["spec"]["volumes"][0]["projected"]["defaultMode"] = 0o644
    p["spec"]["securityContext"] = {"runAsUser": 1234}
    p["spec"]["containers"] = [{"name": "app", "image": "app:1"}]
    setup(tmp_path, FakeTokenApi(clock), clock, p)
    info = token_file(tmp_path).stat()
    assert info.st_mode & 0o777 == 0o600
    if os.geteuid() == 0:  # only root gives files away; rootless, kubelite's uid is the pod's
        assert info.st_uid == 1234


def test_fs_user_is_the_one_user_every_container_runs_as() -> None:
    def spec(pod_user: int | None, *users: int | None) -> Obj:
        containers = [
            {"name": f"c{i}", **({"securityContext": {"runAsUser": u}} if u is not None else {})}
            for i, u in enumerate(users)
        ]
        sc = {"runAsUser": pod_user} if pod_user is not None else {}
        return {"spec": {"securityContext": sc, "containers": containers}}

    assert fs_user_of(spec(1000, None, None)) == 1000
    assert fs_user_of(spec(None, 5, 5)) == 5
    assert fs_user_of(spec(None, 5, 6)) is None
    assert fs_user_of(spec(None, 5, None)) is None


def test_without_a_user_or_group_the_projected_mode_stands(tmp_path: Path) -> None:
    clock = [T0]
    p = pod()
    p["spec"]["volumes"][0]["projected"]["defaultMode"] = 0o644
    p["spec"]["containers"] = [{"name": "app", "image": "app:1"}]
    setup(tmp_path, FakeTokenApi(clock), clock, p)
    assert token_file(tmp_path).stat().st_mode & 0o777 == 0o644
