"""What every command shares: settings from the context, option types, dates and output."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from enum import Enum
from typing import Annotated, Any

import typer

from tracker import config
from tracker.config import Settings
from tracker.domain.checks import EARLIEST, LATEST
from tracker.domain.dates import parse_date
from tracker.errors import ValidationError
from tracker.text import quoted


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
        raise ValidationError(f"{quoted(value)} is not a valid value", option) from None


def choice(enum: type[Enum]) -> Callable[[str], Any]:
    """A parser for an enum's values, in any case ("mri" is MRI), that names the accepted ones."""
    by_folded = {str(e.value).casefold(): e for e in enum}

    def parse(text: str) -> Any:
        found = by_folded.get(text.strip().casefold())
        if found is None:
            names = ", ".join(str(e.value) for e in enum)
            raise ValidationError(f"{quoted(text)} is not one of {names}")
        return found
    return parse


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: Format | ScheduleFormat, *,
         empty: str = "nothing to show") -> None:
    """Rows to stdout: an aligned table, canonical JSON or CSV. Messages go to stderr."""
    if fmt.value == "json":
        from tracker.jsonio.export import dumps  # only when asked for: start-up (issue 19.8)

        sys.stdout.write(dumps([{k: r.get(k) for k in columns} for r in rows]))
    elif fmt.value == "csv":
        from tracker.jsonio.csvout import to_csv

        sys.stdout.write(to_csv(rows, columns))
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


#: Columns whose text wraps onto further lines of its row; every other column (ids, labels,
#: dates, statuses, codes) is kept whole on one line.
WRAPPED = frozenset({"what", "reason", "message", "notes", "source", "threshold", "evidence", "summary", "changes",
                     "reviews", "title", "params", "series", "description", "acknowledged", "snoozed_until",
                     "voided_reason", "latest", "previous", "nadir", "change_prev", "change_nadir", "rate",
                     "response", "doubling_months", "tgr_pct_per_month", "rules_enabled", "window"})


def width() -> int:
    """The terminal's width in characters (`COLUMNS` when set; 80 when it cannot be told)."""
    import shutil

    return max(40, shutil.get_terminal_size((80, 24)).columns)


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str], *, max_width: int | None = None) -> str:
    """A table as wide as the terminal (or `max_width`): long text columns wrap onto further lines
    of their row (never cut: a message cut short can be misread); ids, labels and dates stay whole.
    When the columns cannot fit side by side, each row is printed as a block of 'column  value'
    lines instead (empty values left out). Plain text, drawn here: a table library costs every
    command that prints one ~0.03 s of start-up."""
    total = max_width or width()
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    longest = [max([len(c)] + [len(line) for row in cells for line in row[i].splitlines() or [""]])
               for i, c in enumerate(columns)]
    wrapped = [i for i, c in enumerate(columns) if c in WRAPPED]
    # a wrapping column is at least as wide as its longest word (a rule id, a date), up to 18
    floors = {i: min(longest[i], max(_LEAST, min(18, max([len(w) for row in cells for w in row[i].split()] or [0]))))
              for i in wrapped}
    fixed = sum(w for i, w in enumerate(longest) if i not in wrapped)
    # two spaces between columns, or one when that is what makes the table fit
    gap = next((g for g in (2, 1) if total - g * (len(columns) - 1) - fixed >= sum(floors.values())), None)
    if gap is None:
        return _blocks(cells, columns, total)
    shares = _share(total - gap * (len(columns) - 1) - fixed, {i: longest[i] for i in wrapped}, floors)
    widths = [shares.get(i, longest[i]) for i in range(len(columns))]
    rule = "─" * (sum(widths) + gap * (len(columns) - 1))
    return _lines([columns], widths, gap) + rule + "\n" + _lines(cells, widths, gap)


def _blocks(cells: Sequence[Sequence[str]], columns: Sequence[str], total: int) -> str:
    """Rows too wide for the terminal: one block of 'column  value' lines per row, a blank line
    between blocks."""
    name = max(len(c) for c in columns)
    blocks = []
    for row in cells:
        shown = [(c, v) for c, v in zip(columns, row, strict=True) if v]  # an empty value says nothing
        blocks.append(_lines(shown, [name, max(1, total - name - 2)], 2))
    return "\n".join(blocks)


def _lines(rows: Sequence[Sequence[str]], widths: Sequence[int], gap: int) -> str:
    """Rows of cells side by side, each cell wrapped to its column's width (a word longer than the
    width is broken), `gap` spaces between columns, no trailing spaces."""
    import textwrap

    out = []
    for row in rows:
        parts = [[piece for line in text.splitlines() or [""]
                  for piece in textwrap.wrap(line, w, break_on_hyphens=False) or [""]]
                 for text, w in zip(row, widths, strict=True)]
        for k in range(max(len(p) for p in parts)):
            out.append((" " * gap).join((p[k] if k < len(p) else "").ljust(w)
                                        for p, w in zip(parts, widths, strict=True)).rstrip() + "\n")
    return "".join(out)


_LEAST = 12


def _share(room: int, wanted: dict[int, int], least: dict[int, int]) -> dict[int, int]:
    """Widths for the wrapping columns out of `room` characters: a column that fits in its share
    gets what it needs; the others get their `least` width and share the rest in proportion to
    how much more they would need."""
    out: dict[int, int] = {}
    left = dict(wanted)
    while left:
        floors = {i: least[i] for i in left}
        spare = max(0, room - sum(floors.values()))
        more = sum(w - floors[i] for i, w in left.items()) or 1
        shares = {i: floors[i] + spare * (w - floors[i]) // more for i, w in left.items()}
        fits = {i: w for i, w in left.items() if w <= shares[i]}
        if not fits:
            out.update(shares)
            break
        for i, w in fits.items():
            out[i] = w
            room -= w
            del left[i]
    return out


@contextmanager
def progress_bar(label: str) -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr for long work, shown only when stderr is a terminal and cleared
    when the work is done (so it never sits above the table): yields the `progress(done, total)`
    callback that the services call."""
    if not sys.stderr.isatty():
        yield lambda done, total: None
        return
    from rich.console import Console
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=1)

        def report(done: int, total: int) -> None:
            bar.update(task, completed=done, total=max(total, 1))

        yield report


def note(text: str) -> None:
    """A message for the human, on stderr."""
    typer.echo(text, err=True)
