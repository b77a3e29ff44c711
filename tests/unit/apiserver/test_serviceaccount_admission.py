"""ServiceAccount admission: defaults, refusal, and the kube-api-access volume."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from kubelite.apiserver import errors
from kubelite.apiserver.admission import default_plugins, server_plugins
from kubelite.apiserver.rest import RestStorage
from kubelite.apiserver.serviceaccount_admission import (
    MOUNT_PATH,
    ServiceAccountAdmission,
    await_service_account,
    mount_api_access,
)
from kubelite.store import Store

Obj = dict[str, Any]
MOUNT = {"name": "kube-api-access-abcde", "readOnly": True, "mountPath": MOUNT_PATH}


def container(name: str = "app", mounts: list[Obj] | None = None) -> Obj:
    c: Obj = {"name": name, "image": "app:v1"}
    if mounts is not None:
        c["volumeMounts"] = mounts
    return c


def pod_obj(name: str = "web", **spec: Any) -> Obj:
    spec.setdefault("containers", [container()])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


@pytest.fixture
def storage(tmp_path: Path) -> Any:
    store = Store(tmp_path / "db")
    plugins = default_plugins()
    plugins.insert(1, ServiceAccountAdmission(new_volume_name=lambda: "kube-api-access-abcde"))
    storage = RestStorage(store, admission=plugins)
    reg = storage.registry
    storage.create(
        reg.by_kind("v1", "Namespace"),
        None,
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}},
    )
    for sa in (
        {"metadata": {"name": "default"}},
        {"metadata": {"name": "quiet"}, "automountServiceAccountToken": False},
        {"metadata": {"name": "puller"}, "imagePullSecrets": [{"name": "regcred"}]},
    ):
        storage.create(
            reg.by_kind("v1", "ServiceAccount"),
            "default",
            {"apiVersion": "v1", "kind": "ServiceAccount", **sa},
        )
    yield storage
    store.close()


def create(storage: Any, obj: Obj) -> Obj:
    return storage.create(storage.registry.by_kind("v1", "Pod"), "default", obj).obj()


@pytest.mark.parametrize(
    ("spec", "account", "mounted"),
    [
        pytest.param({}, "default", True, id="defaults-to-default"),
        pytest.param({"serviceAccount": "puller"}, "puller", True, id="deprecated-field-counts"),
        pytest.param({"serviceAccountName": "quiet"}, "quiet", False, id="sa-opts-out"),
        pytest.param(
            {"serviceAccountName": "quiet", "automountServiceAccountToken": True},
            "quiet",
            True,
            id="pod-overrides-sa-opt-out",
        ),
        pytest.param({"automountServiceAccountToken": False}, "default", False, id="pod-opts-out"),
    ],
)
def test_service_account_defaults_and_automount(
    storage: Any, spec: Obj, account: str, mounted: bool
) -> None:
    out = create(storage, pod_obj(**spec))["spec"]
    assert (out["serviceAccountName"], out["serviceAccount"]) == (account, account)
    names = [v["name"] for v in out.get("volumes") or []]
    assert names == (["kube-api-access-abcde"] if mounted else [])
    assert (out["containers"][0].get("volumeMounts") == [MOUNT]) == mounted


def test_volume_is_upstreams_projection(storage: Any) -> None:
    (volume,) = create(storage, pod_obj())["spec"]["volumes"]
    assert volume["projected"] == {
        "defaultMode": 420,
        "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {
                "configMap": {
                    "name": "kube-root-ca.crt",
                    "items": [{"key": "ca.crt", "path": "ca.crt"}],
                }
            },
            {
                "downwardAPI": {
                    "items": [
                        {
                            "path": "namespace",
                            "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"},
                        }
                    ]
                }
            },
        ],
    }


def test_missing_service_account_is_refused_in_upstream_words(storage: Any) -> None:
    with pytest.raises(errors.Forbidden) as info:
        create(storage, pod_obj(serviceAccountName="ghost"))
    assert info.value.message == (
        'pods "web" is forbidden: error looking up service account default/ghost: '
        'serviceaccount "ghost" not found'
    )
    assert info.value.code == 403


def test_pull_secrets_come_from_the_service_account(storage: Any) -> None:
    out = create(storage, pod_obj(serviceAccountName="puller"))["spec"]
    assert out["imagePullSecrets"] == [{"name": "regcred"}]
    own = create(
        storage, pod_obj("own", serviceAccountName="puller", imagePullSecrets=[{"name": "mine"}])
    )
    assert own["spec"]["imagePullSecrets"] == [{"name": "mine"}]


@pytest.mark.parametrize(
    ("spec", "volumes", "mounts"),
    [
        pytest.param(
            {"containers": [container("a"), container("b")], "initContainers": [container("i")]},
            ["kube-api-access-abcde"],
            {"a": [MOUNT], "b": [MOUNT], "i": [MOUNT]},
            id="every-container-and-init-container",
        ),
        pytest.param(
            {
                "containers": [
                    container("a", [{"name": "own", "mountPath": MOUNT_PATH}]),
                    container("b"),
                ]
            },
            ["kube-api-access-abcde"],
            {"a": [{"name": "own", "mountPath": MOUNT_PATH}], "b": [MOUNT]},
            id="container-with-own-mount-is-left-alone",
        ),
        pytest.param(
            {"containers": [container("a", [{"name": "own", "mountPath": MOUNT_PATH}])]},
            [],
            {"a": [{"name": "own", "mountPath": MOUNT_PATH}]},
            id="no-volume-when-nobody-needs-it",
        ),
        pytest.param(
            {
                "containers": [container("a")],
                "volumes": [{"name": "kube-api-access-zzzzz", "emptyDir": {}}],
            },
            ["kube-api-access-zzzzz"],
            {"a": [{"name": "kube-api-access-zzzzz", "readOnly": True, "mountPath": MOUNT_PATH}]},
            id="existing-api-access-volume-is-reused",
        ),
    ],
)
def test_mount_api_access(spec: Obj, volumes: list[str], mounts: dict[str, list[Obj]]) -> None:
    mount_api_access(spec, lambda: "kube-api-access-abcde")
    assert [v["name"] for v in spec.get("volumes") or []] == volumes
    got = {
        c["name"]: c.get("volumeMounts")
        for c in spec["containers"] + spec.get("initContainers", [])
    }
    assert got == mounts


def test_generated_volume_name_has_five_random_characters() -> None:
    spec: Obj = {"containers": [container()]}
    mount_api_access(spec)
    name = spec["volumes"][0]["name"]
    assert name.startswith("kube-api-access-") and len(name) == len("kube-api-access-") + 5
    assert name[-5:].isalnum() and name[-5:].islower()


def test_server_chain_has_service_account_after_namespace_lifecycle() -> None:
    names = [type(p).__name__ for p in server_plugins()]
    assert names[:2] == ["NamespaceLifecycle", "ServiceAccountAdmission"]
    assert "ServiceAccountAdmission" not in [type(p).__name__ for p in default_plugins()]


async def _create_after(storage: Any, delay: float) -> None:
    await asyncio.sleep(delay)
    storage.create(
        storage.registry.by_kind("v1", "ServiceAccount"),
        "fresh",
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}},
    )


def test_pod_waits_for_a_new_namespaces_default_account(storage: Any) -> None:
    reg = storage.registry
    storage.create(
        reg.by_kind("v1", "Namespace"),
        None,
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "fresh"}},
    )

    async def scenario() -> None:
        pod = pod_obj()
        maker = asyncio.create_task(_create_after(storage, 0.25))  # the controller, a bit late
        await await_service_account(storage, "fresh", pod)
        storage.create(reg.by_kind("v1", "Pod"), "fresh", pod)  # Forbidden had it not waited
        await maker

    asyncio.run(scenario())
    assert (
        storage.get(reg.by_kind("v1", "Pod"), "fresh", "web").obj()["spec"]["serviceAccountName"]
        == "default"
    )
