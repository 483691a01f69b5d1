"""The audit trail and the flag reviews are tamper-evident: a hash chain that `db check` recomputes,
guards that must exist and be enabled, and (PostgreSQL) a role split that leaves the everyday role
no TRUNCATE and no DDL. Each attack an adversarial test made on the landed main is detected."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as hs
from sqlalchemy import text

from tests.conftest import EXAMPLES, REPO, Cli, PostgresServer, subprocess_env
from tests.test_dbadmin import _sql
from tracker import chain, db

AS_OF = ["--as-of", "2026-11-22"]


@pytest.fixture
def reviewed(cli: Cli) -> Cli:
    return _reviewed(cli)


def _reviewed(cli: Cli) -> Cli:
    """One imported patient, an acknowledged flag and a logged visit: both chains hold rows."""
    assert cli("import", str(EXAMPLES / "syn-growing.json"), *AS_OF).exit_code == 0
    r = cli("flag", "ack", "SYN-GROWING", "growth.absolute", "--reason", "on the board list", *AS_OF)
    assert r.exit_code == 0, r.output
    r = cli("log", "visit", "SYN-GROWING", "--date", "2026-11-01", "--notes", "well", *AS_OF)
    assert r.exit_code == 0, r.output
    return cli


def _check(cli: Cli) -> Any:
    db.dispose_all()
    return cli("db", "check")


def _rows(url: str, table: str) -> list[Any]:
    engine = db.make_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(text(f"SELECT * FROM {table} ORDER BY id")).mappings())
    finally:
        engine.dispose()


# ----------------------------------------------------------------------------- the chain itself


def test_every_row_is_chained_to_the_one_before_and_db_check_says_so(reviewed: Cli) -> None:
    """Each audit event and flag review stores SHA-256(previous hash, canonical content)."""
    for table in chain.FIELDS:
        rows = _rows(reviewed.url, table)
        assert rows
        previous = None
        for row in rows:
            assert re.fullmatch("[0-9a-f]{64}", row["chain_hash"])
            assert row["chain_hash"] == chain.link(previous, table, row)
            previous = row["chain_hash"]
    r = _check(reviewed)
    assert r.exit_code == 0 and r.stderr.startswith("OK"), r.stdout + r.stderr
    heads = [f"chain head: {t} {_rows(reviewed.url, t)[-1]['chain_hash']}" for t in chain.FIELDS]
    assert r.stdout.splitlines() == heads


_AUDIT = {"at": datetime(2026, 1, 2, 3, 4, 5, 6), "user": "u", "action": "create", "entity": "visit",
          "entity_id": 1, "patient_id": 1, "reason": "", "before": None, "after": '{"a": 1}'}
_VALUES = hs.one_of(hs.none(), hs.integers(), hs.text(), hs.datetimes(), hs.dates())


@given(field=hs.sampled_from(chain.FIELDS["audit_event"]), value=_VALUES)
def test_any_change_to_any_field_changes_the_hash(field: str, value: Any) -> None:
    """The hash covers every field: a changed value (of any type) never keeps the hash."""
    changed = {**_AUDIT, field: value}
    if chain._canonical(value) == chain._canonical(_AUDIT[field]):
        return
    assert chain.link(None, "audit_event", changed) != chain.link(None, "audit_event", _AUDIT)
    assert chain.link("x", "audit_event", _AUDIT) != chain.link(None, "audit_event", _AUDIT)


def test_a_time_is_hashed_as_the_utc_instant_it_is() -> None:
    """A zone-aware time and its UTC wall time hash alike (PostgreSQL returns the session zone)."""
    aware = datetime(2026, 1, 2, 4, 4, 5, 6, tzinfo=timezone.utc).astimezone()
    assert chain.link(None, "audit_event", {**_AUDIT, "at": aware}) == chain.link(
        None, "audit_event", {**_AUDIT, "at": datetime(2026, 1, 2, 4, 4, 5, 6)})
    assert chain._canonical(date(2026, 1, 2)) == "2026-01-02"


def test_the_migration_builds_the_chain_of_an_old_database(tmp_path: Path) -> None:
    """A database at 0004 with audit events and reviews gets their chain on upgrade; check says OK."""
    from alembic import command


    url = f"sqlite:///{tmp_path / 'old.db'}"
    cli = Cli(url)
    assert cli("import", str(EXAMPLES / "syn-growing.json"), *AS_OF).exit_code == 0
    assert cli("flag", "ack", "SYN-GROWING", "growth.absolute", "--reason", "r", *AS_OF).exit_code == 0
    db.dispose_all()
    engine = db.make_engine(url)
    with engine.begin() as conn:
        command.downgrade(db._alembic_config(conn), "0004")
    engine.dispose()
    assert "chain_hash" not in _rows(url, "audit_event")[0]
    r = cli("patient", "list")
    assert r.exit_code == 0, r.output
    assert all(row["chain_hash"] for t in chain.FIELDS for row in _rows(url, t))
    assert _check(cli).exit_code == 0


# ----------------------------------------------------------------------------- the four attacks


@pytest.mark.parametrize("table", ["audit_event", "flag_review"])
def test_sqlite_insert_or_replace_is_refused_and_detected(table: str, sqlite_url: str) -> None:
    """INSERT OR REPLACE deletes a row without firing its DELETE trigger: a guard refuses it, and
    with the guard dropped the replaced row breaks the chain (an acknowledgement that became a
    snooze until 2099, or a rewritten event)."""
    cli = Cli(sqlite_url)
    reviewed_cli = _reviewed(cli)
    row = _rows(sqlite_url, table)[0]
    forged = {**row, "action": "snooze", "until": "2099-01-01"} if table == "flag_review" else {
        **row, "user": "someone else"}
    cols = ", ".join(f'"{c}"' for c in forged)
    values = ", ".join("NULL" if v is None else str(v) if isinstance(v, int) else "'" + str(v).replace("'", "''") + "'"
                       for v in forged.values())
    replace = f"INSERT OR REPLACE INTO {table} ({cols}) VALUES ({values})"
    with pytest.raises(Exception, match="append-only"):
        _sql(sqlite_url, replace)
    _sql(sqlite_url, f"DROP TRIGGER {table}_no_replace", replace)
    r = _check(reviewed_cli)
    assert r.exit_code == 1
    assert f"append-only guard(s) missing, the audit trail could be altered: {table}_no_replace" in r.stdout
    assert f"{table} #{row['id']} does not match the hash chain" in r.stdout


@pytest.mark.postgres
def test_postgres_truncate_is_refused_and_a_truncation_is_detected(postgres_server: PostgresServer) -> None:
    """TRUNCATE (which fires no row trigger) is refused by a statement-level guard; an owner who
    disables the guard, truncates and enables it again leaves patients whose creation the trail
    no longer records, and reviews without their audit events."""
    url = postgres_server.url(postgres_server.create_database())
    cli = _reviewed(Cli(url))
    for table in chain.FIELDS:
        with pytest.raises(Exception, match="append-only"):
            _sql(url, f"TRUNCATE {table}")
    _sql(url, "ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_truncate")
    r = _check(cli)
    assert r.exit_code == 1 and "append-only guard(s) disabled" in r.stdout and "audit_event_no_truncate" in r.stdout
    _sql(url, "TRUNCATE audit_event", "ALTER TABLE audit_event ENABLE TRIGGER audit_event_no_truncate")
    r = _check(cli)
    assert r.exit_code == 1, r.stdout
    assert "does not record the creation of patient #1" in r.stdout
    assert "flag reviews of 1 patient(s) do not match their audit events" in r.stdout


@pytest.mark.postgres
def test_postgres_disable_trigger_is_detected(postgres_server: PostgresServer) -> None:
    """ALTER TABLE ... DISABLE TRIGGER leaves the guard in place but off: db check names it; the
    rows changed meanwhile break the chain, even once the guard is enabled again."""
    url = postgres_server.url(postgres_server.create_database())
    cli = _reviewed(Cli(url))
    _sql(url, "ALTER TABLE flag_review DISABLE TRIGGER flag_review_no_update",
         "UPDATE flag_review SET action = 'snooze', until = '2099-01-01'")
    r = _check(cli)
    assert r.exit_code == 1
    assert "append-only guard(s) disabled, the audit trail could be altered: flag_review_no_update" in r.stdout
    assert "flag_review #1 does not match the hash chain" in r.stdout
    _sql(url, "ALTER TABLE flag_review ENABLE TRIGGER flag_review_no_update")
    r = _check(cli)
    assert r.exit_code == 1 and "disabled" not in r.stdout and "flag_review #1 does not match" in r.stdout


def test_a_dropped_or_disabled_state_cache_trigger_is_reported(cli: Cli) -> None:
    """The state cache's triggers are guards too: without one a stale worklist could be shown."""

    assert cli("import", str(EXAMPLES / "syn-growing.json"), *AS_OF).exit_code == 0
    if cli.url.startswith("sqlite"):
        _sql(cli.url, "DROP TRIGGER imaging_study_state_stale_insert")
        gone = "state-cache trigger(s) missing, a stale surveillance state could be shown: " \
               "imaging_study_state_stale_insert"
    else:
        _sql(cli.url, "ALTER TABLE imaging_study DISABLE TRIGGER imaging_study_state_stale")
        gone = "state-cache trigger(s) disabled, a stale surveillance state could be shown: imaging_study_state_stale"
    r = _check(cli)
    assert r.exit_code == 1 and gone in r.stdout


def test_a_removed_event_in_the_middle_breaks_the_chain(sqlite_url: str) -> None:
    """Removing a row (guards dropped) breaks the chain at the row after it."""
    cli = _reviewed(Cli(sqlite_url))
    ids = [r["id"] for r in _rows(sqlite_url, "audit_event")]
    assert len(ids) >= 3
    _sql(sqlite_url, "DROP TRIGGER audit_event_no_delete", f"DELETE FROM audit_event WHERE id = {ids[1]}")
    r = _check(cli)
    assert r.exit_code == 1 and f"audit_event #{ids[2]} does not match the hash chain" in r.stdout


def test_an_event_queued_by_a_transaction_that_failed_is_never_written(db_url: str) -> None:
    """A command refused after it queued an audit event writes nothing: the event is not carried,
    with the pooled connection, into the next command's commit."""
    from tracker.config import Settings
    from tracker.db import transaction
    from tracker.errors import ValidationError
    from tracker.store import Store

    settings = Settings(db_url=db_url, user="t")
    with transaction(settings) as s:
        Store(s).audit(user="t", action="create", entity="visit", entity_id=1, patient_id=None)
    with pytest.raises(ValidationError), transaction(settings) as s:
        Store(s).audit(user="refused", action="create", entity="visit", entity_id=2, patient_id=None)
        raise ValidationError("refused after the event was queued", "x")
    with transaction(settings) as s:
        Store(s).audit(user="t", action="create", entity="visit", entity_id=3, patient_id=None)
    db.dispose_all()
    assert [(r["user"], r["entity_id"]) for r in _rows(db_url, "audit_event")] == [("t", 1), ("t", 3)]


# ----------------------------------------------------------------------------- concurrent writers

_WRITER = """
import sys, time
from tracker.config import Settings
from tracker.db import transaction
from tracker.store import Store
settings = Settings(db_url=sys.argv[1], user=sys.argv[2])
for i in range(25):
    with transaction(settings) as s:
        Store(s).audit(user=settings.user, action="create", entity="visit", entity_id=i, patient_id=None)
        time.sleep(0.005)
"""


def test_two_processes_appending_at_once_both_stay_chained(db_url: str) -> None:
    """Two processes committing audit events at the same moment never fork the chain (the tail is
    read under a lock): every event is chained, and db check says OK."""
    Cli(db_url)("patient", "list")  # creates the schema
    db.dispose_all()
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, db_url, f"writer-{n}"], cwd=REPO,
                              env=subprocess_env(), stderr=subprocess.PIPE, text=True) for n in (1, 2)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    rows = _rows(db_url, "audit_event")
    assert len(rows) == 50 and {r["user"] for r in rows} == {"writer-1", "writer-2"}
    engine = db.make_engine(db_url)
    with engine.connect() as conn:
        assert chain.first_break(conn, "audit_event") is None
    engine.dispose()
    assert len({r["chain_hash"] for r in rows}) == 50


# ----------------------------------------------------------------------------- the role split


def _doc_sql() -> str:
    """The role-split SQL of docs/clinic-server.md (the block after 'roles.sql')."""
    doc = (REPO / "docs" / "clinic-server.md").read_text(encoding="utf-8")
    return doc.split("<!-- roles.sql -->", 1)[1].split("```sql", 1)[1].split("```", 1)[0]


@pytest.mark.postgres
def test_the_documented_role_split_leaves_the_application_no_truncate_and_no_ddl(
        postgres_server: PostgresServer) -> None:
    """The owner runs the migrations; the application role (as docs/clinic-server.md grants it)
    runs every everyday command but cannot TRUNCATE, DELETE the trail, disable a trigger or
    create a table."""
    import psycopg


    n = postgres_server.create_database()
    owner, app = f"{n}_owner", f"{n}_app"
    postgres_server.admin(f"CREATE ROLE {owner} LOGIN")
    postgres_server.admin(f"CREATE ROLE {app} LOGIN")
    postgres_server.admin(f"ALTER DATABASE {n} OWNER TO {owner}")
    base = f"postgresql+psycopg://{{}}@127.0.0.1:{postgres_server.port}/{n}"
    as_owner = Cli(base.format(owner))
    assert as_owner("patient", "list").exit_code == 0  # the owner creates the schema
    sql = _doc_sql().replace("tracker_app", app).replace("DATABASE tracker", f"DATABASE {n}")
    with psycopg.connect(host="127.0.0.1", port=postgres_server.port, user=owner, dbname=n,
                         autocommit=True) as conn:
        for statement in filter(str.strip, sql.split(";")):
            conn.execute(statement)
    db.dispose_all()
    cli = Cli(base.format(app))
    for args in (["import", str(EXAMPLES / "syn-growing.json"), *AS_OF],
                 ["flag", "ack", "SYN-GROWING", "growth.absolute", "--reason", "board", *AS_OF],
                 ["log", "visit", "SYN-GROWING", "--date", "2026-11-01", *AS_OF],
                 ["amend", "SYN-GROWING", "scan", "1", "--set", "lesions.P1.longest_mm=13", "--reason", "addendum",
                  *AS_OF],
                 ["void", "SYN-GROWING", "visit", "1", "--reason", "wrong patient"],
                 ["worklist", *AS_OF], ["export", "--all"], ["audit"], ["db", "check"]):
        r = cli(*args)
        assert r.exit_code == 0, (args, r.output)
    db.dispose_all()
    with psycopg.connect(host="127.0.0.1", port=postgres_server.port, user=app, dbname=n,
                         autocommit=True) as conn:
        for attack in ("TRUNCATE audit_event", "TRUNCATE flag_review", "DELETE FROM audit_event",
                       "ALTER TABLE audit_event DISABLE TRIGGER audit_event_no_update",
                       "DROP TRIGGER audit_event_no_delete ON audit_event", "CREATE TABLE x (id int)",
                       "UPDATE audit_event SET reason = ''"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(attack)
    # a missing grant, or an upgrade only the owner may run, is one sentence
    with psycopg.connect(host="127.0.0.1", port=postgres_server.port, user=owner, dbname=n,
                         autocommit=True) as conn:
        conn.execute(f"REVOKE INSERT ON visit FROM {app}")
    r = cli("log", "visit", "SYN-GROWING", "--date", "2026-11-02", *AS_OF)
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    assert r.stderr.startswith("Error: the database role in --db or TRACKER_DB may not do this")
