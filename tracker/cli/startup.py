"""Start-up: a command builds and loads only what it uses (issue 19: most of a one-patient
command's time is start-up).

Two costs of typer are avoided here, each without changing what a command does or says:

- typer turns every command of the application into a click command before it runs any of them
  (reading ~170 annotated parameters costs ~0.05 s): `for_argv` gives typer a copy of the
  application holding only the command (or group) the command line names;
- typer coerces each value through a pydantic `TypeAdapter` built on first use (importing
  pydantic's schema builder and building one adapter per parameter costs ~0.1 s, even for the
  options left out): `plain_values` coerces a text, whole-number, yes/no or choice value as
  typer's would, and hands every other value, and every value it would refuse, to typer's own
  coercion (so its messages are unchanged). It uses typer's coercion interface
  (`typer._coercion`); should a typer release change it, the parameters keep typer's own coercion
  (slower, still right: tests/test_startup.py then fails on the import of pydantic's adapters).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import typer

try:
    from typer._coercion import RuntimeParam, build_runtime_param
    from typer._param_types import coerce_cli_choice
except ImportError:  # another typer: its own coercion throughout
    RuntimeParam = None  # type: ignore[assignment,misc]


def for_argv(app: typer.Typer, argv: Sequence[str], valued: Sequence[str]) -> typer.Typer:
    """`app` holding only the command or group that `argv` names after the root's options
    (`valued`: the root options that take a value); `app` itself when argv names none of them
    (`--help`, a mistyped name: typer then lists them all or suggests one)."""
    name = _command_name(argv, valued)
    commands = [c for c in app.registered_commands if _name(c) == name]
    groups = [g for g in app.registered_groups if g.name == name]
    if not commands and not groups:
        return app
    only = copy.copy(app)
    only.registered_commands, only.registered_groups = commands, groups
    return only


def _command_name(argv: Sequence[str], valued: Sequence[str]) -> str | None:
    args = iter(argv)
    for arg in args:
        if arg in valued:
            next(args, None)
        elif not arg.startswith("-"):
            return arg
        elif arg.split("=", 1)[0] not in valued:
            return None  # --help, --version: the root answers them itself
    return None


def _name(command: Any) -> str | None:
    if command.name:
        return str(command.name)
    return typer.main.get_command_name(command.callback.__name__) if command.callback else None


def plain_values() -> None:
    """Every typer parameter from now on: a text, whole-number, yes/no or choice value is coerced
    without pydantic; typer's own coercion is built only for a value that needs it. (Typer builds
    a parameter's coercion on first use, in `get_runtime_param`: even for an option left out, and
    for the --help option it adds to each command.)"""
    parameter = getattr(typer.core, "_TyperParameter", None)
    if RuntimeParam is None or parameter is None or not hasattr(parameter, "get_runtime_param"):
        return

    def get_runtime_param(self: Any) -> Any:
        if getattr(self, "_runtime_param", None) is None:
            descriptor = self.type_descriptor
            self._runtime_param = _PlainValue(parameter_info=descriptor.parameter_info,
                                              annotation=descriptor.annotation)
        return self._runtime_param

    parameter.get_runtime_param = get_runtime_param


if RuntimeParam is not None:

    @dataclass(frozen=True)
    class _PlainValue(RuntimeParam):
        """A value as typer's own coercion returns it (that coercion does the rest)."""

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            info, annotation = self.parameter_info, self.annotation
            if info.parser is None and info.min is None and info.max is None and isinstance(annotation, type):
                if (annotation is str and isinstance(value, str)) or (annotation is bool and isinstance(value, bool)):
                    return value
                if annotation is int and isinstance(value, str) and value.isascii() and value.isdigit():
                    return int(value)
                if issubclass(annotation, Enum):
                    try:
                        return coerce_cli_choice(value, choices=tuple(annotation), case_sensitive=info.case_sensitive,
                                                 ctx=ctx)
                    except ValueError:
                        pass
            return build_runtime_param(param.type_descriptor)._coerce_value(value, param=param, ctx=ctx)
