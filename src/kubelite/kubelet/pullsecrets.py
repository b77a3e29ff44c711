"""The pod's image pull secrets, looked up as the kubelet's getPullSecretsForPod does.

kubelite pulls no images from registries, so the secrets' contents go unused; what a user
still relies on is the kubelet's warning that a referenced Secret is missing
(`FailedToRetrieveImagePullSecret`), their only hint that a pull secret is misspelled or
was never created in the pod's namespace.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Obj = dict[str, Any]
Lookup = Callable[[str, str, str], Awaitable[Obj | None]]

REASON = "FailedToRetrieveImagePullSecret"


async def missing_pull_secrets(pod: Obj, lookup: Lookup) -> list[str]:
    """Names of the pod's imagePullSecrets that cannot be read, in the pod's order."""
    namespace = str((pod.get("metadata") or {}).get("namespace") or "")
    missing: list[str] = []
    for ref in (pod.get("spec") or {}).get("imagePullSecrets") or []:
        name = str((ref or {}).get("name") or "")
        if not name:
            continue  # upstream ignores entries API validation let through without a name
        if await lookup("Secret", namespace, name) is None:
            missing.append(name)
    return missing


def warning_message(missing: list[str]) -> str:
    """The event's text, as the kubelet words it."""
    return (
        f"Unable to retrieve some image pull secrets ({', '.join(missing)}); "
        "attempting to pull the image may not succeed."
    )
