"""The official client's generated models: the upstream OpenAPI in another form.

Which fields a kind declares (`apiserver.schema`) and which of them are times
(`timefields`, ahead of time) are read from them. Importing them costs ~20 MB
and a second, so they load on first use only.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from kubelite.api.registry import ResourceType

# Type strings of container fields: `List[V1Container]`, `Dict[str, str]`.
LIST = re.compile(r"^List\[(.+)\]$", re.I)
DICT = re.compile(r"^Dict\[str, (.+)\]$", re.I)

# Kinds whose model name is not <Version><Kind>.
_MODEL_NAMES = {
    ("v1", "Event"): "CoreV1Event",
    ("events.k8s.io/v1", "Event"): "EventsV1Event",
}


def model_name(rt: ResourceType) -> str:
    return _MODEL_NAMES.get((rt.api_version, rt.kind), f"{rt.version.capitalize()}{rt.kind}")


@cache
def models() -> Any:
    """The `kubernetes.client.models` module, or None without the client."""
    try:
        import kubernetes.client.models as loaded
    except ImportError:  # pragma: no cover - the client is a dependency
        return None
    return loaded
