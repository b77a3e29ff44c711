"""What one scheduling attempt decided, kept whole for ``kubelite explain``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubelite.scheduler.framework.diagnosis import FitError
from kubelite.scheduler.framework.runtime import PluginScore
from kubelite.scheduler.framework.status import Status

__all__ = ["ScheduleResult"]


@dataclass
class ScheduleResult:
    """The node chosen (or why none), with per-node filter verdicts and scores.

    ``filter_verdicts`` has every node the filters ran on: ``None`` when it
    passed, else the first failing plugin's status. ``scores`` maps node ->
    plugin -> raw/normalized/weighted score; ``total_scores`` the weighted sums;
    ``node_score`` the chosen node's total (0 when a single feasible node made
    scoring unnecessary, as upstream skips it then).

    ``nominating`` says whether this attempt decides the pod's
    ``status.nominatedNodeName``: then it becomes ``nominated_node_name``, ''
    clearing it (preemption found no candidate, or an error). When False the
    pod keeps its nomination, e.g. while it waits for its victims to go.
    ``nominated_pods_to_clear`` lose theirs to this preemptor.
    """

    pod_key: str
    scheduler_name: str = ""
    node_name: str = ""
    node_score: int = 0
    evaluated_nodes: int = 0
    feasible_nodes: int = 0
    filter_verdicts: dict[str, Status | None] = field(default_factory=dict)
    scores: dict[str, dict[str, PluginScore]] = field(default_factory=dict)
    total_scores: dict[str, int] = field(default_factory=dict)
    fit_error: FitError | None = None
    error: Status | None = None
    nominated_node_name: str = ""
    nominating: bool = False
    victims: tuple[Mapping[str, Any], ...] = ()
    nominated_pods_to_clear: tuple[Mapping[str, Any], ...] = ()
    volume_bindings: dict[str, str] = field(default_factory=dict)
    volume_provisions: list[str] = field(default_factory=list)
    assumed_pod: Mapping[str, Any] | None = None
    fast_path: bool = False

    @property
    def scheduled(self) -> bool:
        return bool(self.node_name) and self.error is None

    @property
    def unschedulable_plugins(self) -> set[str]:
        return set(self.fit_error.diagnosis.unschedulable_plugins) if self.fit_error else set()

    @property
    def message(self) -> str:
        if self.error is not None:
            return self.error.message
        if self.fit_error is not None:
            return self.fit_error.message
        return ""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (the explain table's source)."""
        return {
            "pod": self.pod_key,
            "schedulerName": self.scheduler_name,
            "node": self.node_name or None,
            "score": self.node_score if self.node_name else None,
            "message": self.message or None,
            "evaluatedNodes": self.evaluated_nodes,
            "feasibleNodes": self.feasible_nodes,
            "filters": {
                n: (None if st is None else st.to_dict()) for n, st in self.filter_verdicts.items()
            },
            "scores": {
                n: {
                    p: {"raw": s.raw, "score": s.score, "weight": s.weight, "weighted": s.weighted}
                    for p, s in per.items()
                }
                for n, per in self.scores.items()
            },
            "totalScores": dict(self.total_scores),
            "nominatedNodeName": self.nominated_node_name or None,
            "victims": [
                f"{v['metadata'].get('namespace') or 'default'}/{v['metadata']['name']}"
                for v in self.victims
            ],
        }
