"""A tiny HTML builder that escapes by default.

Everything the dashboard shows comes from users (pod names, labels, log lines,
span tags), so text is escaped unless it is already `Markup` — the only way to
put raw HTML on a page is to build it with these helpers. No template engine:
the pages are small and this keeps the dashboard free of dependencies.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from urllib.parse import urlencode


class Markup(str):
    """A string that is already safe HTML."""

    __slots__ = ()


def esc(value: object) -> Markup:
    """Escaped text; `Markup` passes through unchanged, None is empty."""
    if isinstance(value, Markup):
        return value
    if value is None:
        return Markup("")
    return Markup(html.escape(str(value), quote=True))


def join(parts: Iterable[object], sep: str = "") -> Markup:
    return Markup(sep.join(esc(p) for p in parts))


def _flatten(children: Sequence[object]) -> Markup:
    out: list[str] = []
    for child in children:
        if isinstance(child, (list, tuple)) or (
            not isinstance(child, (str, bytes)) and hasattr(child, "__iter__")
        ):
            out.append(_flatten(list(child)))  # type: ignore[arg-type]
        else:
            out.append(esc(child))
    return Markup("".join(out))


def tag(element: str, /, *children: object, **attrs: object) -> Markup:
    """`<element attrs>children</element>`; `cls=` is `class=`, `data_x=` is `data-x=`.

    An attribute whose value is None or False is left out; True renders bare.
    """
    rendered = []
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        attr = "class" if key == "cls" else key.rstrip("_").replace("_", "-")
        rendered.append(f" {attr}" if value is True else f' {attr}="{esc(value)}"')
    open_tag = f"<{element}{''.join(rendered)}>"
    if element in ("br", "input", "meta", "hr"):
        return Markup(open_tag)
    return Markup(f"{open_tag}{_flatten(children)}</{element}>")


def link(href: str, /, *children: object, **attrs: object) -> Markup:
    return tag("a", *children, href=href, **attrs)


def url(path: str, **params: object) -> str:
    """`path?params`, leaving out empty parameters."""
    kept = {k: str(v) for k, v in params.items() if v not in (None, "")}
    return f"{path}?{urlencode(kept)}" if kept else path


def badge(text: str, tone: str = "") -> Markup:
    """A coloured pill; `tone` is one of ok, warn, bad, muted or empty."""
    return tag("span", text, cls=f"badge {tone}".strip())


def table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], *, empty: str = "None."
) -> Markup:
    body = [tag("tr", *(tag("td", cell) for cell in row)) for row in rows]
    if not body:
        return tag("p", empty, cls="muted")
    head = tag("tr", *(tag("th", h) for h in headers))
    return tag("table", tag("thead", head), tag("tbody", *body))


def dl(pairs: Iterable[tuple[str, object]]) -> Markup:
    """A compact key/value list for an object's header."""
    return tag("dl", *(Markup(tag("dt", k) + tag("dd", v)) for k, v in pairs))


def section(title: str, *children: object, id: str | None = None) -> Markup:
    return tag("section", tag("h2", title), *children, id=id)


def message(text: str, tone: str = "warn") -> Markup:
    """A short boxed notice: errors and "unavailable" states render as this, never a traceback."""
    return tag("div", text, cls=f"notice {tone}", role="status")
