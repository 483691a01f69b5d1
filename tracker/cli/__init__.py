"""The command-line interface: parse, call one service, render. The only package importing typer.

Exit codes: 0 success; 1 a TrackerError or a usage error (one sentence on stderr, database
unchanged). Any other exception is a bug and keeps its traceback (locals never shown).
"""

from __future__ import annotations

from tracker.cli.app import app


def main() -> None:
    """Console-script entry point."""
    app()


__all__ = ["app", "main"]
