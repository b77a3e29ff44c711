"""`kubelite up --config FILE`: per-node capacity, labels and taints.

The file::

    nodes:
    - name: myhost-1          # optional; entries without a name apply by position
      capacity: {cpu: 2, memory: 4Gi, pods: 20}   # overrides these figures only
      labels: {zone: a}
      taints: [{key: dedicated, value: gpu, effect: NoSchedule}]

Everything is checked before anything starts; a problem is one `ConfigError`
line naming the field, worded as kube-apiserver words node validation.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import yaml

from kubelite.api import quantity
from kubelite.api.validation_meta import qualified_name, validate_labels

_NODE_KEYS = ("name", "capacity", "labels", "taints")
_TAINT_KEYS = ("key", "value", "effect")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")


class ConfigError(ValueError):
    """A cluster config kubelite refuses; the message is one line."""


def node_names(count: int) -> list[str]:
    """The names `node_agents` gives: `<hostname>`, or `<hostname>-1..N`."""
    host = socket.gethostname().split(".")[0].lower() or "kubelite"
    return [host] if count == 1 else [f"{host}-{i + 1}" for i in range(count)]


def load_cluster_config(
    text: str, count: int, machine: dict[str, str] | None = None
) -> dict[str, Any]:
    """Parse and check a cluster config; the result names every node.

    `machine` is the capacity a node has without a config: figures the file
    does not give keep these values.
    """
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {' '.join(str(exc).split())}") from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ConfigError("expected a mapping with a `nodes` list")
    _unknown(doc, ("nodes",), "")
    entries = doc.get("nodes") or []
    if not isinstance(entries, list):
        raise ConfigError("nodes: must be a list")
    names = node_names(count)
    named: dict[str, dict[str, Any]] = {}
    unnamed: list[dict[str, Any]] = []
    for i, raw in enumerate(entries):
        path = f"nodes[{i}]"
        entry = _check_node(raw, path)
        name = entry.get("name")
        if name is None:
            unnamed.append(entry)
            continue
        if name not in names:
            raise ConfigError(
                f'{path}.name: Not found: "{name}": this cluster\'s nodes are {", ".join(names)}'
            )
        if name in named:
            raise ConfigError(f'{path}.name: Duplicate value: "{name}"')
        named[name] = entry
    free = [n for n in names if n not in named]
    if len(unnamed) > len(free):
        raise ConfigError(
            f"nodes: {len(entries)} entries for {count} node(s); "
            "name the entries or start more nodes with --nodes"
        )
    positional = dict(zip(free, unnamed, strict=False))
    nodes = []
    for name in names:
        entry = named.get(name) or positional.get(name) or {}
        node: dict[str, Any] = {**entry, "name": name}
        if "capacity" in entry and machine is not None:
            node["capacity"] = {**machine, **entry["capacity"]}
        nodes.append(node)
    return {"nodes": nodes}


def _unknown(obj: dict[str, Any], allowed: tuple[str, ...], path: str) -> None:
    for key in obj:
        if key not in allowed:
            where = f"{path}.{key}" if path else str(key)
            supported = ", ".join(allowed)
            raise ConfigError(f'{where}: unknown field "{key}" (supported: {supported})')


def _check_node(raw: Any, path: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: must be a mapping")
    _unknown(raw, _NODE_KEYS, path)
    entry: dict[str, Any] = {}
    if raw.get("name") is not None:
        if not isinstance(raw["name"], str):
            raise ConfigError(f"{path}.name: must be a string")
        entry["name"] = raw["name"]
    if raw.get("capacity") is not None:
        entry["capacity"] = _check_capacity(raw["capacity"], f"{path}.capacity")
    if raw.get("labels") is not None:
        entry["labels"] = _check_labels(raw["labels"], f"{path}.labels")
    if raw.get("taints") is not None:
        entry["taints"] = _check_taints(raw["taints"], f"{path}.taints")
    return entry


def _check_capacity(raw: Any, path: str) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: must be a mapping of resource name to quantity")
    out = {}
    for name, value in raw.items():
        _first(qualified_name(str(name), f"{path}[{name}]"))
        try:
            q = quantity.parse(value)
        except quantity.QuantityError as exc:
            raise ConfigError(f'{path}[{name}]: Invalid value: "{value}": {exc}') from None
        if q.value < 0:
            raise ConfigError(
                f'{path}[{name}]: Invalid value: "{value}": must be greater than or equal to 0'
            )
        out[str(name)] = str(q)
    return out


def _check_labels(raw: Any, path: str) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: must be a mapping of label key to value")
    labels = {str(k): _scalar(v, f"{path}[{k}]") for k, v in raw.items()}
    _first(validate_labels(labels, path))
    return labels


def _check_taints(raw: Any, path: str) -> list[dict[str, str]]:
    if not isinstance(raw, list):
        raise ConfigError(f"{path}: must be a list")
    taints = []
    seen: set[tuple[str, str]] = set()
    for i, t in enumerate(raw):
        where = f"{path}[{i}]"
        if not isinstance(t, dict):
            raise ConfigError(f"{where}: must be a mapping with key, value and effect")
        _unknown(t, _TAINT_KEYS, where)
        key = _scalar(t.get("key") or "", f"{where}.key")
        if not key:
            raise ConfigError(f"{where}.key: Required value")
        _first(qualified_name(key, f"{where}.key"))
        taint = {"key": key}
        if t.get("value") is not None:
            taint["value"] = _scalar(t["value"], f"{where}.value")
            _first(validate_labels({"k": taint["value"]}, f"{where}.value"))
        effect = t.get("effect")
        if not effect:
            raise ConfigError(f"{where}.effect: Required value")
        if effect not in TAINT_EFFECTS:
            supported = ", ".join(f'"{e}"' for e in TAINT_EFFECTS)
            raise ConfigError(
                f'{where}.effect: Unsupported value: "{effect}": supported values: {supported}'
            )
        taint["effect"] = effect
        if (key, effect) in seen:
            raise ConfigError(
                f'{where}: Duplicate value: "{key}:{effect}": taints must be unique by key and effect'
            )
        seen.add((key, effect))
        taints.append(taint)
    return taints


def _scalar(value: Any, path: str) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ConfigError(f"{path}: must be a string")
    return str(value)


def _first(errs: list[Any]) -> None:
    if errs:
        raise ConfigError(str(errs[0]))


def read_cluster_config(path: Path, count: int, data_dir: Path) -> dict[str, Any]:
    """The file at `path`, checked; `OSError` when it cannot be read."""
    from kubelite.kubelet.node import machine_capacity

    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:  # saved as UTF-16 by an editor, or not text at all
        raise ConfigError(
            f"not valid UTF-8 (byte 0x{exc.object[exc.start]:02x} at offset {exc.start})"
        ) from None
    return load_cluster_config(text, count, machine_capacity(data_dir, count))
