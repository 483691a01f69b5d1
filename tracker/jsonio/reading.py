"""Reading JSON text: a file as UTF-8 text that can be stored, parsed with exact numbers and no
repeated key, and a parse error as one sentence with its line and column."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

from tracker.errors import ValidationError
from tracker.text import UNSTORABLE, quoted, unstorable_in_file


def read_text(path: Path) -> str:
    """A text file's contents (a UTF-8 byte-order mark dropped); a file that cannot be read is one
    clear error that says why."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ValidationError(f"file {path} does not exist", "FILE") from None
    except IsADirectoryError:
        raise ValidationError(f"{path} is a folder; give a file", "FILE") from None
    except UnicodeDecodeError:
        raise ValidationError(f"{path.name} is not UTF-8 text; save it as UTF-8 and try again", "FILE") from None
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror or exc}", "FILE") from None
    at = unstorable_in_file(text)
    if at is not None:  # PostgreSQL refuses a NUL, UTF-8 a lone surrogate: refused here, on every database
        raise ValidationError(f"{path.name} line {text.count(chr(10), 0, at) + 1} holds {UNSTORABLE}; remove it "
                              "and try again", "FILE")
    return text


class RepeatedKeyError(ValueError):
    """A JSON object that names a key twice (the decoder alone would keep the last value silently)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"an object gives {quoted(key)} twice")
        self.key = key if len(key) <= 60 else key[:60] + "…"
        self.where: str | None = None  # the part of the file holding it ("patients[700]", "scans"), when known
        self.line: int | None = None  # the line that part starts on


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """object_pairs_hook: a dict, or RepeatedKeyError for a key given twice in one object."""
    d = dict(pairs)
    if len(d) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise RepeatedKeyError(k)
            seen.add(k)
    return d


def loads(text: str) -> Any:
    """JSON with exact decimals, refusing a key given twice in one object."""
    return json.loads(text, parse_float=Decimal, object_pairs_hook=unique_keys)


def read_json(path: Path) -> Any:
    """A JSON file with exact decimals; a malformed file is one clear error with its line."""
    text = read_text(path)
    try:
        return loads(text)
    except (ValueError, RecursionError) as exc:
        raise unreadable_json(path.name, exc) from None


def unreadable_json(name: str, exc: ValueError | RecursionError) -> ValidationError:
    """The one-sentence error for a text the JSON decoder refused: where, for a syntax error;
    what, for a key given twice, a number of thousands of digits or arrays nested too deep."""
    if isinstance(exc, json.JSONDecodeError):
        return ValidationError(f"{name} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})", "FILE")
    if isinstance(exc, RepeatedKeyError):
        where = f" in {exc.where} (starting on line {exc.line})" if exc.where else ""
        return ValidationError(f"{name}: an object{where} gives {quoted(exc.key)} twice; keep one of the two values",
                               "FILE")
    detail = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
    return ValidationError(f"{name} cannot be read as JSON ({detail})", "FILE")
