"""The one registry of in-tree plugins: upstream name -> factory(args, handle)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kubelite.scheduler.framework.interfaces import Handle
from kubelite.scheduler.plugins import (
    default_preemption,
    image_locality,
    inter_pod_affinity,
    node_affinity,
    node_name,
    node_ports,
    node_resources_balanced_allocation,
    node_resources_fit,
    node_unschedulable,
    pod_topology_spread,
    priority_sort,
    taint_toleration,
    volume_binding,
    volume_restrictions,
)

__all__ = ["EVENTS", "REGISTRY", "Factory"]

Factory = Callable[[dict[str, Any], Handle], Any]

_MODULES = (
    priority_sort,
    node_unschedulable,
    node_name,
    taint_toleration,
    node_affinity,
    node_ports,
    node_resources_fit,
    volume_restrictions,
    volume_binding,
    pod_topology_spread,
    inter_pod_affinity,
    default_preemption,
    node_resources_balanced_allocation,
    image_locality,
)

REGISTRY: dict[str, Factory] = {
    priority_sort.NAME: priority_sort.new,
    node_unschedulable.NAME: node_unschedulable.new,
    node_name.NAME: node_name.new,
    taint_toleration.NAME: taint_toleration.new,
    node_affinity.NAME: node_affinity.new,
    node_ports.NAME: node_ports.new,
    node_resources_fit.NAME: node_resources_fit.new,
    volume_restrictions.NAME: volume_restrictions.new,
    volume_binding.NAME: volume_binding.new,
    pod_topology_spread.NAME: pod_topology_spread.new,
    inter_pod_affinity.NAME: inter_pod_affinity.new,
    default_preemption.NAME: default_preemption.new,
    node_resources_balanced_allocation.NAME: node_resources_balanced_allocation.new,
    image_locality.NAME: image_locality.new,
}

# Cluster events that can make a pod rejected by the plugin schedulable again.
EVENTS: dict[str, frozenset[str]] = {m.NAME: m.EVENTS for m in _MODULES}
