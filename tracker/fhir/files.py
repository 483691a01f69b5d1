"""The resources of a FHIR file: a Bundle (any type), a single resource, or NDJSON (one resource
a line), each with its location for messages: `entry[12].resource`, `(resource)` or `line 7`."""

from __future__ import annotations

import json
from typing import Any

from tracker import jsonio
from tracker.errors import ValidationError


def resources(text: str, name: str) -> list[tuple[str, dict[str, Any], dict[str, Any]]] | None:
    """The resources of a FHIR file, each as (location, resource with exact decimals, the same
    with floats for the FHIR models); None when the text is not FHIR JSON (no `resourceType`).
    A JSON text that cannot be read raises ValidationError with its line."""
    body = text.strip()
    if not body.startswith("{"):
        return None
    try:
        exact, plain = jsonio.loads(body), json.loads(body)
    except json.JSONDecodeError as exc:
        if exc.msg != "Extra data" or "\n" not in body:
            raise jsonio.unreadable_json(name, exc) from None
        return _ndjson(body, name)
    except (ValueError, RecursionError) as exc:
        raise jsonio.unreadable_json(name, exc) from None
    if not isinstance(exact, dict) or "resourceType" not in exact:
        return None
    if exact["resourceType"] != "Bundle":
        return [("(resource)", exact, plain)]
    out = [("(bundle)", {k: v for k, v in exact.items() if k != "entry"},
            {k: v for k, v in plain.items() if k != "entry"})]
    entries, plain_entries = exact.get("entry") or [], plain.get("entry") or []
    if not isinstance(entries, list):
        raise ValidationError(f"{name}: the Bundle's entry is not a list; it is not a FHIR R4 Bundle", "entry")
    for i, (e, pe) in enumerate(zip(entries, plain_entries, strict=True)):
        where = f"entry[{i}].resource"
        if not isinstance(e, dict) or not isinstance(e.get("resource"), dict):
            out.append((f"entry[{i}]", {}, {}))  # reported by `read`
            continue
        out.append((where, {**e["resource"], "_fullUrl": e.get("fullUrl")}, pe["resource"]))
    return out


def _ndjson(body: str, name: str) -> list[tuple[str, dict[str, Any], dict[str, Any]]] | None:
    out: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    for n, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            exact, plain = jsonio.loads(line), json.loads(line)
        except (ValueError, RecursionError):
            raise ValidationError(f"{name}: line {n} is not a JSON object; an NDJSON file has one FHIR "
                                  "resource a line", "FILE") from None
        if not isinstance(exact, dict) or "resourceType" not in exact:
            if n == 1:
                return None
            out.append((f"line {n}", {}, {}))
            continue
        out.append((f"line {n}", exact, plain))
    return out

