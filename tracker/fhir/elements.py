"""The FHIR elements every reader reads: codings, texts, dates and the source of a resource."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from tracker.fhir.content import Problems


def codings(concept: Any) -> list[dict[str, Any]]:
    if not isinstance(concept, dict):
        return []
    return [x for x in concept.get("coding") or [] if isinstance(x, dict)]


def has_code(res: dict[str, Any], system: str, code: str) -> bool:
    return any(x.get("system") == system and x.get("code") == code for x in codings(res.get("code")))


def fhir_date(value: Any, where: str, problems: Problems) -> date | None:
    """The date part of a FHIR date or dateTime ("2025-07-07", "2025-07-07T10:30:00+02:00")."""
    if not isinstance(value, str):
        problems.append((where, "a date must be text such as 2025-07-07"))
        return None
    if re.fullmatch(r"T?\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)?", value):
        problems.append((where, f"'{value}' is a time without a date; give the date part (YYYY-MM-DD)"))
        return None
    m = re.fullmatch(r"(\d{4})(-\d{2})?(-\d{2})?(T.*)?", value)
    if m is None:
        problems.append((where, f"'{value}' is not a FHIR date or date-time; write YYYY-MM-DD"))
        return None
    if m.group(3) is None:
        problems.append((where, f"'{value}' gives no day; the tracker needs the day (YYYY-MM-DD)"))
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        problems.append((where, f"'{value[:10]}' is not a date that exists; write YYYY-MM-DD"))
        return None


def effective(where: str, res: dict[str, Any], problems: Problems) -> date | None:
    for key in ("effectiveDateTime", "effectiveInstant"):
        if key in res:
            return fhir_date(res[key], f"{where}.{key}", problems)
    period = res.get("effectivePeriod")
    if isinstance(period, dict) and "start" in period:
        return fhir_date(period["start"], f"{where}.effectivePeriod.start", problems)
    if "issued" in res:
        return fhir_date(res["issued"], f"{where}.issued", problems)
    problems.append((where, "gives no date (effectiveDateTime); the tracker needs the date of the sample"))
    return None


def concept_text(concept: Any) -> str:
    if not isinstance(concept, dict):
        return ""
    if isinstance(concept.get("text"), str):
        return str(concept["text"])
    return next((str(x["display"]) for x in codings(concept) if isinstance(x.get("display"), str)), "")


def source_note(res: dict[str, Any]) -> str:
    """Where a record came from, kept in its notes: "FHIR Observation/abc" (the resource's id, or
    its first identifier's value), by which a re-import recognises it."""
    ident = next((i for i in res.get("identifier") or [] if isinstance(i, dict) and i.get("value")), None)
    key = f"{ident.get('system', '')}|{ident['value']}" if ident else res.get("id")
    return f"FHIR {res.get('resourceType')}/{key}" if key else ""
