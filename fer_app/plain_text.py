"""Show user-supplied text (file names, model names, paths, error messages) verbatim in Streamlit's Markdown.

Streamlit renders every title, alert and caption as Markdown, so an upload named ``![x](http://host/p.png).png``
would make each viewer's browser fetch that URL, and ``**bold**``, ``$x$`` (KaTeX) or ``:material/icon:`` names
would render. :func:`literal` wraps text in a Markdown code span, the one construct whose content CommonMark shows
character for character: no links, images, emphasis, maths or emoji are parsed inside it.
"""

from __future__ import annotations

import re

__all__ = ["literal"]

_BACKTICK_RUNS = re.compile(r"`+")


def literal(text: object) -> str:
    """Markdown that shows ``str(text)`` as it is (in code style), wherever Streamlit accepts Markdown.

    The fence is one backtick longer than the longest run inside the text, so the text cannot close it; the
    padding spaces are the ones CommonMark strips from a code span; line breaks become spaces (a code span is one
    line). Streamlit rewrites ``:material/`` to ``:material_`` in the source before parsing, so such a name shows
    that way - as text, not as an icon.
    """
    value = " ".join(str(text).splitlines()) or " "
    fence = "`" * (max((len(run) for run in _BACKTICK_RUNS.findall(value)), default=0) + 1)
    return f"{fence} {value} {fence}"
