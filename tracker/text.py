"""Text that can be stored: on SQLite and on PostgreSQL alike, and as UTF-8.

PostgreSQL refuses a NUL character in text (SQLite keeps it, so a history moved from SQLite to
the server would fail there), and a lone UTF-16 surrogate (`"\\ud800"` in JSON, or a byte that is
not UTF-8 on the command line, which Python hands over as one) cannot be written as UTF-8 at
all. Both are refused where text enters: the command line and every file read."""

from __future__ import annotations

import re

#: a NUL, or a surrogate code point (never part of a Python str decoded from valid UTF-8)
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
#: the same written as JSON escapes: \u0000, or a surrogate escape that is not half of a pair
_UNSTORABLE_ESCAPE = re.compile(
    r"(?<!\\)(?:\\\\)*\\u(?:0000|d[89ab][0-9a-f]{2}(?!\\ud[c-f][0-9a-f]{2})|d[c-f][0-9a-f]{2})", re.I)
_PAIRED_LOW = re.compile(r"\\ud[89ab][0-9a-f]{2}\\ud[c-f][0-9a-f]{2}", re.I)


def unstorable_at(text: str) -> int | None:
    """Where `text` first holds a character that cannot be stored (NUL or a lone surrogate), or None."""
    m = _UNSTORABLE.search(text)
    return None if m is None else m.start()


def unstorable_in_file(text: str) -> int | None:
    """Where a file's text first holds such a character, literally or as a JSON escape (the low
    half of a surrogate pair is not counted), or None."""
    at = unstorable_at(text)
    paired = {m.end() - 6 for m in _PAIRED_LOW.finditer(text)} if "\\u" in text else set()
    escaped = next((m.start() for m in _UNSTORABLE_ESCAPE.finditer(text) if m.end() - 6 not in paired), None) \
        if "\\u" in text else None
    found = [i for i in (at, escaped) if i is not None]
    return min(found) if found else None


UNSTORABLE = ("a NUL character or a character that is not UTF-8 text (such as half of a surrogate pair "
              "\\ud800), which cannot be stored")

#: the most of a value a message repeats
QUOTE_LIMIT = 80


def quoted(value: object) -> str:
    """`value` as a message quotes it: its repr, cut to `QUOTE_LIMIT` characters (a 5 MB field of
    a file never becomes a 5 MB message)."""
    text = repr(value)
    if len(text) <= QUOTE_LIMIT:
        return text
    if isinstance(value, str):
        return repr(value[:QUOTE_LIMIT - 3]) + "…"
    return text[:QUOTE_LIMIT - 1] + "…"
