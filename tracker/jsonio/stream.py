"""The document stream: the patient documents of a JSON text decoded one at a time, so a 100 MB
cohort is never held whole."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from tracker.errors import ValidationError
from tracker.jsonio.reading import RepeatedKeyError, unique_keys, unreadable_json
from tracker.jsonio.schemacheck import location
from tracker.text import quoted


class DocumentStream:
    """The patient documents of a JSON text, decoded one at a time (a 100 MB cohort is never held
    as Python objects all at once): a single patient document, a list of them, or a cohort
    `{"schema_version": 1, "patients": [...]}`. Iterating yields (location, document); after
    it, `wrapper` is the cohort object without its patients (None for the other two shapes), and
    `position` tells how many characters have been read (for a progress bar). `text_of_last()`
    is the text of the document last yielded, as the file gives it. A malformed text raises
    ValidationError naming its line and column."""

    _decoder = json.JSONDecoder(parse_float=Decimal, object_pairs_hook=unique_keys)

    def __init__(self, text: str, name: str) -> None:
        self.text = text
        self.name = name
        self.position = 0
        self.wrapper: dict[str, Any] | None = None
        self._last = (0, 0)  # where the document last yielded starts and ends in the text

    def text_of_last(self) -> str:
        """The JSON text of the document last yielded, exactly as the file gives it."""
        return self.text[self._last[0]:self._last[1]]

    def __iter__(self) -> Iterator[tuple[list[Any], Any]]:
        try:
            yield from self._documents()
        except (ValueError, RecursionError) as exc:
            raise unreadable_json(self.name, exc) from None

    def _skip(self, pos: int) -> int:
        text = self.text
        while pos < len(text) and text[pos] in " \t\n\r":
            pos += 1
        return pos

    def _value(self, pos: int, where: str = "(document)") -> tuple[Any, int]:
        start = self._skip(pos)
        try:
            value, end = self._decoder.raw_decode(self.text, start)
        except RepeatedKeyError as exc:
            exc.where, exc.line = where, self.text.count("\n", 0, start) + 1
            raise
        self.position = end
        return value, end

    def _expect(self, pos: int, what: str) -> None:
        found = self.text[pos:pos + 1]
        if not found or found not in what:
            names = " or ".join(repr(c) for c in what)
            raise json.JSONDecodeError(f"Expecting {names}", self.text, pos)

    def _array(self, pos: int, where: list[Any]) -> Iterator[tuple[list[Any], Any]]:
        """The items of the array opening at `pos`; sets `self.position` past its ']'."""
        pos = self._skip(pos + 1)
        i = 0
        if self.text[pos:pos + 1] == "]":
            self.position = pos + 1
            return
        while True:
            start = self._skip(pos)
            item, pos = self._value(start, location([*where, i]))
            self._last = (start, pos)
            yield [*where, i], item
            i += 1
            pos = self._skip(pos)
            self._expect(pos, ",]")
            if self.text[pos] == "]":
                self.position = pos + 1
                return
            pos += 1

    def _documents(self) -> Iterator[tuple[list[Any], Any]]:
        text = self.text
        pos = self._skip(0)
        if text[pos:pos + 1] == "[":
            yield from self._array(pos, [])
        elif text[pos:pos + 1] == "{":
            yield from self._object(pos)
        else:
            value, end = self._value(pos)
            self._last = (pos, end)
            yield [], value
        end = self._skip(self.position)
        if end < len(text):
            raise json.JSONDecodeError("Extra data", text, end)

    def _object(self, pos: int) -> Iterator[tuple[list[Any], Any]]:
        """A top-level object: its "patients" array is streamed; the other members are kept."""
        text = self.text
        head: dict[str, Any] = {}
        opening = pos
        pos = self._skip(pos + 1)
        streamed = False
        if text[pos:pos + 1] == "}":
            self.position = pos + 1
        while text[pos:pos + 1] != "}":
            self._expect(pos, '"')
            key, pos = self._value(pos)
            if key in head:
                shown = key if len(key) <= 60 else key[:60] + "…"
                raise ValidationError(f"{quoted(shown)} appears twice at the top of {self.name}; keep one", "FILE")
            pos = self._skip(pos)
            self._expect(pos, ":")
            pos = self._skip(pos + 1)
            if key == "patients" and text[pos:pos + 1] == "[":
                yield from self._array(pos, ["patients"])
                head[key], pos, streamed = [], self.position, True
            else:
                head[key], pos = self._value(pos, str(key))
            pos = self._skip(pos)
            self._expect(pos, ",}")
            if text[pos] == "}":
                self.position = pos + 1
                break
            pos = self._skip(pos + 1)
            self._expect(pos, '"')
        if streamed or "patients" in head:  # a cohort ("patients" not a list: the wrapper's check names it)
            self.wrapper = head
        else:
            self._last = (opening, self.position)
            yield [], head
