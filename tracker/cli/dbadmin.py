"""Commands for the database itself: db check, db backup, db restore."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tracker.cli.app import app
from tracker.cli.common import interactive, note, settings

db_app = typer.Typer(no_args_is_help=True, help="Check, back up and restore the database.")
app.add_typer(db_app, name="db")


@db_app.command("check")
def check(ctx: typer.Context) -> None:
    """Check the database: schema revision, tables, audit guards and state-cache triggers (present
    and enabled), the audit trail's hash chain, foreign keys, orphan rows, file integrity. Prints
    one line per problem and exits 1 if there is any; else the newest hash of each chain (keep it
    elsewhere: a trail rewritten whole changes it). Changes nothing.

    Example: tracker db check
    """
    from tracker.services import dbadmin

    report = dbadmin.check(settings(ctx))
    for problem in report.problems:
        typer.echo(f"problem: {problem}")
    if report.problems:
        note(f"{len(report.problems)} problem(s) found.")
        raise typer.Exit(1)
    rows = ", ".join(f"{n} {t}" for t, n in report.rows.items() if n)
    note(f"OK: schema {report.revision} (head {report.head}); {rows or 'no rows yet'}.")
    for table, head in report.heads.items():  # data: kept elsewhere, they show a rewritten trail
        typer.echo(f"chain head: {table} {head or '(no rows yet)'}")


@db_app.command("backup")
def backup(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Where to write the copy (a new file).")],
    force: Annotated[bool, typer.Option("--force", help="Overwrite FILE if it exists.")] = False,
) -> None:
    """Copy the SQLite database to FILE while it is in use (readable by you only).
    For PostgreSQL, use pg_dump (the error message shows the command).

    Example: tracker db backup ~/backups/tracker-2026-06-30.db
    """
    from tracker.services import dbadmin

    dest = dbadmin.backup(settings(ctx), file, force=force)
    note(f"Backed up to {dest}.")


@db_app.command("restore")
def restore(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A backup made by `tracker db backup`.")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Replace the SQLite database with a backup. The backup is checked first; the current
    database is kept beside it as a safety copy; the schema is then upgraded if needed.

    Example: tracker db backup ~/backups/tracker-2026-06-30.db ; tracker db restore ~/backups/tracker-2026-06-30.db
    """
    from tracker.services import dbadmin

    st = settings(ctx)
    if not yes and interactive():
        dbadmin.inspect_backup(file)
        typer.confirm(f"Replace the database with {file.name}? (the current one is kept as a safety copy)",
                      abort=True)
    result = dbadmin.restore(st, file)
    kept = f"; the previous database is kept as {result.safety_copy}" if result.safety_copy else ""
    note(f"Restored {file.name} (schema {result.revision}, now {result.head}){kept}.")
