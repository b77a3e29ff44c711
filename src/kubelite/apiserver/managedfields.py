"""Field ownership: who set which field of an object, as `metadata.managedFields` records.

Server-side apply is a contract between field managers. An applier owns the
fields of its configuration; an apply that would change a field another
manager owns fails with a 409 naming the field and the owner, unless forced
(then ownership moves to the applier); a field the applier set before and
leaves out now is removed when nobody else owns it. A plain write (PUT, PATCH,
`/scale`) never conflicts: it takes the fields it changes from their owners.

Fields are addressed as upstream's structured-merge-diff does, one path per
owned field, each step a `FieldsV1` key: `f:<name>` for a struct or map field,
`k:<json key>` for a list element identified by its merge key, `v:<json>` for
a member of a set of scalars. A map with entries owns nothing itself (its
entries are owned); an empty map, a scalar or an atomic list is one field.

Ownership is tracked from an object's first server-side apply on: writes to an
object nobody has applied leave `managedFields` as they are, which keeps the
hot paths (pod status, controller writes) free of this bookkeeping.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from kubelite.api.patch import _ANY_KIND, _KINDS, _Field
from kubelite.apiserver import errors
from kubelite.apiserver import meta as m

Path = tuple[str, ...]
Obj = dict[str, Any]

# The metadata a manager can own; name, uid, resourceVersion... belong to the server.
OWNED_METADATA = ("labels", "annotations", "finalizers", "ownerReferences")
_ELEMENT = ("element",)  # the value of a list element's own path: present or not
_ABSENT = ("absent",)
_PORT_KEYS = ("containerPort", "port")


def owned_fields(obj: Obj, kind: str, subresource: str = "") -> dict[Path, Any]:
    """Every field `obj` sets that a manager can own, with its value: a write to the
    object owns no status, one to `/status` no spec (the strategies' reset fields)."""
    spec = _KINDS.get(kind, _ANY_KIND)
    reset = "spec" if subresource == "status" else "status"
    out: dict[Path, Any] = {}
    for key, value in obj.items():
        if key in ("apiVersion", "kind", reset):
            continue
        if key == "metadata":
            value = {k: v for k, v in (value or {}).items() if k in OWNED_METADATA}
            if not value:
                continue
        _walk(value, (f"f:{key}",), spec.child(key), out)
    return out


def _walk(value: Any, path: Path, spec: _Field, out: dict[Path, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, child in value.items():
            _walk(child, (*path, f"f:{key}"), spec.child(key), out)
        return
    if isinstance(value, list) and value and _keyed(value, spec):
        for item in value:
            element = (*path, "k:" + _json(element_key(item, spec.merge_key)))
            out[element] = _ELEMENT
            for key, child in item.items():
                _walk(child, (*element, f"f:{key}"), spec.child(key), out)
        return
    if isinstance(value, list) and value and _scalar_set(value, spec):
        for item in value:
            out[(*path, "v:" + _json(item))] = _ELEMENT
        return
    out[path] = value


def _keyed(items: list[Any], spec: _Field) -> bool:
    """A list merged by key: each element is a field of its own."""
    key = spec.merge_key
    return bool(key) and all(isinstance(item, dict) and key in item for item in items)


def _scalar_set(items: list[Any], spec: _Field) -> bool:
    """A merged list of scalars (finalizers): each value is a field of its own."""
    if "merge" not in spec.strategy or spec.merge_key:
        return False
    return all(not isinstance(item, dict | list) for item in items)


def element_key(item: Obj, merge_key: str) -> Obj:
    key = {merge_key: item.get(merge_key)}
    if merge_key in _PORT_KEYS:  # ports are keyed by port and protocol
        key["protocol"] = item.get("protocol") or "TCP"
    return key


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


# ---- FieldsV1 ----------------------------------------------------------------------


def to_fields_v1(paths: set[Path] | dict[Path, Any]) -> Obj:
    """The `FieldsV1` trie of a set of paths; list elements carry `.` as upstream's do."""
    root: Obj = {}
    for path in sorted(paths):
        node = root
        for step in path:
            node = node.setdefault(step, {})
    for path in paths:
        node = root
        for step in path:
            node = node[step]
        if path[-1].startswith("k:") or node:
            node["."] = {}
    return root


def paths_of(fields: Any, prefix: Path = ()) -> set[Path]:
    """The paths a `FieldsV1` trie owns."""
    out: set[Path] = set()
    if not isinstance(fields, dict):
        return out
    for step, child in fields.items():
        if step == ".":
            continue
        path = (*prefix, step)
        if not child or (isinstance(child, dict) and "." in child):
            out.add(path)
        out |= paths_of(child, path)
    return out


def entry_paths(entry: Obj) -> set[Path]:
    return paths_of(entry.get("fieldsV1"))


def make_entry(
    manager: str, operation: str, api_version: str, paths: set[Path], subresource: str = ""
) -> Obj:
    entry: Obj = {
        "manager": manager,
        "operation": operation,
        "apiVersion": api_version,
        "time": m.now_rfc3339(time.time()),
        "fieldsType": "FieldsV1",
        "fieldsV1": to_fields_v1(paths),
    }
    if subresource:
        entry["subresource"] = subresource
    return entry


def _is(entry: Obj, manager: str, operation: str, subresource: str) -> bool:
    return (
        entry.get("manager") == manager
        and entry.get("operation") == operation
        and (entry.get("subresource") or "") == subresource
    )


def _without(entries: list[Obj], taken: set[Path]) -> list[Obj]:
    """Other managers' entries once `taken` moved away from them; emptied ones go."""
    out = []
    for entry in entries:
        paths = entry_paths(entry)
        if not paths & taken:
            out.append(entry)
        elif paths - taken:
            out.append({**entry, "fieldsV1": to_fields_v1(paths - taken)})
    return out


# ---- writes ------------------------------------------------------------------------


def track_update(
    new: Obj, old: Obj, *, kind: str, api_version: str, manager: str, subresource: str = ""
) -> None:
    """A PUT/PATCH/scale write: the manager takes the fields it changed (upstream's Update)."""
    new_meta = m.meta(new)
    entries = new_meta.get("managedFields")
    if entries == [{}]:  # upstream's way to reset them; tracking stops until an apply
        new_meta.pop("managedFields")
        return
    if not entries:  # a body without them (or with []) keeps the stored ones, as upstream
        entries = m.meta(old).get("managedFields")
        if entries:
            new_meta["managedFields"] = entries
    if not entries or not isinstance(entries, list) or subresource == "status":
        return
    before, after = owned_fields(old, kind), owned_fields(new, kind)
    changed = {p for p, v in after.items() if before.get(p, _ABSENT) != v}
    removed = set(before) - set(after)
    if not changed and not removed:
        new_meta["managedFields"] = entries
        return
    mine = next((e for e in entries if _is(e, manager, "Update", subresource)), None)
    others = _without([e for e in entries if e is not mine], changed | removed)
    paths = ((entry_paths(mine) if mine else set()) - removed) | changed
    if paths:
        others.append(make_entry(manager, "Update", api_version, paths, subresource))
    new_meta["managedFields"] = others


def apply_ownership(
    live: Obj,
    merged: Obj,
    applied: Obj,
    *,
    kind: str,
    api_version: str,
    manager: str,
    force: bool,
    subresource: str = "",
) -> Obj:
    """Server-side apply of `applied` onto `live`, `merged` being the two merged.

    Raises the upstream 409 on conflicts unless `force`; returns `merged` with the
    fields the applier dropped removed and `managedFields` rewritten.
    """
    entries = [e for e in (m.meta(live).get("managedFields") or []) if isinstance(e, dict)]
    mine = next((e for e in entries if _is(e, manager, "Apply", subresource)), None)
    others = [e for e in entries if e is not mine]
    wanted = owned_fields(applied, kind, subresource)
    before = owned_fields(live, kind, subresource)
    after = owned_fields(merged, kind, subresource)
    changing = {p for p in wanted if before.get(p, _ABSENT) != after.get(p, _ABSENT)}
    conflicts = [(e, p) for e in others for p in sorted(entry_paths(e) & changing)]
    if conflicts and not force:
        raise conflict_error(conflicts)
    others = _without(others, changing)
    still_owned = set().union(*(entry_paths(e) for e in others))
    dropped = (entry_paths(mine) if mine else set()) - set(wanted) - still_owned
    for path in sorted(dropped, key=len):
        _remove(merged, path)
    entry = make_entry(manager, "Apply", api_version, set(wanted), subresource)
    unchanged = m.same_content(
        {**merged, "metadata": {**m.meta(merged), "managedFields": None}},
        {**live, "metadata": {**m.meta(live), "managedFields": None}},
    )
    if mine is not None and unchanged and mine.get("fieldsV1") == entry["fieldsV1"]:
        entry = mine  # a no-op apply keeps its time, so nothing is written
    # The applier's entry keeps its place among the others; a new one goes last.
    place = entries.index(mine) if mine is not None else len(entries)
    before_mine = len(_without([e for e in entries[:place] if e is not mine], changing))
    others.insert(before_mine, entry)
    m.meta(merged)["managedFields"] = others
    return merged


def _remove(obj: Any, path: Path) -> None:
    """Delete the field at `path`; a path already gone is fine."""
    node = obj
    for step in path[:-1]:
        node = _step(node, step)
        if node is None:
            return
    last = path[-1]
    if isinstance(node, dict) and last.startswith("f:"):
        node.pop(last[2:], None)
    elif isinstance(node, list) and last.startswith(("k:", "v:")):
        node[:] = [item for item in node if not _matches(item, last)]


def _step(node: Any, step: str) -> Any:
    if isinstance(node, dict) and step.startswith("f:"):
        return node.get(step[2:])
    if isinstance(node, list) and step.startswith("k:"):
        return next((item for item in node if _matches(item, step)), None)
    return None


def _matches(item: Any, step: str) -> bool:
    wanted = orjson.loads(step[2:])
    if step.startswith("v:"):
        return bool(item == wanted)
    if not isinstance(item, dict):
        return False
    key = next(iter(wanted))
    return element_key(item, key) == wanted


# ---- the conflict error ------------------------------------------------------------


def path_string(path: Path) -> str:
    """A path as upstream prints it: `.spec.template.spec.containers[name="c"].image`."""
    out = []
    for step in path:
        if step.startswith("f:"):
            out.append("." + step[2:])
        elif step.startswith("k:"):
            key = orjson.loads(step[2:])
            out.append("[" + ",".join(f"{k}={_value(v)}" for k, v in sorted(key.items())) + "]")
        else:
            out.append(f"[={_value(orjson.loads(step[2:]))}]")
    return "".join(out)


def _value(value: Any) -> str:
    return _json(value)


def _manager(entry: Obj) -> str:
    text = _json(str(entry.get("manager", "")))
    if entry.get("subresource"):
        text += f" with subresource {_json(entry['subresource'])}"
    if entry.get("operation") == "Update":
        text += f" using {entry.get('apiVersion', '')}"
    return text


def conflict_error(conflicts: list[tuple[Obj, Path]]) -> errors.Conflict:
    causes = [
        {
            "reason": "FieldManagerConflict",
            "message": f"conflict with {_manager(entry)}",
            "field": path_string(path),
        }
        for entry, path in conflicts
    ]
    if len(conflicts) == 1:
        entry, path = conflicts[0]
        message = (
            f"Apply failed with 1 conflict: conflict with {_manager(entry)}: {path_string(path)}"
        )
    else:
        by_manager: dict[str, list[str]] = {}
        for entry, path in conflicts:
            by_manager.setdefault(_manager(entry), []).append(path_string(path))
        lines = []
        for name in sorted(by_manager):
            lines.append(f"conflicts with {name}:")
            lines.extend(f"- {p}" for p in by_manager[name])
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return errors.Conflict(message, details={"causes": causes})
