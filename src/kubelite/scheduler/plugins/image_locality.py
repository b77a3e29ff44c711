"""ImageLocality: prefer nodes that already hold the pod's images.

The node agent reports ``node.status.images`` (``names`` + ``sizeBytes``) as
kubelet does; the cache indexes those names. Each image of the pod (init and
app containers) found on the node adds ``size * (nodes with it / all nodes)``,
so an image present everywhere counts fully and a rare one little (upstream
scaledImageScore, which keeps pods from piling onto the one node that happens
to hold a big image). The sum is clamped to [23MB, 1000MB * containers] and
mapped linearly onto [0, 100] (upstream calculatePriority).

Names are compared in their fully qualified form: ``nginx``,
``library/nginx:latest`` and ``docker.io/library/nginx:latest`` are one image,
whichever form the pod spec or the node status uses.
"""

from __future__ import annotations

from typing import Any

from kubelite.scheduler.framework.cycle_state import CycleState
from kubelite.scheduler.framework.images import normalized_image_name
from kubelite.scheduler.framework.interfaces import MAX_NODE_SCORE, Handle
from kubelite.scheduler.framework.types import NodeInfo, PodInfo

NAME = "ImageLocality"
EVENTS: frozenset[str] = frozenset()
MB = 1024 * 1024
MIN_THRESHOLD = 23 * MB
MAX_CONTAINER_THRESHOLD = 1000 * MB
_PRE_SCORE_KEY = "PreScore" + NAME


def calculate_priority(sum_scores: int, num_containers: int) -> int:
    """upstream ImageLocality calculatePriority: clamp, then map onto [0, 100]."""
    if num_containers == 0:
        return 0
    max_threshold = MAX_CONTAINER_THRESHOLD * num_containers
    sum_scores = min(max(sum_scores, MIN_THRESHOLD), max_threshold)
    return MAX_NODE_SCORE * (sum_scores - MIN_THRESHOLD) // (max_threshold - MIN_THRESHOLD)


def scaled_image_score(size: int, nodes_with_image: int, total_nodes: int) -> int:
    """upstream ImageLocality scaledImageScore: size weighted by the image's spread."""
    return int(size * (nodes_with_image / total_nodes))


def pod_images(pod: PodInfo) -> list[str]:
    spec = pod.pod.get("spec", {})
    return [
        normalized_image_name(c.get("image", ""))
        for c in [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]
    ]


class ImageLocality:
    name = NAME

    def __init__(self, handle: Handle) -> None:
        self.handle = handle

    def pre_score(self, state: CycleState, pod: PodInfo, nodes: list[NodeInfo]) -> None:
        state.write(_PRE_SCORE_KEY, pod_images(pod))

    def score(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> int:
        images = state.get(_PRE_SCORE_KEY)
        if images is None:
            images = pod_images(pod)
        if not node.image_states:
            return calculate_priority(0, len(images))
        total_nodes = len(self.handle.cache)
        total = 0
        for image in images:
            st = node.image_states.get(image)
            if st is not None:
                total += scaled_image_score(st.size, len(st.nodes), total_nodes)
        return calculate_priority(total, len(images))


def new(args: dict[str, Any], handle: Handle) -> ImageLocality:
    return ImageLocality(handle)
