"""What a FHIR file holds for the tracker, as `reader.read` finds it: the records with their
locations, the imaging reports to read, what was skipped, and every problem with its location."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from tracker.domain import model as dm

Problems = list[tuple[str, str]]


@dataclass(frozen=True)
class ImagingReport:
    """An imaging report of the file (text only): to read, and to enter its sizes by hand."""

    where: str
    date: date | None
    title: str
    modality: dm.Modality | None


@dataclass
class FhirContent:
    """What a FHIR file holds for the tracker. `labs` are (location, record) pairs."""

    birth_year: int | None = None
    sex: dm.Sex | None = None
    diagnosis_date: date | None = None
    surveillance: dict[str, str] = field(default_factory=dict)  # protocol, start, setting (our export)
    labs: list[tuple[str, dm.LabResult]] = field(default_factory=list)
    scans: list[tuple[str, dm.ImagingStudy]] = field(default_factory=list)
    pathology: list[tuple[str, dm.Pathology]] = field(default_factory=list)
    visits: list[tuple[str, dm.Visit]] = field(default_factory=list)
    reports: list[ImagingReport] = field(default_factory=list)
    skipped: int = 0
    notes: list[str] = field(default_factory=list)  # what was read only in part, said so
    problems: Problems = field(default_factory=list)
