"""The root `tracker` command, its global options and the error boundary."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from tracker import __version__
from tracker.cli.startup import plain_values
from tracker.errors import TrackerError
from tracker.text import UNSTORABLE, unstorable_at

#: click's UsageError, wherever this typer version keeps click (a dependency, or vendored).
_UsageError: type[Exception] = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")


def _usage_error(exc: Any) -> None:
    """One line and exit code 1 for a usage error; a bare group (`tracker log`) shows its help."""
    if type(exc).__name__ == "NoArgsIsHelpError":
        raise exc
    where = exc.ctx.command_path if getattr(exc, "ctx", None) is not None else "tracker"
    message = exc.format_message().replace("Value error, ", "")
    typer.echo(f"Error: {message} (see {where} --help)", err=True)
    sys.exit(1)


#: The order `tracker --help` lists the commands in: as a day with the tool goes (try it, add a
#: patient, log, look, act, correct), then moving data and the administration.
HELP_ORDER = ("demo", "serve", "patient", "log", "history", "schedule", "flags", "flag", "worklist", "measures",
              "plot", "report", "amend", "void", "verify", "audit", "import", "export", "synth", "protocol", "db")


class TrackerGroup(TyperGroup):
    """Turns a TrackerError raised anywhere below into one line on stderr and exit code 1, and
    keeps every command's example on one line in its --help (so it can be copied and run)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _unwrapped_examples(self)

    def list_commands(self, ctx: Any) -> list[str]:
        """The commands in `HELP_ORDER` (a group's own subcommands keep the order they were written in)."""
        names = super().list_commands(ctx)
        return sorted(names, key=lambda n: HELP_ORDER.index(n) if n in HELP_ORDER else len(HELP_ORDER))

    def make_context(self, info_name: Any, args: Any, parent: Any = None, **extra: Any) -> Any:
        """The root's own options (`tracker --db` without a value) get the same one-line errors;
        an argument holding bytes that are not UTF-8 (or a NUL) is refused before anything runs,
        named by its position (it is not repeated: it may be patient text)."""
        for i, arg in enumerate(args if parent is None else ()):
            if isinstance(arg, str) and unstorable_at(arg) is not None:
                typer.echo(f"Error: argument {i + 1} of the command line holds {UNSTORABLE}; retype it", err=True)
                sys.exit(1)
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except _UsageError as exc:
            _usage_error(exc)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except _UsageError as exc:  # a bad option value is bad input too: one sentence, exit code 1
            _usage_error(exc)
        except TrackerError as exc:
            typer.echo(f"Error: {exc}", err=True)
            sys.exit(1)
        except OSError as exc:  # a file or device the checks above did not foresee: still one sentence
            where = f" ({exc.filename})" if exc.filename else ""
            typer.echo(f"Error: {exc.strerror or exc}{where}; nothing was written", err=True)
            sys.exit(1)


def _unwrapped_examples(command: Any) -> None:
    """Mark the 'Example:' paragraph of this command and those below it as not to be rewrapped
    (click's \\b): wrapped at the terminal's width, an example breaks inside a word."""
    text = command.help or ""
    if "Example:" in text and "\b\nExample:" not in text:
        head, _, example = text.partition("Example:")
        command.help = head.rstrip() + "\n\n\b\nExample: " + " ".join(example.split())
    for sub in getattr(command, "commands", {}).values():
        _unwrapped_examples(sub)


plain_values()  # coercion without pydantic where it is not needed: start-up time (tracker.cli.startup)

app = typer.Typer(
    cls=TrackerGroup,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    add_completion=False,
    rich_markup_mode=None,
    help=(
        "Active surveillance of pancreatic neuroendocrine tumours: log visits, markers, scans and "
        "pathology; schedule follow-up; flag what to discuss at the NET tumour board; plot trends.\n\n"
        "Decision support only: a flag says 'discuss', never 'treat'.\n\n"
        "Example: tracker demo"
    ),
)


#: The root's options that take a value (`tracker --db clinic.db worklist`).
VALUED_OPTIONS = ("--db", "--user")


@dataclass(frozen=True)
class Globals:
    db: str | None
    user: str | None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tracker {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option("--db", envvar="TRACKER_DB", help="Database file path or URL (postgresql+psycopg://…)."),
    ] = None,
    user: Annotated[
        str | None, typer.Option("--user", envvar="TRACKER_USER", help="Who is recorded in the audit trail.")
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Global options go before the command: tracker --db clinic.db worklist"""
    for name, value in (("--db or TRACKER_DB", db), ("--user or TRACKER_USER", user)):
        if value is not None and unstorable_at(value) is not None:
            typer.echo(f"Error: {name} holds {UNSTORABLE}; set it again", err=True)
            sys.exit(1)
    ctx.obj = Globals(db=db, user=user)


from tracker.cli import dbadmin as _dbadmin  # noqa: E402,F401
from tracker.cli import demo as _demo  # noqa: E402,F401
from tracker.cli import files as _files  # noqa: E402,F401
from tracker.cli import log as _log  # noqa: E402,F401
from tracker.cli import patients as _patients  # noqa: E402,F401
from tracker.cli import plots as _plots  # noqa: E402,F401
from tracker.cli import protocols as _protocols  # noqa: E402,F401
from tracker.cli import records as _records  # noqa: E402,F401  (registers commands)
from tracker.cli import serve as _serve  # noqa: E402,F401
from tracker.cli import surveillance as _surveillance  # noqa: E402,F401
from tracker.cli import synth as _synth  # noqa: E402,F401
