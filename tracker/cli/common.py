"""What every command shares: settings from the context, option types, dates and output."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from enum import Enum
from typing import Annotated, Any

import typer

from tracker import config, jsonio
from tracker.config import Settings
from tracker.domain.checks import EARLIEST, LATEST
from tracker.domain.dates import parse_iso_date
from tracker.errors import ValidationError


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


class ScheduleFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"
    ics = "ics"


FormatOption = Annotated[Format, typer.Option("--format", "-f", help="table for people; json or csv for programs.")]
AsOfOption = Annotated[
    str | None, typer.Option("--as-of", help="Evaluate as of this date (YYYY-MM-DD); default today.")
]


def settings(ctx: typer.Context) -> Settings:
    g = ctx.find_root().obj
    return config.resolve(getattr(g, "db", None), getattr(g, "user", None))


def parse_date(text: str, option: str) -> date:
    """A date as YYYY-MM-DD; `option` names the thing in the error ("the date", "--as-of")."""
    try:
        return parse_iso_date(text)
    except ValueError:
        raise ValidationError(f"'{text}' is not a date that exists; use YYYY-MM-DD, for example 2025-12-31",
                              option) from None


def as_of(text: str | None) -> date:
    """The as-of date: the option, or today (the only place the clock is read)."""
    if text is None:
        return date.today()
    if not text.strip():
        raise ValidationError("is empty; give a date as YYYY-MM-DD, or leave the option out for today",
                              "--as-of")
    d = parse_date(text, "--as-of")
    if not EARLIEST <= d <= LATEST:
        raise ValidationError(f"{d.isoformat()} is outside the years {EARLIEST.year} to {LATEST.year}; "
                              "check the date", "--as-of")
    return d


def interactive() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


def need(value: Any, option: str, question: str, parse: Callable[[str], Any] = str) -> Any:
    """A required value, parsed: asked for (again, after a bad answer) in a terminal; an error in scripts."""
    if value is not None and value != "":
        return _parsed(parse, value, option)
    if not interactive():
        raise ValidationError(f"{option} is required", option)
    return ask(question, lambda text: _parsed(parse, text, option))


def ask(question: str, parse: Callable[[str], Any], *, skippable: bool = False) -> Any:
    """The answer to `question`, parsed, asked again after a bad answer (the prompt and the
    explanation go to stderr: stdout is data). A skippable question takes "skip" (or an empty
    line) for "not said" and returns None: never a default that reads as an answer."""
    while True:
        text = typer.prompt(question + (" (or skip)" if skippable else ""), default="" if skippable else None,
                            show_default=False, err=True)
        if skippable and text.strip().lower() in ("", "skip"):
            return None
        try:
            return parse(text)
        except ValidationError as exc:
            typer.echo(f"  {exc}", err=True)


def yes_no(text: str) -> bool:
    """A yes or no answer; anything else is asked again."""
    answer = text.strip().lower()
    if answer in ("y", "yes"):
        return True
    if answer in ("n", "no"):
        return False
    raise ValidationError("answer yes or no")


def _parsed(parse: Callable[[str], Any], value: Any, option: str) -> Any:
    try:
        return parse(value)
    except ValueError:
        raise ValidationError(f"'{value}' is not a valid value", option) from None


def choice(enum: type[Enum]) -> Callable[[str], Any]:
    """A parser for an enum's values, in any case ("mri" is MRI), that names the accepted ones."""
    by_folded = {str(e.value).casefold(): e for e in enum}  # type: ignore[attr-defined]

    def parse(text: str) -> Any:
        found = by_folded.get(text.strip().casefold())
        if found is None:
            names = ", ".join(str(e.value) for e in enum)  # type: ignore[attr-defined]
            raise ValidationError(f"'{text}' is not one of {names}")
        return found
    return parse


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: Format | ScheduleFormat, *,
         empty: str = "nothing to show") -> None:
    """Rows to stdout: an aligned table, canonical JSON or CSV. Messages go to stderr."""
    if fmt.value == "json":
        sys.stdout.write(jsonio.dumps([{k: r.get(k) for k in columns} for r in rows]))
    elif fmt.value == "csv":
        sys.stdout.write(jsonio.to_csv(rows, columns))
    else:
        if not rows:
            typer.echo(empty, err=True)
            return
        sys.stdout.write(table(rows, columns))


def _cell(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, (list, tuple)):
        return ", ".join(map(str, v))
    return str(v)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str], *, max_width: int = 72) -> str:
    """An aligned text table; a cell longer than `max_width` wraps onto further lines of its row
    (never cut: a message cut short can be misread)."""
    cells = [[_wrap(_cell(r.get(c)), max_width) for c in columns] for r in rows]
    widths = [max([len(c)] + [len(part) for row in cells for part in row[i]]) for i, c in enumerate(columns)]

    def lines(vals: Sequence[list[str]]) -> list[str]:
        height = max(len(v) for v in vals)
        return ["  ".join((v[k] if k < len(v) else "").ljust(w) for v, w in zip(vals, widths, strict=True)).rstrip()
                for k in range(height)]

    out = lines([[c] for c in columns]) + lines([["-" * w] for w in widths])
    for row in cells:
        out += lines(row)
    return "\n".join(out) + "\n"


def _wrap(text: str, width: int) -> list[str]:
    if len(text) <= width and "\n" not in text:
        return [text]
    import textwrap
    return [part for line in text.splitlines() for part in (textwrap.wrap(line, width, break_on_hyphens=False)
                                                            or [""])]


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr for long work, hidden when stderr is not a terminal: yields the
    `progress(done, total)` callback that the services call."""
    with typer.progressbar(length=1, label=label, file=sys.stderr, hidden=not sys.stderr.isatty()) as bar:
        def report(done: int, total: int) -> None:
            bar.length = max(total, 1)
            bar.update(done - bar.pos)

        yield report


def note(text: str) -> None:
    """A message for the human, on stderr."""
    typer.echo(text, err=True)
