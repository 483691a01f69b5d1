"""Fixtures shared by the whole suite.

- Every test runs with TRACKER_HOME in its own tmp_path (TRACKER_DB and TRACKER_USER cleared) and
  closes the cached engines afterwards.
- `db_url` runs a test twice: on a SQLite file and on a real PostgreSQL server that this session
  starts itself in a temporary folder (initdb + pg_ctl, as an unprivileged user when run as root).
  Without the server binaries the PostgreSQL half is skipped with the reason shown, unless
  CI=true or TRACKER_REQUIRE_POSTGRES=1, where it fails instead.
- `settings` and `cli` point at that database.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tracker import db as tracker_db
from tracker.config import Settings

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"
#: the unprivileged account that runs PostgreSQL (and read-only checks) when the tests run as root
UNPRIVILEGED_USER = "trackerpg"


# --------------------------------------------------------------------------- environment


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TRACKER_HOME", str(tmp_path))
    monkeypatch.delenv("TRACKER_DB", raising=False)
    monkeypatch.delenv("TRACKER_USER", raising=False)
    yield
    tracker_db.dispose_all()


def postgres_required() -> bool:
    return os.environ.get("CI", "").lower() == "true" or os.environ.get("TRACKER_REQUIRE_POSTGRES") == "1"


def unprivileged_user() -> str | None:
    """When running as root: an unprivileged account (created if missing), else None.
    Raises RuntimeError if it cannot be created."""
    if os.geteuid() != 0:
        return None
    with contextlib.suppress(KeyError):
        pwd.getpwnam(UNPRIVILEGED_USER)
        return UNPRIVILEGED_USER
    done = subprocess.run(
        ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", UNPRIVILEGED_USER],
        capture_output=True, text=True, check=False,
    )
    if done.returncode not in (0, 9):  # 9: created meanwhile by another run
        raise RuntimeError(f"useradd {UNPRIVILEGED_USER} failed: {done.stderr.strip()}")
    return UNPRIVILEGED_USER


def as_user(cmd: list[str], user: str | None) -> list[str]:
    """`cmd`, run as `user` when one is given (we are root then)."""
    return ["runuser", "-u", user, "--", *cmd] if user else cmd


def chown_tree(path: Path, user: str | None) -> None:
    if user is None:
        return
    pw = pwd.getpwnam(user)
    for p in [path, *path.rglob("*")]:
        os.chown(p, pw.pw_uid, pw.pw_gid)


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for `python -m tracker` in a child process: the checkout importable."""
    env = {k: v for k, v in os.environ.items() if k not in ("TRACKER_DB", "TRACKER_USER")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    env.update(extra)
    return env


# --------------------------------------------------------------------------- PostgreSQL server


def find_pg_bindir() -> Path | None:
    """Where initdb, pg_ctl and postgres live: pg_config --bindir, /usr/lib/postgresql/*/bin, PATH."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10)
            candidates.append(Path(out.stdout.strip()))
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    for c in candidates:
        if all((c / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres")):
            return c
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PostgresServer:
    bindir: Path
    root: Path
    port: int
    user: str | None  # the OS account running the server, None if it is us
    _names: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self) -> str:
        name = f"test_{next(self._names)}"
        self.admin(f"CREATE DATABASE {name}")
        return name

    def drop_database(self, name: str) -> None:
        self.admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _run(cmd: list[str], user: str | None, what: str) -> None:
    done = subprocess.run(as_user(cmd, user), capture_output=True, text=True, check=False, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}): {done.stdout}\n{done.stderr}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server in a temporary folder for the whole session, stopped at the end."""
    bindir = find_pg_bindir()
    if bindir is None:
        reason = ("PostgreSQL server binaries (initdb, pg_ctl, postgres) not found via pg_config, "
                  "/usr/lib/postgresql/*/bin or PATH; install them (apt-get install postgresql) to run these tests")
        if postgres_required():
            pytest.fail(f"{reason}. They are required here (CI=true or TRACKER_REQUIRE_POSTGRES=1).", pytrace=False)
        pytest.skip(reason)
    user = unprivileged_user()
    root = Path(tempfile.mkdtemp(prefix="tracker-pg-"))
    os.chmod(root, 0o700)
    chown_tree(root, user)
    data, sockets, log = root / "data", root / "sockets", root / "server.log"
    sockets.mkdir()
    chown_tree(root, user)
    port = _free_port()
    server = PostgresServer(bindir=bindir, root=root, port=port, user=user)
    try:
        _run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
              "--locale=C", "--no-sync"], user, "initdb")
        _run([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o",
              f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
              "-c synchronous_commit=off -c full_page_writes=off", "start"], user, "pg_ctl start")
    except RuntimeError as exc:
        shutil.rmtree(root, ignore_errors=True)
        message = f"could not start a PostgreSQL server: {exc}"
        if postgres_required():
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    try:
        yield server
    finally:
        tracker_db.dispose_all()
        subprocess.run(as_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"], user),
                       capture_output=True, check=False, timeout=60)
        shutil.rmtree(root, ignore_errors=True)


# --------------------------------------------------------------------------- databases


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], str]]:
    """Makes fresh, empty databases of one backend (SQLite or PostgreSQL): call it for each one."""
    made: list[str] = []
    if request.param == "sqlite":
        numbers = itertools.count(1)

        def make() -> str:
            return f"sqlite:///{tmp_path / f'tracker-{next(numbers)}.db'}"

        yield make
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")

    def make_pg() -> str:
        name = server.create_database()
        made.append(name)
        return server.url(name)

    yield make_pg
    tracker_db.dispose_all()
    for name in made:
        with contextlib.suppress(Exception):
            server.drop_database(name)


@pytest.fixture
def db_url(db_factory: Callable[[], str]) -> str:
    """A fresh database URL; the test runs once on SQLite and once on PostgreSQL."""
    return db_factory()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite file, for tests that are about SQLite alone."""
    return f"sqlite:///{tmp_path / 'tracker.db'}"


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(db_url=db_url, user="test-user")


# --------------------------------------------------------------------------- CLI


@dataclass
class Cli:
    """Runs the typer app in-process against one database: `cli("history", "SYN-001")`."""

    url: str
    user: str = "test-user"

    def __call__(self, *args: str, input: str | None = None) -> Any:
        from typer.testing import CliRunner

        from tracker.cli import app

        return CliRunner().invoke(app, ["--db", self.url, "--user", self.user, *args], input=input)


@pytest.fixture
def cli(db_url: str) -> Cli:
    """The CLI on the `db_url` database (so on SQLite and on PostgreSQL); check .exit_code,
    .stdout and .stderr of the result."""
    return Cli(db_url)


@pytest.fixture
def make_cli() -> Callable[[str], Cli]:
    """The CLI on any database URL."""
    return Cli
