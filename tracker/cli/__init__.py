"""The command-line interface: parse, call one service, render. The only package importing typer.

Exit codes: 0 success; 1 a TrackerError or a usage error (one sentence on stderr, database
unchanged). Any other exception is a bug and keeps its traceback (locals never shown).
"""

from __future__ import annotations

import sys

from tracker.cli.app import VALUED_OPTIONS, app
from tracker.cli.startup import for_argv


def main() -> None:
    """Console-script entry point: typer builds only the command that is run."""
    for_argv(app, sys.argv[1:], VALUED_OPTIONS)()


__all__ = ["app", "main"]
