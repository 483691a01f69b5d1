"""The first schema: patients, visits, labs, scans with lesions, pathology, audit, flag log.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('audit_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('user', sa.String(), nullable=False),
    sa.Column('action', sa.String(), nullable=False),
    sa.Column('entity', sa.String(), nullable=False),
    sa.Column('entity_id', sa.Integer(), nullable=True),
    sa.Column('patient_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(), nullable=False),
    sa.Column('before', sa.String(), nullable=True),
    sa.Column('after', sa.String(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_audit_event_patient_id'), 'audit_event', ['patient_id'], unique=False)
    op.create_table('patient',
    sa.Column('source', sa.String(), nullable=False),
    sa.Column('verified', sa.Boolean(), nullable=False),
    sa.Column('notes', sa.String(), nullable=False),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=64), nullable=False),
    sa.Column('birth_year', sa.Integer(), nullable=False),
    sa.Column('sex', sa.String(), nullable=False),
    sa.Column('diagnosis_date', sa.Date(), nullable=False),
    sa.Column('setting', sa.String(), nullable=False),
    sa.Column('syndrome', sa.String(), nullable=False),
    sa.Column('primary_resected', sa.Boolean(), nullable=False),
    sa.Column('t_stage', sa.String(), nullable=True),
    sa.Column('protocol_id', sa.String(), nullable=False),
    sa.Column('protocol_start', sa.Date(), nullable=False),
    sa.Column('left_on', sa.Date(), nullable=True),
    sa.Column('leave_reason', sa.String(), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_patient_label'), 'patient', ['label'], unique=True)
    op.create_table('flag_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('flag_key', sa.String(), nullable=False),
    sa.Column('rule_id', sa.String(), nullable=False),
    sa.Column('severity', sa.String(), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('message', sa.String(), nullable=False),
    sa.Column('evidence', sa.String(), nullable=False),
    sa.Column('threshold', sa.String(), nullable=True),
    sa.Column('source', sa.String(), nullable=False),
    sa.Column('rule_version', sa.String(), nullable=False),
    sa.Column('first_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('first_seen_as_of', sa.Date(), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('patient_id', 'flag_key', name='uq_flag_log_patient_key')
    )
    op.create_index(op.f('ix_flag_log_patient_id'), 'flag_log', ['patient_id'], unique=False)
    op.create_table('flag_review',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('flag_key', sa.String(), nullable=False),
    sa.Column('action', sa.String(), nullable=False),
    sa.Column('until', sa.Date(), nullable=True),
    sa.Column('severity_at_review', sa.String(), nullable=False),
    sa.Column('reason', sa.String(), nullable=False),
    sa.Column('user', sa.String(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_flag_review_patient_id'), 'flag_review', ['patient_id'], unique=False)
    op.create_table('imaging_study',
    sa.Column('source', sa.String(), nullable=False),
    sa.Column('verified', sa.Boolean(), nullable=False),
    sa.Column('notes', sa.String(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('voided_reason', sa.String(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('modality', sa.String(), nullable=False),
    sa.Column('mpd_mm', sa.String(), nullable=True),
    sa.Column('cbd_mm', sa.String(), nullable=True),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_imaging_study_patient_id'), 'imaging_study', ['patient_id'], unique=False)
    op.create_table('lab_result',
    sa.Column('source', sa.String(), nullable=False),
    sa.Column('verified', sa.Boolean(), nullable=False),
    sa.Column('notes', sa.String(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('voided_reason', sa.String(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('analyte', sa.String(), nullable=False),
    sa.Column('analyte_other', sa.String(), nullable=False),
    sa.Column('value', sa.String(), nullable=False),
    sa.Column('unit', sa.String(), nullable=False),
    sa.Column('lab', sa.String(), nullable=False),
    sa.Column('assay', sa.String(), nullable=False),
    sa.Column('specimen', sa.String(), nullable=False),
    sa.Column('upper_limit', sa.String(), nullable=True),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_lab_result_patient_id'), 'lab_result', ['patient_id'], unique=False)
    op.create_table('pathology',
    sa.Column('source', sa.String(), nullable=False),
    sa.Column('verified', sa.Boolean(), nullable=False),
    sa.Column('notes', sa.String(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('voided_reason', sa.String(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ki67_pct', sa.String(), nullable=True),
    sa.Column('mitoses_per_2mm2', sa.String(), nullable=True),
    sa.Column('grade', sa.String(), nullable=True),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_pathology_patient_id'), 'pathology', ['patient_id'], unique=False)
    op.create_table('visit',
    sa.Column('source', sa.String(), nullable=False),
    sa.Column('verified', sa.Boolean(), nullable=False),
    sa.Column('notes', sa.String(), nullable=False),
    sa.Column('patient_id', sa.Integer(), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('voided_reason', sa.String(), nullable=True),
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('symptoms', sa.String(), nullable=False),
    sa.Column('symptom_other', sa.String(), nullable=False),
    sa.Column('weight_kg', sa.String(), nullable=True),
    sa.Column('performance_status', sa.Integer(), nullable=True),
    sa.Column('on_ppi', sa.Boolean(), nullable=False),
    sa.Column('wants_to_leave', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['patient_id'], ['patient.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_visit_patient_id'), 'visit', ['patient_id'], unique=False)
    op.create_table('lesion_measurement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('study_id', sa.Integer(), nullable=False),
    sa.Column('lesion', sa.String(), nullable=False),
    sa.Column('site', sa.String(), nullable=False),
    sa.Column('longest_mm', sa.String(), nullable=True),
    sa.Column('short_axis_mm', sa.String(), nullable=True),
    sa.Column('other_dims_mm', sa.String(), nullable=False),
    sa.Column('is_new', sa.Boolean(), nullable=False),
    sa.Column('pet_avid', sa.Boolean(), nullable=True),
    sa.ForeignKeyConstraint(['study_id'], ['imaging_study.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_lesion_measurement_study_id'), 'lesion_measurement', ['study_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_lesion_measurement_study_id'), table_name='lesion_measurement')
    op.drop_table('lesion_measurement')
    op.drop_index(op.f('ix_visit_patient_id'), table_name='visit')
    op.drop_table('visit')
    op.drop_index(op.f('ix_pathology_patient_id'), table_name='pathology')
    op.drop_table('pathology')
    op.drop_index(op.f('ix_lab_result_patient_id'), table_name='lab_result')
    op.drop_table('lab_result')
    op.drop_index(op.f('ix_imaging_study_patient_id'), table_name='imaging_study')
    op.drop_table('imaging_study')
    op.drop_index(op.f('ix_flag_review_patient_id'), table_name='flag_review')
    op.drop_table('flag_review')
    op.drop_index(op.f('ix_flag_log_patient_id'), table_name='flag_log')
    op.drop_table('flag_log')
    op.drop_index(op.f('ix_patient_label'), table_name='patient')
    op.drop_table('patient')
    op.drop_index(op.f('ix_audit_event_patient_id'), table_name='audit_event')
    op.drop_table('audit_event')
