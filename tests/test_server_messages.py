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
