"""Finding protocols: the built-ins shipped with the package, and the user's own files in
`<home>/protocols/*.json`. Every user file is validated against schemas/protocol.schema.json
when it is read; the built-ins are validated by the test suite (tests/domain/test_protocol.py)
instead of at every start, because compiling the schema costs a one-patient command ~0.1-0.2 s."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from tracker import config
from tracker.domain.protocol import SurveillanceProtocol, protocol_from_dict
from tracker.errors import NotFoundError, ProtocolError, ValidationError
from tracker.jsonio.export import dumps
from tracker.jsonio.reading import read_json
from tracker.jsonio.schemacheck import schema_problems
from tracker.text import quoted


def user_dir() -> Path:
    return config.home_dir() / "protocols"


def parse_protocol_file(path: Path, *, validate: bool = True) -> SurveillanceProtocol:
    """Read, validate and parse one protocol file; every problem is reported with its location.
    `validate=False` only for the built-ins, whose validity the test suite proves."""
    doc = read_json(path)
    problems = schema_problems(doc, "protocol.schema.json") if validate else []
    if problems:
        raise ValidationError([(f"{path.name}: {loc}", msg) for loc, msg in problems])
    return protocol_from_dict(_plain(doc))


def _plain(doc: object) -> Any:
    """Decimals from the JSON reader back to plain numbers for the protocol parser."""
    return json.loads(dumps(doc))


@cache
def _builtin() -> dict[str, SurveillanceProtocol]:
    files = sorted(config.package_folder("protocols").glob("*.json"))
    return {p.id: p for p in (parse_protocol_file(f, validate=False) for f in files)}


def all_protocols() -> dict[str, SurveillanceProtocol]:
    """Built-ins, then the user's files (a user file with a built-in id replaces it)."""
    found = dict(_builtin())
    folder = user_dir()
    if folder.is_dir():
        for f in sorted(folder.glob("*.json")):
            p = parse_protocol_file(f)
            found[p.id] = p
    return found


def get_protocol(protocol_id: str) -> SurveillanceProtocol:
    found = all_protocols()
    if protocol_id not in found:
        raise NotFoundError(
            f"protocol {quoted(protocol_id)} not found; run `tracker protocol list` to see ids "
            f"({', '.join(sorted(found))})"
        )
    return found[protocol_id]


def is_builtin(protocol_id: str) -> bool:
    return protocol_id in _builtin()


def check_known(protocol_id: str) -> None:
    try:
        get_protocol(protocol_id)
    except NotFoundError as exc:
        raise ProtocolError(str(exc)) from None
