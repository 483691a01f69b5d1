"""Commands for protocols: protocol list|show|validate|preview."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from tracker.cli.app import app
from tracker.cli.common import Format, FormatOption, ScheduleFormat, emit, note, parse_date
from tracker.jsonio.export import dumps

protocol_app = typer.Typer(no_args_is_help=True, help="Surveillance protocols: list, show, validate, preview.")
app.add_typer(protocol_app, name="protocol")


def _svc() -> Any:
    """The service module, imported on first use so that `--help` stays fast."""
    from tracker.services import protocols

    return protocols


@protocol_app.command("list")
def protocol_list(fmt: FormatOption = Format.table) -> None:
    """List the protocols: the built-ins and your own files in <home>/protocols/.

    Example: tracker protocol list
    """
    rows = [{"id": p.id, "version": p.version, "title": p.title, "builtin": _svc().is_builtin(p.id),
             "rules_enabled": sum(1 for r in p.rules.values() if r.enabled)} for p in _svc().all_protocols().values()]
    emit(rows, ["id", "version", "title", "builtin", "rules_enabled"], fmt)


@protocol_app.command("show")
def protocol_show(
    protocol_id: Annotated[str, typer.Argument(help="Protocol id.")],
    fmt: FormatOption = Format.table,
) -> None:
    """Show a protocol: its items, intervals, windows, escalation and every rule with its
    thresholds and cited source. --format json prints the protocol document itself.

    Example: tracker protocol show pnet-small-nf
    """
    p = _svc().get_protocol(protocol_id)
    if fmt is Format.json:
        sys.stdout.write(dumps(p.raw))
        return
    if fmt is Format.table:
        out = [f"{p.id} {p.version}: {p.title}", p.description, "",
               f"windows: due soon from {p.due_soon_days} days before; overdue after {p.grace_days} days grace",
               f"escalation: an open {'/'.join(s.value for s in p.escalation_severities)} flag brings imaging to "
               f"at most {p.escalation_max_months} months after its evidence", "", "items:"]
        for it in p.items:
            phases = "; ".join(f"from month {ph.from_month} every {ph.interval_months} months"
                               + (f" ({ph.interval_months_if_flag_open} while a flag is open)"
                                  if ph.interval_months_if_flag_open else "") for ph in it.phases)
            out.append(f"  {it.kind.value:8} {it.label}: {phases or 'with each imaging: ' + str(it.with_imaging)}")
        out += ["", "rules:"]
        for rid, r in sorted(p.rules.items()):
            params = ", ".join(f"{k}={v}" for k, v in r.params.items())
            out.append(f"  {'on ' if r.enabled else 'off'} {rid:22} {params}")
            out.append(f"      source: {r.source}")
        sys.stdout.write("".join(_wrapped(line) for line in out))
        return
    rows = [{"rule_id": rid, "enabled": r.enabled, "params": dumps(dict(r.params)).strip(),
             "source": r.source} for rid, r in sorted(p.rules.items())]
    emit(rows, ["rule_id", "enabled", "params", "source"], fmt)


def _wrapped(line: str) -> str:
    """A line of `protocol show`, wrapped to the terminal under its own indent (plus two)."""
    import textwrap

    from tracker.cli.common import width

    indent = " " * (len(line) - len(line.lstrip()))
    return "\n".join(textwrap.wrap(line, width() - 1, subsequent_indent=indent + "  ", break_on_hyphens=False,
                                   break_long_words=False) or [""]) + "\n"


@protocol_app.command("validate")
def protocol_validate(file: Annotated[Path, typer.Argument(help="A protocol JSON file.")]) -> None:
    """Check a protocol file against schemas/protocol.schema.json and the scheduling rules.
    Copy a valid file into <home>/protocols/ to use it.

    Example: tracker protocol show pnet-small-nf --format json > mine.json ; tracker protocol validate mine.json
    """
    p = _svc().parse_protocol_file(file)
    typer.echo(f"{p.id} {p.version}")
    note(f"{file.name} is a valid protocol ({p.id} {p.version}); copy it to {_svc().user_dir()} to use it.")


@protocol_app.command("preview")
def protocol_preview(
    protocol_id: Annotated[str, typer.Argument(help="Protocol id.")],
    start: Annotated[str, typer.Option("--start", help="Protocol start = baseline imaging date.")],
    years: Annotated[int, typer.Option("--years", help="How many years to plan.")] = 10,
    fmt: Annotated[ScheduleFormat, typer.Option("--format", "-f", help="table, json, csv or ics.")
                   ] = ScheduleFormat.table,
) -> None:
    """The whole planned schedule for a start date, before a patient is enrolled (assuming every
    item is done on time and no flag fires).

    Example: tracker protocol preview pnet-small-nf --start 2026-01-15 --years 7 --format ics > plan.ics
    """
    from tracker.cli.surveillance import _emit_items
    from tracker.domain.schedule import preview_schedule
    from tracker.errors import ValidationError

    if not 1 <= years <= 40:
        raise ValidationError("--years must be between 1 and 40", "--years")
    _emit_items(preview_schedule(_svc().get_protocol(protocol_id), parse_date(start, "--start"), years=years), fmt)
