"""The registry's dynamic types: set per owner, built-ins win, listeners hear the groups."""

from __future__ import annotations

from kubelite.api.crd.types import CustomResource
from kubelite.api.registry import RESOURCES, Registry, ResourceType


def custom(group: str, kind: str, plural: str, owner: str = "x") -> ResourceType:
    info = CustomResource(owner, {}, "v1", kind.lower(), kind + "List")
    return ResourceType(group, "v1", kind, plural, True, custom=info)


def test_dynamic_types_come_and_go() -> None:
    registry = Registry(RESOURCES)
    heard: list[frozenset[str]] = []
    registry.subscribe(heard.append)
    widget = custom("example.com", "Widget", "widgets")
    registry.set_dynamic("widgets.example.com", [widget])
    assert registry.by_path("example.com", "v1", "widgets") is widget
    assert registry.by_kind("example.com/v1", "Widget") is widget
    assert "example.com" in registry.groups()
    assert heard == [frozenset({"example.com"})]
    registry.set_dynamic("widgets.example.com", [widget])  # unchanged: nobody is told
    assert len(heard) == 1
    registry.set_dynamic("widgets.example.com", ())
    assert registry.by_path("example.com", "v1", "widgets") is None
    assert "example.com" not in registry.groups()
    assert registry.resources == RESOURCES


def test_builtin_types_win_a_clash() -> None:
    registry = Registry(RESOURCES)
    registry.set_dynamic("pods.x", [custom("", "Pod", "pods")])
    rt = registry.by_path("", "v1", "pods")
    assert rt is not None and rt.custom is None


def test_custom_names() -> None:
    rt = custom("example.com", "Widget", "widgets")
    assert (rt.singular, rt.list_kind) == ("widget", "WidgetList")
