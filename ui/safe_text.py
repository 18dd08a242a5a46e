"""Anything a stranger typed, shown back as inert text.

Values from a link, a pin or a form reach the page only through ``quoted``: a Markdown
code span, so no link, image, HTML, emoji shortcode or Streamlit directive in them is
rendered, and cut to a readable length. ``capped`` keeps a list of warnings short.
Streamlit-free, so the URL parsing that uses it can be tested directly.
"""
from __future__ import annotations

import re

MAX_SHOWN_CHARS = 40
MAX_WARNINGS = 8


def quoted(value: object, limit: int = MAX_SHOWN_CHARS) -> str:
    """``value`` as a Markdown code span of at most ``limit`` characters (longer ones say how long they were)."""
    text = "".join(char if char.isprintable() else " " for char in str(value))
    suffix = ""
    if len(text) > limit:
        text, suffix = text[:limit] + "…", f" ({len(text):,} characters)"
    if not text.strip():
        return "(empty)" + suffix
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}{suffix}"


def capped(warnings: list[str], limit: int = MAX_WARNINGS) -> list[str]:
    """The first ``limit`` warnings, then one line saying how many more there were."""
    if len(warnings) <= limit:
        return warnings
    return warnings[:limit] + [f"… and {len(warnings) - limit:,} more."]


def chart_text(value: object, limit: int = MAX_SHOWN_CHARS) -> str:
    """``value`` for a Plotly label (titles, legends, hover text render a subset of HTML): tags and entities
    escaped, template braces broken up, cut to ``limit`` characters."""
    import html

    text = " ".join(str(value).split())
    text = text[:limit] + "…" if len(text) > limit else text
    return html.escape(text).replace("%{", "% {")
