"""Alembic migrations for SQLite and PostgreSQL alike. Never edit an applied revision; add one."""
