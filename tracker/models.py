"""The tables (SQLAlchemy Core, on one `METADATA`), and nothing else: no behaviour, no JSON concerns.

The migrations (tracker/migrations) create these tables; tests/test_models.py checks that the
two agree column for column. Exact numbers (sizes, lab values, Ki-67) are stored as decimal TEXT
so that what was entered comes back digit for digit on SQLite and PostgreSQL alike. Enumerations
are stored as their string values. Dates are DATE; audit timestamps are UTC.

Records are never deleted: a voided record keeps its row with `voided_reason` set. The audit
table and the flag reviews are append-only (database triggers refuse UPDATE, DELETE, a replacing
INSERT and, on PostgreSQL, TRUNCATE) and hash-chained (`tracker.chain`), see the migrations.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Boolean, Column, Date, ForeignKey, Integer, String, Table, Text


class UTCDateTime(sa.TypeDecorator[datetime]):
    """An aware datetime, stored in UTC and read back in UTC (SQLite keeps no offset: what it
    holds is UTC already)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise ValueError("a timestamp to store must say its time zone")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.utcoffset() is None else value.astimezone(timezone.utc)


METADATA = sa.MetaData()


def _provenance() -> list[Column[Any]]:
    return [Column("source", String, nullable=False, default="clinician"),
            Column("verified", Boolean, nullable=False, default=False),
            Column("notes", String, nullable=False, default="")]


def _record(name: str, *columns: Column[Any]) -> Table:
    """A record table: its id, patient, date, voided reason and provenance, then its own columns."""
    return Table(
        name, METADATA,
        Column("id", Integer, primary_key=True),
        Column("patient_id", Integer, ForeignKey("patient.id"), nullable=False, index=True),
        Column("date", Date, nullable=False),
        Column("voided_reason", String, nullable=True),
        *_provenance(), *columns,
    )


PATIENT = Table(
    "patient", METADATA,
    Column("id", Integer, primary_key=True),
    Column("label", String(64), nullable=False, index=True, unique=True),
    Column("birth_year", Integer, nullable=False),
    Column("sex", String, nullable=False),
    Column("diagnosis_date", Date, nullable=False),
    Column("setting", String, nullable=False),
    Column("syndrome", String, nullable=False, default="none"),
    Column("primary_resected", Boolean, nullable=False, default=False),
    Column("t_stage", String, nullable=True),
    Column("protocol_id", String, nullable=False),
    Column("protocol_start", Date, nullable=False),
    Column("left_on", Date, nullable=True),
    Column("leave_reason", String, nullable=True),
    Column("synthetic", Boolean, nullable=False, default=False),  # migration 0005
    *_provenance(),
)

VISIT = _record(
    "visit",
    Column("symptoms", String, nullable=False, default=""),  # comma-separated Symptom values, sorted
    Column("symptom_other", String, nullable=False, default=""),
    Column("weight_kg", String, nullable=True),
    Column("performance_status", Integer, nullable=True),
    Column("on_ppi", Boolean, nullable=False, default=False),
    Column("wants_to_leave", Boolean, nullable=False, default=False),
)

LAB_RESULT = _record(
    "lab_result",
    Column("analyte", String, nullable=False),
    Column("analyte_other", String, nullable=False, default=""),
    Column("value", String, nullable=False),
    Column("unit", String, nullable=False),
    Column("lab", String, nullable=False, default=""),
    Column("assay", String, nullable=False, default=""),
    Column("specimen", String, nullable=False, default="serum"),
    Column("upper_limit", String, nullable=True),
    Column("comparator", String, nullable=False, default="", server_default=""),  # migration 0007
)

IMAGING_STUDY = _record(
    "imaging_study",
    Column("modality", String, nullable=False),
    Column("mpd_mm", String, nullable=True),
    Column("cbd_mm", String, nullable=True),
)

LESION_MEASUREMENT = Table(
    "lesion_measurement", METADATA,
    Column("id", Integer, primary_key=True),
    Column("study_id", Integer, ForeignKey("imaging_study.id"), nullable=False, index=True),
    Column("lesion", String, nullable=False),
    Column("site", String, nullable=False),
    Column("longest_mm", String, nullable=True),
    Column("short_axis_mm", String, nullable=True),
    Column("other_dims_mm", String, nullable=False, default=""),  # comma-separated decimals
    Column("is_new", Boolean, nullable=False, default=False),
    Column("pet_avid", Boolean, nullable=True),
)

PATHOLOGY = _record(
    "pathology",
    Column("ki67_pct", String, nullable=True),
    Column("mitoses_per_2mm2", String, nullable=True),
    Column("grade", String, nullable=True),
)

#: append-only: who did what, when, with the values before and after (JSON)
AUDIT_EVENT = Table(
    "audit_event", METADATA,
    Column("id", Integer, primary_key=True),
    Column("at", UTCDateTime, nullable=False),
    Column("user", String, nullable=False),
    Column("action", String, nullable=False),  # create, amend, void, leave, import, acknowledge, snooze
    Column("entity", String, nullable=False),  # patient, visit, lab, scan, pathology, flag
    Column("entity_id", Integer, nullable=True),
    Column("patient_id", Integer, nullable=True, index=True),
    Column("reason", String, nullable=False, default=""),
    Column("before", String, nullable=True),
    Column("after", String, nullable=True),
    Column("chain_hash", String, nullable=True),  # SHA-256 chained to the previous event (tracker.chain, 0006)
)

#: every flag as it was shown: stored when evaluated, with the rule version, threshold and
#: evidence, so a later reader sees what was shown and why
FLAG_LOG = Table(
    "flag_log", METADATA,
    Column("id", Integer, primary_key=True),
    Column("patient_id", Integer, ForeignKey("patient.id"), nullable=False, index=True),
    Column("flag_key", String, nullable=False),
    Column("rule_id", String, nullable=False),
    Column("severity", String, nullable=False),
    Column("date", Date, nullable=False),
    Column("message", String, nullable=False),
    Column("evidence", String, nullable=False),  # comma-separated refs
    Column("threshold", String, nullable=True),
    Column("source", String, nullable=False, default=""),
    Column("rule_version", String, nullable=False, default=""),
    Column("first_seen_at", UTCDateTime, nullable=False),
    Column("first_seen_as_of", Date, nullable=False),
    sa.UniqueConstraint("patient_id", "flag_key", name="uq_flag_log_patient_key"),
)

#: append-only acknowledgements and snoozes of a flag (by its key)
FLAG_REVIEW = Table(
    "flag_review", METADATA,
    Column("id", Integer, primary_key=True),
    Column("patient_id", Integer, ForeignKey("patient.id"), nullable=False, index=True),
    Column("flag_key", String, nullable=False),
    Column("action", String, nullable=False),  # acknowledge | snooze
    Column("until", Date, nullable=True),
    Column("severity_at_review", String, nullable=False, default=""),
    Column("reason", String, nullable=False),
    Column("user", String, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("chain_hash", String, nullable=True),  # SHA-256 chained to the previous review (tracker.chain, 0006)
)

#: the per-patient state cache (migrations 0003, 0004; services.surveillance.cache)
PATIENT_STATE = Table(
    "patient_state", METADATA,
    Column("patient_id", Integer, ForeignKey("patient.id", ondelete="CASCADE"), primary_key=True),
    Column("as_of", Date, nullable=False),
    Column("cache_key", String, nullable=False),
    Column("computed", Text, nullable=False),
    Column("valid_from", Date, nullable=True),  # migration 0004
)

#: what each calendar feed was last given (migration 0008; services.feeds)
CALENDAR_EVENT = Table(
    "calendar_event", METADATA,
    Column("feed", String, primary_key=True),
    Column("uid", String, primary_key=True),
    Column("sequence", Integer, nullable=False),
    Column("digest", String, nullable=False),
    Column("dtstart", Date, nullable=False),
    Column("summary", Text, nullable=False),
    Column("status", String, nullable=False),
    Column("modified", sa.DateTime(timezone=True), nullable=False),
)
