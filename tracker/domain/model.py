"""The domain records: frozen dataclasses for a patient's surveillance history (their str-Enums
are in vocabulary.py, and importable from here too).

Pure: imports only the standard library. Nothing here touches a database, a file or the clock.

Numbers that rules compare against thresholds (sizes, marker values, Ki-67) are `Decimal`, so
that boundaries are exact. Sizes are millimetres.

Every stored record has a `ref`, a short stable string ("visit:3", "lab:17", "scan:5",
"pathology:2") that flags quote as their evidence. A lesion measurement is cited as
"scan:5/P1".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from tracker.domain.vocabulary import (
    ANALYTE_OF,
    COMPARATORS,
    DISTANT_SITES,
    DUE_STATUS_OF,
    GRADE_OF,
    ITEM_KIND_OF,
    LEAVE_REASON_OF,
    MODALITY_OF,
    NODE_SITES,
    PET_MODALITIES,
    SAME_UNIT,
    SETTING_OF,
    SEVERITY_OF,
    SEX_OF,
    SITE_OF,
    SIZING_MODALITIES,
    SPECIMEN_OF,
    SYMPTOM_OF,
    SYNDROME_OF,
    Analyte,
    DueStatus,
    Grade,
    ItemKind,
    LeaveReason,
    Modality,
    Setting,
    Severity,
    Sex,
    Site,
    Source,
    Specimen,
    Symptom,
    Syndrome,
)

# --------------------------------------------------------------------------- records


def fmt(value: Decimal | int) -> str:
    """An exact number as people write it: 12, 12.5, 0.8 (no trailing zeros, no exponent)."""
    return format(Decimal(value).normalize(), "f")


@dataclass(frozen=True)
class Provenance:
    """Where a value came from, shared by every record."""

    source: Source = Source.CLINICIAN
    verified: bool = False
    notes: str = ""


@dataclass(frozen=True)
class Patient:
    """One patient under surveillance. `label` is the short name the user picked (no real name)."""

    label: str
    birth_year: int
    sex: Sex
    diagnosis_date: date
    setting: Setting
    protocol_id: str
    protocol_start: date
    syndrome: Syndrome = Syndrome.NONE
    primary_resected: bool = False
    t_stage: str | None = None  # "T1".."T4" when known
    left_on: date | None = None
    leave_reason: LeaveReason | None = None
    provenance: Provenance = field(default_factory=Provenance)
    synthetic: bool = False  # made-up data (examples, `tracker synth`, the demo), never a real person
    id: int | None = None

    @property
    def ref(self) -> str:
        return f"patient:{self.id}"

    @property
    def title(self) -> str:
        """The label as reports and plots title it: "SYN-001 (synthetic)" for made-up data only."""
        return f"{self.label} (synthetic)" if self.synthetic else self.label

    def has_left(self, as_of: date) -> bool:
        """Out of surveillance on `as_of`: from the leaving date on, nothing is due or shown."""
        return self.left_on is not None and self.left_on <= as_of


@dataclass(frozen=True)
class Visit:
    date: date
    symptoms: tuple[Symptom, ...] = ()
    symptom_other: str = ""
    weight_kg: Decimal | None = None
    performance_status: int | None = None  # ECOG 0-4
    on_ppi: bool = False
    wants_to_leave: bool = False
    provenance: Provenance = field(default_factory=Provenance)
    id: int | None = None

    @property
    def ref(self) -> str:
        return f"visit:{self.id}"


@dataclass(frozen=True)
class LabResult:
    date: date
    analyte: Analyte
    value: Decimal
    unit: str  # UCUM
    lab: str = ""
    assay: str = ""
    specimen: Specimen = Specimen.SERUM
    upper_limit: Decimal | None = None
    analyte_other: str = ""  # the name when analyte is OTHER
    comparator: str = ""  # one of COMPARATORS: the result is below or above `value`, not equal to it
    provenance: Provenance = field(default_factory=Provenance)
    id: int | None = None

    @property
    def ref(self) -> str:
        return f"lab:{self.id}"

    @property
    def value_text(self) -> str:
        """The value as the report gives it: "64", or "< 5" for a result below 5."""
        number = fmt(self.value)
        return f"{self.comparator} {number}" if self.comparator else number

    @property
    def below(self) -> bool:
        """A `< x` or `<= x` result: below (or at most) its number."""
        return self.comparator in ("<", "<=")

    def above_limit(self, limit: Decimal | None) -> bool:
        """Certainly above `limit`: an exact value above it, or `> x` / `>= x` with x at or
        above it. A `< x` result is never above anything it is compared with."""
        if limit is None or self.below:
            return False
        return self.value >= limit if self.comparator == ">" else self.value > limit

    def below_limit(self, limit: Decimal) -> bool:
        """Certainly below `limit`: an exact value below it, or `< x` / `<= x` with x at or below it."""
        if self.comparator in (">", ">="):
            return False
        return self.value <= limit if self.comparator == "<" else self.value < limit

    @property
    def series_name(self) -> str:
        """`series_key[0]`: the analyte, followed by the name of an "other" one."""
        return self.analyte._value_ + self.analyte_other

    @property
    def series_key(self) -> tuple[str, str, str, str, str]:
        """Results are compared only within one analyte, unit, assay, lab and specimen; ng/mL and
        µg/L are one unit (`SAME_UNIT`)."""
        return (self.series_name, SAME_UNIT.get(self.unit, self.unit), self.assay, self.lab, self.specimen._value_)


@dataclass(frozen=True)
class LesionMeasurement:
    """One lesion on one scan. `lesion` is the stable label kept across scans ("P1", "L2", "N1")."""

    lesion: str
    site: Site
    longest_mm: Decimal | None = None
    short_axis_mm: Decimal | None = None  # lymph nodes are measured by short axis
    other_dims_mm: tuple[Decimal, ...] = ()
    is_new: bool = False
    pet_avid: bool | None = None


@dataclass(frozen=True)
class ImagingStudy:
    date: date
    modality: Modality
    lesions: tuple[LesionMeasurement, ...] = ()
    mpd_mm: Decimal | None = None  # main pancreatic duct, measured upstream of the tumour
    cbd_mm: Decimal | None = None  # common bile duct
    provenance: Provenance = field(default_factory=Provenance)
    id: int | None = None

    @property
    def ref(self) -> str:
        return f"scan:{self.id}"

    def lesion_ref(self, lesion: str) -> str:
        return f"scan:{self.id}/{lesion}"


@dataclass(frozen=True)
class Pathology:
    date: date
    ki67_pct: Decimal | None = None
    mitoses_per_2mm2: Decimal | None = None
    grade: Grade | None = None  # derived per WHO 2019 when not given (see units.who_grade)
    provenance: Provenance = field(default_factory=Provenance)
    id: int | None = None

    @property
    def ref(self) -> str:
        return f"pathology:{self.id}"


@dataclass(frozen=True)
class PatientHistory:
    """Everything the rules need about one patient: active (not voided) records only,
    each tuple sorted by date then id."""

    patient: Patient
    visits: tuple[Visit, ...] = ()
    labs: tuple[LabResult, ...] = ()
    scans: tuple[ImagingStudy, ...] = ()
    pathology: tuple[Pathology, ...] = ()

    def up_to(self, as_of: date) -> PatientHistory:
        """The history as known on `as_of`: records dated after it are left out (the history
        itself when its latest records are all on or before `as_of`: the tuples are in date order)."""
        if all(not rs or rs[-1].date <= as_of for rs in (self.visits, self.labs, self.scans, self.pathology)):
            return self
        return PatientHistory(
            patient=self.patient,
            visits=tuple(r for r in self.visits if r.date <= as_of),
            labs=tuple(r for r in self.labs if r.date <= as_of),
            scans=tuple(r for r in self.scans if r.date <= as_of),
            pathology=tuple(r for r in self.pathology if r.date <= as_of),
        )


# --------------------------------------------------------------------------- outputs


@dataclass(frozen=True)
class Flag:
    """A rule that fired. `message` quotes the values, dates, threshold and source."""

    rule_id: str
    severity: Severity
    patient: str  # the patient's label
    date: date  # the latest date among the evidence
    message: str
    evidence: tuple[str, ...]  # record refs
    threshold: str | None
    source: str
    rule_version: str
    unconfirmed: tuple[str, ...] = ()  # evidence refs of unverified values that look like entry errors

    @property
    def key(self) -> str:
        """Identity of a flag across evaluations: the same rule on the same evidence."""
        return f"{self.rule_id}|{','.join(sorted(self.evidence))}"

    def sort_key(self) -> tuple[int, int, str, tuple[str, ...]]:
        """The order flags are listed in everywhere: most urgent first (action, watch, info),
        then the newest, then by rule and evidence."""
        return (self.severity.rank, -self.date.toordinal(), self.rule_id, self.evidence)

    def to_json(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "severity": self.severity.value,
            "patient": self.patient,
            "date": self.date.isoformat(),
            "message": self.message,
            "evidence": list(self.evidence),
            "threshold": self.threshold,
            "source": self.source,
            "rule_version": self.rule_version,
            "unconfirmed": list(self.unconfirmed),
        }


@dataclass(frozen=True)
class DueItem:
    """One scheduled item for one patient, with its window on the as-of date and why it falls
    when it does."""

    patient: str
    kind: ItemKind
    what: str  # "imaging (MRI preferred; CT or EUS)", "clinic visit", "chromogranin_a"
    due_date: date
    window_start: date  # due_soon from here
    window_end: date  # last day before overdue
    status: DueStatus
    reason: str
    #: What this occurrence counts from: the date of the completed record it is scheduled after
    #: (the last scan, visit or result of its kind), or the protocol start for the first one. An
    #: item done makes a new occurrence; one brought forward keeps it (its calendar UID, tracker/ics.py).
    counts_from: date
    escalated_by: str | None = None  # rule_id of the flag that brought it forward

    def to_json(self) -> dict[str, Any]:
        return {
            "patient": self.patient,
            "kind": self.kind.value,
            "what": self.what,
            "due_date": self.due_date.isoformat(),
            "window_start": self.window_start.isoformat(),
            "window_end": self.window_end.isoformat(),
            "status": self.status.value,
            "reason": self.reason,
            "escalated_by": self.escalated_by,
            "counts_from": self.counts_from.isoformat(),
        }


Record = Visit | LabResult | ImagingStudy | Pathology


def assemble(cls: Any, fields: dict[str, Any]) -> Any:
    """An instance of one of the frozen dataclasses above from a dict of *all* its fields (the
    defaults too), built as pickle builds one: a third of the time of `__init__`, which sets
    every field through `object.__setattr__`. Only for bulk conversion (an import makes a
    million records); nothing is checked, so callers are tested against the constructor
    (tests/test_readers.py, tests/test_store.py)."""
    obj = object.__new__(cls)
    obj.__dict__.update(fields)
    return obj


_KINDS: dict[type, str] = {Visit: "visit", LabResult: "lab", ImagingStudy: "scan", Pathology: "pathology"}


def kind_of(r: Record) -> str:
    """The record kind as users name it: visit, lab, scan or pathology."""
    return _KINDS[type(r)]


def natural_key(r: Record) -> tuple[Any, ...]:
    """What makes two records the same entry: one visit a day, one result of an analyte a day
    (per specimen), one study per modality a day, one pathology report a day."""
    if isinstance(r, LabResult):
        return ("lab", r.date, r.analyte.value, r.analyte_other, r.specimen.value)
    if isinstance(r, ImagingStudy):
        return ("scan", r.date, r.modality.value)
    return (kind_of(r), r.date)


#: The records and, from vocabulary.py, the controlled lists: callers import both from here.
__all__ = [
    "ANALYTE_OF",
    "COMPARATORS",
    "DISTANT_SITES",
    "DUE_STATUS_OF",
    "GRADE_OF",
    "ITEM_KIND_OF",
    "LEAVE_REASON_OF",
    "MODALITY_OF",
    "NODE_SITES",
    "PET_MODALITIES",
    "SAME_UNIT",
    "SETTING_OF",
    "SEVERITY_OF",
    "SEX_OF",
    "SITE_OF",
    "SIZING_MODALITIES",
    "SPECIMEN_OF",
    "SYMPTOM_OF",
    "SYNDROME_OF",
    "Analyte",
    "DueItem",
    "DueStatus",
    "Flag",
    "Grade",
    "ImagingStudy",
    "ItemKind",
    "LabResult",
    "LeaveReason",
    "LesionMeasurement",
    "Modality",
    "Pathology",
    "Patient",
    "PatientHistory",
    "Provenance",
    "Record",
    "Setting",
    "Severity",
    "Sex",
    "Site",
    "Source",
    "Specimen",
    "Symptom",
    "Syndrome",
    "Visit",
    "assemble",
    "fmt",
    "kind_of",
    "natural_key",
]
