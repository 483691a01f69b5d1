"""One column list per stored kind (patient, visit, lab, scan, lesion, pathology), and the
writer and reader of its rows built from that list.

Each `Col` names a column (and the domain attribute of the same name), how a domain value is
written to it and how a stored value is read back, as Python expressions of `{}`. The writer
(record -> tuple of column values) and the reader (Core row -> domain record) of a kind are
compiled from its list once, at import, as `dataclasses` compiles `__init__`: an import writes
and a cold worklist reads hundreds of thousands of records, and a generic loop over the columns
costs several times a plain tuple expression. A new field is one `Col` here, one column in
tracker/models.py and a migration (CONTRIBUTING.md).

Readers build records with `dm.assemble` (object.__new__ plus the field dict, as pickle does):
what is stored was checked when it was written. tests/test_store.py checks every reader
against the domain constructors, field by field.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from tracker import models as m
from tracker.domain import model as dm


@dataclass(frozen=True)
class Col:
    """A column of a kind's table, named as the domain attribute it stores."""

    name: str
    write: str = "{}"  # the column value, from the attribute's value {}
    read: str = "{}"  # the attribute's value, from the column value {}


def _opt_number(name: str) -> Col:
    """An optional exact number, stored as its decimal text."""
    return Col(name, "(None if {0} is None else str({0}))", "(None if {0} is None else Decimal({0}))")


def _enum(name: str, lookup: str) -> Col:
    return Col(name, "{}._value_", f"dm.{lookup}[{{}}]")  # `_value_`: a plain attribute (`.value` is a property)


def _opt_enum(name: str, lookup: str) -> Col:
    return Col(name, "({0}._value_ if {0} is not None else None)", f"(dm.{lookup}[{{0}}] if {{0}} else None)")


PROVENANCE = ("source", "verified", "notes")
#: the columns every record table starts with, as a reader selects them
RECORD_HEAD = ("id", "patient_id", "date", "voided_reason", *PROVENANCE)

PATIENT_COLS = (
    Col("label"), Col("birth_year"), _enum("sex", "SEX_OF"), Col("diagnosis_date"), _enum("setting", "SETTING_OF"),
    _enum("syndrome", "SYNDROME_OF"), Col("primary_resected"), Col("t_stage"), Col("protocol_id"),
    Col("protocol_start"), Col("left_on"), _opt_enum("leave_reason", "LEAVE_REASON_OF"), Col("synthetic"),
)

LESION_COLS = (
    Col("lesion"), _enum("site", "SITE_OF"), _opt_number("longest_mm"), _opt_number("short_axis_mm"),
    Col("other_dims_mm", '",".join(str(o) for o in {})', 'tuple(Decimal(o) for o in {}.split(",") if o)'),
    Col("is_new"), Col("pet_avid"),
)

RECORD_COLS: dict[str, tuple[Col, ...]] = {
    "visit": (
        Col("symptoms", '",".join(sorted(s._value_ for s in {}))',
            'tuple(dm.SYMPTOM_OF[s] for s in {}.split(",") if s)'),  # comma-separated Symptom values, sorted
        Col("symptom_other"), _opt_number("weight_kg"), Col("performance_status"), Col("on_ppi"),
        Col("wants_to_leave"),
    ),
    "lab": (
        _enum("analyte", "ANALYTE_OF"), Col("analyte_other"), Col("value", "str({})", "Decimal({})"), Col("unit"),
        Col("lab"), Col("assay"), _enum("specimen", "SPECIMEN_OF"), _opt_number("upper_limit"), Col("comparator"),
    ),
    "scan": (_enum("modality", "MODALITY_OF"), _opt_number("mpd_mm"), _opt_number("cbd_mm")),
    "pathology": (_opt_number("ki67_pct"), _opt_number("mitoses_per_2mm2"), _opt_enum("grade", "GRADE_OF")),
}

_NAMESPACE: dict[str, Any] = {"dm": dm, "Decimal": Decimal}


def _compile(name: str, params: str, expression: str) -> Callable[..., Any]:
    namespace = dict(_NAMESPACE)
    exec(f"def {name}({params}):\n    return {expression}\n", namespace)  # the lists above only, never input
    fn: Callable[..., Any] = namespace[name]
    return fn


def _writer(name: str, cols: Sequence[Col], before: Sequence[str] = (), after: Sequence[str] = ()
            ) -> Callable[[Any], tuple[Any, ...]]:
    """`name(r)`: the tuple of the `before` expressions of `r`, each column's value, then the
    `after` expressions."""
    parts = [*before, *(c.write.format(f"r.{c.name}") for c in cols), *after]
    return _compile(name, "r", f"({', '.join(parts)},)")


def _reader(name: str, cls: str, cols: Sequence[Col], first: int, fixed: dict[str, str]) -> Callable[..., Any]:
    """`name(row, prov, lesions)`: a `cls` assembled from a row whose own columns start at
    position `first`, with the `fixed` fields given as expressions (`prov`: a `Provenances`;
    `lesions`: a scan's lesions by study id)."""
    fields = [f"{k!r}: {v}" for k, v in fixed.items()]
    fields += [f"{c.name!r}: {c.read.format(f'row[{i}]')}" for i, c in enumerate(cols, first)]
    return _compile(name, "row, prov=None, lesions=None", f"dm.assemble(dm.{cls}, {{{', '.join(fields)}}})")


#: a record's or patient's provenance, as its three columns
_PROV_VALUES = ("r.provenance.source._value_", "r.provenance.verified", "r.provenance.notes")


@dataclass(frozen=True)
class Kind:
    """A record kind as stored: its table, the columns its writer fills (in `values` order) and
    the columns its reader selects (in row order)."""

    name: str
    table: sa.Table
    cls: type
    written: tuple[str, ...]
    selected: tuple[str, ...]
    values: Callable[[Any], tuple[Any, ...]]
    build: Callable[..., Any]

    def columns(self, r: Any) -> dict[str, Any]:
        """The record's columns by name (one record: a form, an amendment)."""
        return dict(zip(self.written, self.values(r), strict=True))


def _kind(name: str, table: sa.Table, cls: type, cols: tuple[Col, ...]) -> Kind:
    fixed = {"id": "row[0]", "date": "row[2]", "provenance": "prov(row[4], row[5], row[6])"}
    if cls is dm.ImagingStudy:
        fixed["lesions"] = "tuple(lesions.get(row[0], ()))"
    writer = _writer(f"{name}_values", cols, before=("r.date", *_PROV_VALUES))
    return Kind(name, table, cls, ("date", *PROVENANCE, *(c.name for c in cols)),
                (*RECORD_HEAD, *(c.name for c in cols)), writer,
                _reader(f"{name}_from_row", cls.__name__, cols, len(RECORD_HEAD), fixed))


#: record kind as the user names it -> how it is stored
KINDS: dict[str, Kind] = {
    "visit": _kind("visit", m.VISIT, dm.Visit, RECORD_COLS["visit"]),
    "lab": _kind("lab", m.LAB_RESULT, dm.LabResult, RECORD_COLS["lab"]),
    "scan": _kind("scan", m.IMAGING_STUDY, dm.ImagingStudy, RECORD_COLS["scan"]),
    "pathology": _kind("pathology", m.PATHOLOGY, dm.Pathology, RECORD_COLS["pathology"]),
}
BY_TYPE: dict[type, Kind] = {k.cls: k for k in KINDS.values()}

#: the patient table's columns, as `patient_values` gives them and `patient_from_row` reads them
PATIENT_WRITTEN = (*(c.name for c in PATIENT_COLS), *PROVENANCE)
PATIENT_SELECTED = ("id", *PATIENT_WRITTEN)
patient_values = _writer("patient_values", PATIENT_COLS, after=_PROV_VALUES)
patient_from_row = _reader("patient_from_row", "Patient", PATIENT_COLS, 1,
                           {"id": "row[0]", "provenance": "prov(row[-3], row[-2], row[-1])"})

#: the lesion table's columns after `study_id`, as `lesion_values` gives them and `lesion_from_row` reads them
LESION_WRITTEN = tuple(c.name for c in LESION_COLS)
lesion_values = _writer("lesion_values", LESION_COLS)
lesion_from_row = _reader("lesion_from_row", "LesionMeasurement", LESION_COLS, 1, {})


def patient_columns(p: dm.Patient) -> dict[str, Any]:
    """A patient's columns by name."""
    return dict(zip(PATIENT_WRITTEN, patient_values(p), strict=True))



class Provenances:
    """One shared (frozen) Provenance per distinct (source, verified, notes) of a load."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, bool, str], dm.Provenance] = {}

    def __call__(self, source: str, verified: bool, notes: str) -> dm.Provenance:
        key = (source, verified, notes)
        p = self.seen.get(key)
        if p is None:
            p = self.seen[key] = dm.Provenance(source=dm.Source(source), verified=verified, notes=notes)
        return p
