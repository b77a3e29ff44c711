"""The HTML builder escapes everything that is not built with it."""

from __future__ import annotations

import pytest

from kubelite.dashboard.html import Markup, esc, link, table, tag, url


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        ('a"b', "a&quot;b"),
        (None, ""),
        (3, "3"),
        (Markup("<b>x</b>"), "<b>x</b>"),
    ],
    ids=["script", "quote", "none", "int", "markup-passes"],
)
def test_esc(value: object, expected: str) -> None:
    assert esc(value) == expected


def test_tag_escapes_children_and_attributes() -> None:
    out = tag("td", "<img src=x>", title='"><script>', cls="c", data_x="1", hidden=True, alt=None)
    assert out == (
        '<td title="&quot;&gt;&lt;script&gt;" class="c" data-x="1" hidden>&lt;img src=x&gt;</td>'
    )


def test_name_is_an_ordinary_attribute() -> None:
    assert (
        tag("select", tag("option", "a"), name="ns")
        == '<select name="ns"><option>a</option></select>'
    )


def test_nested_lists_flatten() -> None:
    assert (
        tag("ul", [tag("li", "a"), [tag("li", "<b>")]]) == "<ul><li>a</li><li>&lt;b&gt;</li></ul>"
    )


def test_link_and_url() -> None:
    assert url("/pods", ns="", selector="app=web") == "/pods?selector=app%3Dweb"
    assert url("/pods") == "/pods"
    assert link("/x?a=1&b=2", "go") == '<a href="/x?a=1&amp;b=2">go</a>'


def test_empty_table_says_so() -> None:
    assert table(["a"], [], empty="No pods.") == '<p class="muted">No pods.</p>'
