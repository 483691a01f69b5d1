"""The tables (SQLModel, and two Core tables on the same metadata), and nothing else: no behaviour, no JSON concerns.

Exact numbers (sizes, lab values, Ki-67) are stored as decimal TEXT so that what was entered
comes back digit for digit on SQLite and PostgreSQL alike. Enumerations are stored as their
string values. Dates are DATE; audit timestamps are UTC.

Records are never deleted: a voided record keeps its row with `voided_reason` set. The audit
table and the flag reviews are append-only (database triggers refuse UPDATE, DELETE, a replacing
INSERT and, on PostgreSQL, TRUNCATE) and hash-chained (`tracker.chain`), see the migrations.
"""

from __future__ import annotations

import datetime as dt
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel


class ProvenanceColumns(SQLModel):
    source: str = "clinician"
    verified: bool = False
    notes: str = ""


class Patient(ProvenanceColumns, table=True):
    __tablename__ = "patient"

    id: int | None = Field(default=None, primary_key=True)
    label: str = Field(index=True, unique=True, max_length=64)
    birth_year: int
    sex: str
    diagnosis_date: date
    setting: str
    syndrome: str = "none"
    primary_resected: bool = False
    t_stage: str | None = None
    protocol_id: str
    protocol_start: date
    left_on: date | None = None
    leave_reason: str | None = None
    synthetic: bool = False  # migration 0005


class RecordColumns(ProvenanceColumns):
    patient_id: int = Field(foreign_key="patient.id", index=True)
    date: date
    voided_reason: str | None = None


class Visit(RecordColumns, table=True):
    __tablename__ = "visit"

    id: int | None = Field(default=None, primary_key=True)
    symptoms: str = ""  # comma-separated Symptom values, sorted
    symptom_other: str = ""
    weight_kg: str | None = None
    performance_status: int | None = None
    on_ppi: bool = False
    wants_to_leave: bool = False


class LabResult(RecordColumns, table=True):
    __tablename__ = "lab_result"

    id: int | None = Field(default=None, primary_key=True)
    analyte: str
    analyte_other: str = ""
    value: str
    unit: str
    lab: str = ""
    assay: str = ""
    specimen: str = "serum"
    upper_limit: str | None = None
    comparator: str = Field(default="", sa_column_kwargs={"server_default": ""})  # migration 0007


class ImagingStudy(RecordColumns, table=True):
    __tablename__ = "imaging_study"

    id: int | None = Field(default=None, primary_key=True)
    modality: str
    mpd_mm: str | None = None
    cbd_mm: str | None = None


class LesionMeasurement(SQLModel, table=True):
    __tablename__ = "lesion_measurement"

    id: int | None = Field(default=None, primary_key=True)
    study_id: int = Field(foreign_key="imaging_study.id", index=True)
    lesion: str
    site: str
    longest_mm: str | None = None
    short_axis_mm: str | None = None
    other_dims_mm: str = ""  # comma-separated decimals
    is_new: bool = False
    pet_avid: bool | None = None


class Pathology(RecordColumns, table=True):
    __tablename__ = "pathology"

    id: int | None = Field(default=None, primary_key=True)
    ki67_pct: str | None = None
    mitoses_per_2mm2: str | None = None
    grade: str | None = None


class AuditEvent(SQLModel, table=True):
    """Append-only: who did what, when, with the values before and after (JSON)."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime
    user: str
    action: str  # create, amend, void, leave, import, acknowledge, snooze
    entity: str  # patient, visit, lab, scan, pathology, flag
    entity_id: int | None = None
    patient_id: int | None = Field(default=None, index=True)
    reason: str = ""
    before: str | None = None
    after: str | None = None
    chain_hash: str | None = None  # SHA-256 chained to the previous event (tracker.chain, migration 0006)


class FlagLog(SQLModel, table=True):
    """Every flag as it was shown: stored when evaluated, with the rule version, threshold and
    evidence, so a later reader sees what was shown and why."""

    __tablename__ = "flag_log"
    __table_args__ = (UniqueConstraint("patient_id", "flag_key", name="uq_flag_log_patient_key"),)

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    flag_key: str
    rule_id: str
    severity: str
    date: date
    message: str
    evidence: str  # comma-separated refs
    threshold: str | None = None
    source: str = ""
    rule_version: str = ""
    first_seen_at: datetime
    first_seen_as_of: dt.date  # `date` here is the field above


class FlagReview(SQLModel, table=True):
    """Append-only acknowledgements and snoozes of a flag (by its key)."""

    __tablename__ = "flag_review"

    id: int | None = Field(default=None, primary_key=True)
    patient_id: int = Field(foreign_key="patient.id", index=True)
    flag_key: str
    action: str  # acknowledge | snooze
    until: date | None = None
    severity_at_review: str = ""
    reason: str
    user: str
    at: datetime
    chain_hash: str | None = None  # SHA-256 chained to the previous review (tracker.chain, migration 0006)


#: the per-patient state cache (migrations 0003, 0004; services.surveillance.cache): a Core table
PATIENT_STATE = sa.Table(
    "patient_state", SQLModel.metadata,
    sa.Column("patient_id", sa.Integer, sa.ForeignKey("patient.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("as_of", sa.Date, nullable=False),
    sa.Column("cache_key", sa.String, nullable=False), sa.Column("computed", sa.Text, nullable=False),
    sa.Column("valid_from", sa.Date, nullable=True),  # migration 0004
)

#: what each calendar feed was last given (migration 0005; services.feeds)
CALENDAR_EVENT = sa.Table(
    "calendar_event", SQLModel.metadata,
    sa.Column("feed", sa.String, primary_key=True), sa.Column("uid", sa.String, primary_key=True),
    sa.Column("sequence", sa.Integer, nullable=False), sa.Column("digest", sa.String, nullable=False),
    sa.Column("dtstart", sa.Date, nullable=False), sa.Column("summary", sa.Text, nullable=False),
    sa.Column("status", sa.String, nullable=False), sa.Column("modified", sa.DateTime(timezone=True), nullable=False),
)
