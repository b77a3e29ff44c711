"""getPullSecretsForPod's warning: which of a pod's imagePullSecrets are missing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kubelite.kubelet.pullsecrets import missing_pull_secrets, warning_message

Obj = dict[str, Any]
SECRETS = {("default", "there")}


async def lookup(kind: str, namespace: str, name: str) -> Obj | None:
    assert kind == "Secret"
    return {"metadata": {"name": name}} if (namespace, name) in SECRETS else None


def pod(*names: str, namespace: str = "default") -> Obj:
    refs = [{"name": n} for n in names]
    return {"metadata": {"name": "p", "namespace": namespace}, "spec": {"imagePullSecrets": refs}}


@pytest.mark.parametrize(
    ("obj", "missing"),
    [
        pytest.param({"metadata": {"namespace": "default"}, "spec": {}}, [], id="none"),
        pytest.param(pod("there"), [], id="present"),
        pytest.param(pod("a", "there", "b"), ["a", "b"], id="missing-in-order"),
        pytest.param(pod("", "there"), [], id="empty-name-ignored"),
        pytest.param(pod("there", namespace="other"), ["there"], id="other-namespace"),
    ],
)
def test_missing_pull_secrets(obj: Obj, missing: list[str]) -> None:
    assert asyncio.run(missing_pull_secrets(obj, lookup)) == missing


def test_warning_message_is_the_kubelets() -> None:
    assert warning_message(["a", "b"]) == (
        "Unable to retrieve some image pull secrets (a, b); "
        "attempting to pull the image may not succeed."
    )
