"""The little XML the Query protocol needs: escaping text, nothing else.

Responses are written as string fragments by precompiled per-shape writers
(``query.py``); no DOM library is involved, so escaping is the whole XML story.
"""

from __future__ import annotations


def escape_text(text: str) -> str:
    """Escape ``text`` for an XML element body.

    ``&``, ``<`` and ``>`` must be escaped; ``\\r`` is written as a character reference
    because XML parsers (botocore's expat) normalise a literal ``\\r\\n`` to ``\\n`` and
    the value would not round-trip. The common case (nothing to escape) costs four
    substring scans and no allocation.
    """
    if "&" in text or "<" in text or ">" in text or "\r" in text:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#13;")
    return text


def escape_attribute(text: str) -> str:
    """Escape ``text`` for a double-quoted XML attribute value."""
    return escape_text(text).replace('"', "&quot;")
