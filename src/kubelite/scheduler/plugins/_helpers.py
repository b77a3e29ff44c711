"""Score helpers shared by plugins (upstream ``helper.DefaultNormalizeScore``)."""

from __future__ import annotations

from typing import Any

from kubelite.scheduler.framework.interfaces import MAX_NODE_SCORE

__all__ = ["default_normalize_score", "go_div"]


def go_div(a: int, b: int) -> int:
    """Integer division truncating toward zero, as Go's ``/`` does."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def default_normalize_score(scores: list[list[Any]], *, reverse: bool) -> None:
    """Scale scores to [0, 100] by the maximum; ``reverse`` flips them."""
    max_count = max((s for _, s in scores), default=0)
    max_count = max(max_count, 0)
    if max_count == 0:
        if reverse:
            for pair in scores:
                pair[1] = MAX_NODE_SCORE
        return
    for pair in scores:
        score = go_div(MAX_NODE_SCORE * pair[1], max_count)
        pair[1] = MAX_NODE_SCORE - score if reverse else score
