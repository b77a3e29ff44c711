"""The dependency graph: callers left of callees, cycles drawn without looping forever."""

from __future__ import annotations

from kubelite.dashboard.graph import Edge, edges_of, layout, svg


def _edges(*pairs: tuple[str, str]) -> list[Edge]:
    return [Edge(p, c, 10, 0) for p, c in pairs]


def test_columns_follow_the_longest_call_path() -> None:
    # gateway -> orders -> payments, and gateway -> payments directly:
    # payments sits in column 2, after orders, not in column 1.
    places = layout(_edges(("gateway", "orders"), ("orders", "payments"), ("gateway", "payments")))
    assert {name: col for name, (col, _) in places.items()} == {
        "gateway": 0,
        "orders": 1,
        "payments": 2,
    }


def test_a_cycle_is_laid_out() -> None:
    places = layout(_edges(("a", "b"), ("b", "a"), ("b", "c")))
    assert places["a"][0] == 0 and places["b"][0] == 1 and places["c"][0] == 2


def test_two_services_in_one_column_get_different_rows() -> None:
    places = layout(_edges(("gw", "x"), ("gw", "y")))
    assert {places["x"][1], places["y"][1]} == {0, 1}


def test_svg_names_services_and_counts() -> None:
    links = [
        {"parent": "frontend", "child": "orders", "callCount": 42, "errorCount": 3},
        {"parent": "orders", "child": "orders", "callCount": 1, "errorCount": 0},
        {"parent": "<evil>", "child": "orders", "callCount": 1, "errorCount": 0},
    ]
    out = svg(edges_of(links), href=lambda name: f"/traces?service={name}")
    assert out.startswith("<svg")
    assert ">frontend</text>" in out and ">orders</text>" in out
    assert "42 / 3 err" in out and 'class="edge err"' in out
    assert "<evil>" not in out and "&lt;evil&gt;" in out


def test_no_links_no_svg() -> None:
    assert svg([]) == ""
