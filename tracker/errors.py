"""The one exception family of the tracker; the CLI catches TrackerError once.

    TrackerError                 base: the message is shown to the user as one sentence
    ├── NotFoundError            an unknown patient, record, protocol or lesion
    ├── ValidationError          bad input; carries every problem with its location
    ├── NeedsConfirmation        a value a person entered looks like an entry error: ask, then retry
    ├── ConflictError            a duplicate record, or a change that clashes with stored data
    ├── ProtocolError            a protocol file that does not describe a valid protocol
    ├── ConfigError              a database URL, path or setting that cannot be used
    └── DatabaseError            the database refused: newer schema, read-only file, full disk

Messages never contain patient values or labels beyond the internal id or the label the
user typed themselves; they say what happened and what to do next.
"""

from __future__ import annotations


class TrackerError(Exception):
    """An error the user can act on; its message is displayed as is."""


class NotFoundError(TrackerError):
    """Something named by the user does not exist."""


class ConflictError(TrackerError):
    """The change would duplicate or contradict a stored record."""


class ProtocolError(TrackerError):
    """A protocol document is invalid or unknown."""


class ConfigError(TrackerError):
    """A setting (database URL, home folder) cannot be used."""


class DatabaseError(TrackerError):
    """The database cannot be used as asked (schema too new, read-only, disk full)."""


class ValidationError(TrackerError):
    """Bad input. `problems` lists every problem as (location, message)."""

    def __init__(self, problems: list[tuple[str, str]] | str, location: str = "") -> None:
        if isinstance(problems, str):
            problems = [(location, problems)]
        self.problems: list[tuple[str, str]] = problems
        super().__init__(self._render())

    def _render(self) -> str:
        lines = [f"{loc}: {msg}" if loc else msg for loc, msg in self.problems]
        if len(lines) == 1:
            return lines[0]
        return f"{len(lines)} problems, nothing was written:\n" + "\n".join(f"  {line}" for line in lines)


class NeedsConfirmation(TrackerError):
    """A value a person entered looks like an entry error: nothing was written.
    `questions` lists (field, question) to put to the person ("Was it 14 mm?"); an interface
    that asks them and hears yes calls again with `confirm=True`, which stores the entry verified."""

    def __init__(self, questions: list[tuple[str, str]]) -> None:
        self.questions = questions
        asked = " ".join(q for _, q in questions)
        super().__init__(f"{asked} Nothing was written; if the entry is right, give it again with --confirm")
