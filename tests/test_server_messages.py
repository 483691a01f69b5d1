"""The clinic server's connection failures each get their own sentence (issue 19 item 6), tested
against the real PostgreSQL server the test session starts (tests/conftest.py)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest

from tests.conftest import Cli, PostgresServer, _free_port

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def password_role(postgres_server: PostgresServer) -> str:
    """A role that must give a password (scram-sha-256 for it alone, the rest stays trust)."""
    hba = postgres_server.root / "data" / "pg_hba.conf"
    text = hba.read_text()
    line = "host all pwnurse 127.0.0.1/32 scram-sha-256\n"
    if line not in text:
        hba.write_text(line + text)
    postgres_server.admin("DROP ROLE IF EXISTS pwnurse")
    postgres_server.admin("CREATE ROLE pwnurse LOGIN PASSWORD 'right-password' CREATEDB")
    postgres_server.admin("SELECT pg_reload_conf()")
    return "pwnurse"


def _worklist(make_cli: Callable[[str], Cli], url: str) -> tuple[int, str]:
    r = make_cli(url)("worklist")
    assert "Traceback" not in r.output
    return r.exit_code, r.stderr


def test_a_wrong_password_is_named(make_cli: Callable[[str], Cli], postgres_server: PostgresServer,
                                   password_role: str) -> None:
    code, err = _worklist(make_cli, f"postgresql+psycopg://{password_role}:wrong@127.0.0.1:{postgres_server.port}/postgres")
    assert code == 1 and "refused the user name or password" in err and "wrong" not in err


def test_a_missing_database_is_named(make_cli: Callable[[str], Cli], postgres_server: PostgresServer) -> None:
    code, err = _worklist(make_cli, postgres_server.url("no_such_db"))
    assert code == 1 and "has no database of the name in the URL" in err


def test_a_server_that_is_down_is_named(make_cli: Callable[[str], Cli]) -> None:
    code, err = _worklist(make_cli, f"postgresql+psycopg://postgres@127.0.0.1:{_free_port()}/tracker")
    assert code == 1 and "did not answer at the host and port" in err


def test_the_right_password_works(make_cli: Callable[[str], Cli], postgres_server: PostgresServer,
                                  password_role: str) -> None:
    name = postgres_server.create_database()
    postgres_server.admin(f"ALTER DATABASE {name} OWNER TO {password_role}")
    r = make_cli(f"postgresql+psycopg://{password_role}:right-password@127.0.0.1:{postgres_server.port}/{name}")(
        "patient", "list")
    assert r.exit_code == 0, r.output


def test_the_documented_pg_dump_command_works(postgres_server: PostgresServer, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """docs/clinic-server.md: pg_dump takes the URL without '+psycopg' (`${TRACKER_DB/+psycopg/}`)."""
    url = postgres_server.url(postgres_server.create_database())
    out = tmp_path / "t.dump"
    done = subprocess.run(["bash", "-c", 'pg_dump --format=custom --file "$OUT" "${TRACKER_DB/+psycopg/}"'],
                          env={"PATH": f"{postgres_server.bindir}:/usr/bin:/bin", "TRACKER_DB": url, "OUT": str(out)},
                          capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 0


def test_a_connection_the_server_drops_mid_command_is_the_sentence(postgres_server: PostgresServer) -> None:
    """The server ends this command's connection while it works (a restart, a network cut): one
    sentence, not a traceback, and nothing queued for the audit trail is carried on."""
    import sqlalchemy as sa

    from tracker import db
    from tracker.config import Settings
    from tracker.errors import DatabaseError
    from tracker.store import Store

    settings = Settings(db_url=postgres_server.url(postgres_server.create_database()), user="t")
    with pytest.raises(DatabaseError, match="did not answer"), db.transaction(settings) as conn:
        Store(conn).audit(user="t", action="create", entity="visit", entity_id=1, patient_id=None)
        pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        postgres_server.admin(f"SELECT pg_terminate_backend({pid})")
        conn.execute(sa.text("SELECT 1"))
    with db.transaction(settings) as conn:  # the next command works, and finds no event of the failed one
        assert conn.execute(sa.text("SELECT count(*) FROM audit_event")).scalar() == 0
    db.dispose_all()


def test_a_server_that_stops_taking_connections_is_the_sentence(postgres_server: PostgresServer) -> None:
    """The server refuses new connections after the tool has opened the database (a web page, a
    second transaction): the sentence, not a traceback."""
    from tracker import db
    from tracker.config import Settings
    from tracker.errors import DatabaseError

    name = postgres_server.create_database()
    settings = Settings(db_url=postgres_server.url(name), user="t")
    with db.transaction(settings, read_only=True):
        pass
    postgres_server.admin(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")
    postgres_server.admin(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")
    try:
        with pytest.raises(DatabaseError), db.transaction(settings, read_only=True):
            pass
    finally:
        postgres_server.admin(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")
        db.dispose_all()
