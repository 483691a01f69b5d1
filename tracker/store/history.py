"""A patient's history from stored records: the active ones, by kind, in date order."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date
from operator import attrgetter
from typing import Any

from tracker.domain import model as dm
from tracker.domain.model import Record

#: (kind, record, voided reason): a stored record as the store returns it
Stored = tuple[str, Record, str | None]


def record_order(t: Stored) -> tuple[date, str, int]:
    return (t[1].date, t[0], t[1].id or 0)


def _active_by_kind(*parts: Iterable[Stored]) -> dict[str, list[Any]]:
    by: dict[str, list[Any]] = defaultdict(list)
    for part in parts:
        for kind, r, voided in part:
            if voided is None:
                by[kind].append(r)
    return by


def _history(p: dm.Patient, by: dict[str, list[Any]]) -> dm.PatientHistory:
    return dm.PatientHistory(
        patient=p, visits=tuple(by["visit"]), labs=tuple(by["lab"]), scans=tuple(by["scan"]),
        pathology=tuple(by["pathology"]),
    )


def history_from_records(p: dm.Patient, recs: Iterable[Stored]) -> dm.PatientHistory:
    """The history (active records) of (kind, record, voided reason) triples with ids, given in
    record order (`Store.all_records` returns them so; `merged_history` sorts)."""
    return _history(p, _active_by_kind(recs))


_DATE_ID = attrgetter("date", "id")


def merged_history(p: dm.Patient, *parts: Iterable[Stored]) -> dm.PatientHistory:
    """The history of records from several lists (records stored and records just added),
    each kind sorted by date then id: every record must have its id."""
    by = _active_by_kind(*parts)
    for records in by.values():
        records.sort(key=_DATE_ID)
    return _history(p, by)


def with_id(r: Record, record_id: int) -> Record:
    """`dataclasses.replace(r, id=record_id)`, built as pickle builds one (`dm.assemble`): 0.4 µs
    instead of 3 µs, for every record of an import."""
    result: Record = dm.assemble(type(r), {**r.__dict__, "id": record_id})
    return result
