"""Scheduling profiles: the upstream default, and KubeSchedulerConfiguration parsing.

v1 puts every default plugin in ``multiPoint``; a plugin then serves every
extension point it implements. Per-point ``enabled``/``disabled`` (``"*"`` for
all) override that as upstream expands it: plugins re-enabled at a point keep
their per-point order first, then the remaining multiPoint plugins, then
plugins enabled only at that point. An unknown plugin name is an error that
names it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from kubelite.scheduler.framework.interfaces import Handle
from kubelite.scheduler.framework.runtime import Framework
from kubelite.scheduler.registry import REGISTRY, Factory

__all__ = [
    "DEFAULT_SCHEDULER_NAME",
    "EXTENSION_POINTS",
    "Profile",
    "ProfileError",
    "build_framework",
    "default_profile",
    "load_profiles",
]

DEFAULT_SCHEDULER_NAME = "default-scheduler"
API_VERSION = "kubescheduler.config.k8s.io/v1"

# extension point -> the method a plugin must have to serve it
EXTENSION_POINTS: dict[str, str] = {
    "queueSort": "less",
    "preFilter": "pre_filter",
    "filter": "filter",
    "postFilter": "post_filter",
    "preScore": "pre_score",
    "score": "score",
    "reserve": "reserve",
    "permit": "permit",
    "bind": "bind",
}

# upstream v1.32 getDefaultPlugins (plugins without a kubelite counterpart left out)
DEFAULT_MULTI_POINT: tuple[tuple[str, int], ...] = (
    ("PrioritySort", 0),
    ("NodeUnschedulable", 0),
    ("NodeName", 0),
    ("TaintToleration", 3),
    ("NodeAffinity", 2),
    ("NodePorts", 0),
    ("NodeResourcesFit", 1),
    ("VolumeRestrictions", 0),
    ("VolumeBinding", 0),
    ("PodTopologySpread", 2),
    ("InterPodAffinity", 2),
    ("DefaultPreemption", 0),
    ("NodeResourcesBalancedAllocation", 1),
    ("ImageLocality", 1),
)


class ProfileError(ValueError):
    """A scheduler configuration that cannot be used."""


@dataclass
class Profile:
    """A resolved profile: ordered plugin names per point, score weights, args."""

    scheduler_name: str = DEFAULT_SCHEDULER_NAME
    multi_point: list[tuple[str, int]] = field(default_factory=lambda: list(DEFAULT_MULTI_POINT))
    points: dict[str, dict[str, list[Any]]] = field(default_factory=dict)
    plugin_args: dict[str, dict[str, Any]] = field(default_factory=dict)
    percentage_of_nodes_to_score: int | None = None


def default_profile() -> Profile:
    return Profile()


def _names(entries: Any, where: str) -> list[tuple[str, int]]:
    out = []
    for e in entries or ():
        if not isinstance(e, Mapping) or "name" not in e:
            raise ProfileError(f"{where}: each plugin needs a name")
        out.append((str(e["name"]), int(e.get("weight") or 0)))
    return out


def _check_known(name: str, where: str, registry: Mapping[str, Factory] = REGISTRY) -> None:
    if name != "*" and name not in registry:
        raise ProfileError(f'{where}: plugin "{name}" does not exist')


def _merge_multi_point(
    custom: Mapping[str, Any], where: str, registry: Mapping[str, Factory]
) -> list[tuple[str, int]]:
    """upstream mergePluginSet over the default multiPoint set."""
    enabled = _names(custom.get("enabled"), where + ".enabled")
    disabled = {n for n, _ in _names(custom.get("disabled"), where + ".disabled")}
    for name, _ in enabled:
        _check_known(name, where + ".enabled", registry)
    for name in disabled:
        _check_known(name, where + ".disabled", registry)
    by_name = {n: (i, (n, w)) for i, (n, w) in enumerate(enabled)}
    replaced: set[int] = set()
    out: list[tuple[str, int]] = []
    if "*" not in disabled:
        for name, weight in DEFAULT_MULTI_POINT:
            if name in disabled:
                continue
            if name in by_name:
                idx, entry = by_name[name]
                replaced.add(idx)
                out.append(entry)
            else:
                out.append((name, weight))
    out.extend(e for i, e in enumerate(enabled) if i not in replaced)
    return out


def _parse_profile(
    raw: Mapping[str, Any], global_pct: int | None, index: int, registry: Mapping[str, Factory]
) -> Profile:
    where = f"profiles[{index}]"
    plugins = raw.get("plugins") or {}
    prof = Profile(scheduler_name=raw.get("schedulerName") or DEFAULT_SCHEDULER_NAME)
    prof.multi_point = _merge_multi_point(
        plugins.get("multiPoint") or {}, where + ".plugins.multiPoint", registry
    )
    for point in EXTENSION_POINTS:
        section = plugins.get(point) or {}
        ppath = f"{where}.plugins.{point}"
        enabled = _names(section.get("enabled"), ppath + ".enabled")
        disabled = [n for n, _ in _names(section.get("disabled"), ppath + ".disabled")]
        for name, _ in enabled:
            _check_known(name, ppath + ".enabled", registry)
        for name in disabled:
            _check_known(name, ppath + ".disabled", registry)
        prof.points[point] = {"enabled": enabled, "disabled": disabled}
    for i, pc in enumerate(raw.get("pluginConfig") or ()):
        name = pc.get("name", "")
        _check_known(name, f"{where}.pluginConfig[{i}]", registry)
        prof.plugin_args[name] = dict(pc.get("args") or {})
        _check_args(name, prof.plugin_args[name], f"{where}.pluginConfig[{i}].args")
    pct = raw.get("percentageOfNodesToScore", global_pct)
    prof.percentage_of_nodes_to_score = None if pct is None else _check_pct(pct, where)
    return prof


_SCORING_STRATEGIES = ("LeastAllocated", "MostAllocated", "RequestedToCapacityRatio")


def _check_args(name: str, args: Mapping[str, Any], where: str) -> None:
    """The part of upstream's ValidateXxxArgs that would otherwise fail after start-up."""
    if name != "NodeResourcesFit":
        return
    strategy = args.get("scoringStrategy") or {}
    kind = strategy.get("type") if isinstance(strategy, Mapping) else None
    if kind and kind not in _SCORING_STRATEGIES:
        supported = ", ".join(f'"{s}"' for s in _SCORING_STRATEGIES)
        raise ProfileError(
            f'{where}.scoringStrategy.type: Unsupported value: "{kind}": '
            f"supported values: {supported}"
        )


def _check_pct(pct: Any, where: str) -> int:
    if not isinstance(pct, int) or not 0 <= pct <= 100:
        raise ProfileError(f"{where}.percentageOfNodesToScore: must be an integer in [0, 100]")
    return pct


def load_profiles(yaml_text: str, *, registry: Mapping[str, Factory] = REGISTRY) -> list[Profile]:
    """Parse a KubeSchedulerConfiguration document into profiles."""
    try:
        doc = yaml.safe_load(yaml_text) or {}
    except yaml.YAMLError as exc:
        raise ProfileError(f"not valid YAML: {' '.join(str(exc).split())}") from None
    if (
        not isinstance(doc, dict)
        or doc.get("apiVersion") != API_VERSION
        or doc.get("kind") != "KubeSchedulerConfiguration"
    ):
        raise ProfileError(f"expected apiVersion {API_VERSION}, kind KubeSchedulerConfiguration")
    global_pct = doc.get("percentageOfNodesToScore")
    if global_pct is not None:
        _check_pct(global_pct, "")
    raws = doc.get("profiles") or [{}]
    profiles = [_parse_profile(r, global_pct, i, registry) for i, r in enumerate(raws)]
    names = [p.scheduler_name for p in profiles]
    dupes = {n for n in names if names.count(n) > 1}
    if dupes:
        raise ProfileError(f"duplicate profile with scheduler name {sorted(dupes)[0]!r}")
    return profiles


def _expand(
    point: str, prof: Profile, instances: dict[str, Any]
) -> tuple[list[str], dict[str, int]]:
    method = EXTENSION_POINTS[point]
    cfg = prof.points.get(point) or {"enabled": [], "disabled": []}
    enabled: list[tuple[str, int]] = cfg["enabled"]
    disabled = set(cfg["disabled"])
    enabled_names = [n for n, _ in enabled]
    multi = [(n, w) for n, w in prof.multi_point if hasattr(instances[n], method)]
    multi_names = {n for n, _ in multi}
    weights = {n: w for n, w in multi}
    weights.update({n: w for n, w in enabled if w})
    override = [n for n in enabled_names if n in multi_names]
    rest = [
        n for n, _ in multi if n not in enabled_names and n not in disabled and "*" not in disabled
    ]
    extra = [n for n in enabled_names if n not in multi_names]
    return override + rest + extra, weights


def build_framework(
    prof: Profile, handle: Handle, *, registry: Mapping[str, Factory] = REGISTRY
) -> Framework:
    """Instantiate each plugin once and place it at every point it serves."""
    wanted = {n for n, _ in prof.multi_point}
    for cfg in prof.points.values():
        wanted.update(n for n, _ in cfg["enabled"])
    instances = {}
    for name in sorted(wanted):
        if name not in registry:
            raise ProfileError(f'plugin "{name}" does not exist')
        instances[name] = registry[name](dict(prof.plugin_args.get(name, {})), handle)
    points: dict[str, list[Any]] = {}
    weights: dict[str, int] = {}
    for point, method in EXTENSION_POINTS.items():
        names, w = _expand(point, prof, instances)
        for n in names:
            if not hasattr(instances[n], method):
                raise ProfileError(f'plugin "{n}" does not extend {point} plugin')
        points[point] = [instances[n] for n in names]
        if point == "score":
            weights = {n: (w.get(n) or 1) for n in names}
    if len(points["queueSort"]) != 1:
        raise ProfileError(
            f"profile {prof.scheduler_name!r}: exactly one queueSort plugin is required"
        )
    return Framework(
        prof.scheduler_name,
        points,
        weights,
        handle,
        percentage_of_nodes_to_score=prof.percentage_of_nodes_to_score,
    )
