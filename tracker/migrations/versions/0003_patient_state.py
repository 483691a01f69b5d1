"""A per-patient cache of the computed surveillance state, emptied by the database on every write.

`patient_state` keeps, per patient, the flags and due items last evaluated, with the as-of date
and a key (cache format, tracker version, protocol id and content hash) they were computed for.
Triggers delete a patient's row whenever one of their records (visit, lab, scan, lesion,
pathology), the patient row or their flag reviews is inserted, updated or deleted, so a stale
state can never be read, whichever code path wrote.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: table -> how a row names its patient
_BY_PATIENT = ("visit", "lab_result", "imaging_study", "pathology", "flag_review")
_EVENTS = ("INSERT", "UPDATE", "DELETE")


def _sqlite_target(table: str, row: str) -> str:
    if table == "patient":
        return f"{row}.id"
    if table == "lesion_measurement":
        return f"(SELECT patient_id FROM imaging_study WHERE id = {row}.study_id)"
    return f"{row}.patient_id"


def _tables() -> list[str]:
    return [*_BY_PATIENT, "lesion_measurement", "patient"]


def upgrade() -> None:
    op.create_table(
        "patient_state",
        sa.Column("patient_id", sa.Integer(), sa.ForeignKey("patient.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("cache_key", sa.String(), nullable=False),
        sa.Column("computed", sa.Text(), nullable=False),
    )
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for name, expr in (("patient", "id"), ("record", "patient_id")):
            op.execute(
                f"CREATE FUNCTION tracker_state_by_{name}() RETURNS trigger AS $$ BEGIN "
                f"IF TG_OP <> 'INSERT' THEN DELETE FROM patient_state WHERE patient_id = OLD.{expr}; END IF; "
                f"IF TG_OP <> 'DELETE' THEN DELETE FROM patient_state WHERE patient_id = NEW.{expr}; END IF; "
                "RETURN NULL; END; $$ LANGUAGE plpgsql"
            )
        op.execute(
            "CREATE FUNCTION tracker_state_by_study() RETURNS trigger AS $$ BEGIN "
            "IF TG_OP <> 'INSERT' THEN DELETE FROM patient_state WHERE patient_id = "
            "(SELECT patient_id FROM imaging_study WHERE id = OLD.study_id); END IF; "
            "IF TG_OP <> 'DELETE' THEN DELETE FROM patient_state WHERE patient_id = "
            "(SELECT patient_id FROM imaging_study WHERE id = NEW.study_id); END IF; "
            "RETURN NULL; END; $$ LANGUAGE plpgsql"
        )
        for table in _tables():
            fn = {"patient": "patient", "lesion_measurement": "study"}.get(table, "record")
            op.execute(
                f"CREATE TRIGGER {table}_state_stale AFTER INSERT OR UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION tracker_state_by_{fn}()"
            )
        return
    for table in _tables():
        for event in _EVENTS:
            rows = {"INSERT": ("NEW",), "UPDATE": ("OLD", "NEW"), "DELETE": ("OLD",)}[event]
            body = " ".join(f"DELETE FROM patient_state WHERE patient_id = {_sqlite_target(table, r)};" for r in rows)
            op.execute(f"CREATE TRIGGER {table}_state_stale_{event.lower()} AFTER {event} ON {table} "
                       f"FOR EACH ROW BEGIN {body} END")


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for table in _tables():
            op.execute(f"DROP TRIGGER {table}_state_stale ON {table}")
        for name in ("patient", "record", "study"):
            op.execute(f"DROP FUNCTION tracker_state_by_{name}()")
    else:
        for table in _tables():
            for event in _EVENTS:
                op.execute(f"DROP TRIGGER {table}_state_stale_{event.lower()}")
    op.drop_table("patient_state")
