"""Where the tracker keeps its data, and who is using it: the only module that reads the environment.

Precedence for the database: the `--db` option, then `TRACKER_DB`, then
`<home>/tracker.db`, where home is `TRACKER_HOME` or the user's application folder.
A bare path means SQLite; anything with a scheme (`postgresql+psycopg://…`) is used as is.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from pathlib import Path

from tracker.errors import ConfigError

APP_NAME = "tracker"


def home_dir() -> Path:
    """The tracker's data folder (created on first use by the caller that writes to it)."""
    env = os.environ.get("TRACKER_HOME")
    if env:
        return Path(env).expanduser()
    import typer  # only for its app-dir rule; typer is already loaded by the CLI

    return Path(typer.get_app_dir(APP_NAME))


def package_folder(name: str) -> Path:
    """A folder of files shipped with the package (`schemas`, `examples`, `protocols`): inside the
    installed package, or beside it in a checkout (the folder holding pyproject.toml)."""
    here = Path(__file__).resolve().parent
    if (here / name).is_dir():
        return here / name
    if (here.parent / name).is_dir() and (here.parent / "pyproject.toml").is_file():
        return here.parent / name
    raise FileNotFoundError(f"the {name} folder is missing from this installation; reinstall tracker")


def current_user(explicit: str | None = None) -> str:
    """Who is recorded in the audit trail: `--user`, then `TRACKER_USER`, then the login name."""
    if explicit:
        return explicit
    env = os.environ.get("TRACKER_USER")
    if env:
        return env
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


@dataclass(frozen=True)
class Settings:
    db_url: str
    user: str
    source: str | None = None  # TRACKER_SOURCE: who enters values when --source is not given

    @property
    def is_sqlite(self) -> bool:
        return self.db_url.startswith("sqlite")

    @property
    def sqlite_path(self) -> Path | None:
        """The file of a SQLite database, None for in-memory or server databases."""
        if not self.is_sqlite:
            return None
        rest = self.db_url.split("///", 1)[1] if "///" in self.db_url else ""
        return Path(rest) if rest and rest != ":memory:" else None


def entry_source() -> str | None:
    """`TRACKER_SOURCE`: who enters values on this machine (patient or clinician), if set."""
    return os.environ.get("TRACKER_SOURCE", "").strip().lower() or None


def to_url(db: str) -> str:
    """A database URL from a path or URL."""
    if "://" in db:
        if db.startswith("postgres://"):
            return "postgresql+psycopg://" + db[len("postgres://"):]
        if db.startswith("postgresql://"):
            return "postgresql+psycopg://" + db[len("postgresql://"):]
        if not db.startswith(("sqlite", "postgresql+")):
            raise ConfigError(
                f"database URL scheme of '{db.split('://')[0]}' is not supported; use a file path "
                "or postgresql+psycopg://user@host/dbname"
            )
        return db
    path = Path(db).expanduser()
    if path.is_dir():
        raise ConfigError(f"--db {db} is a folder; give a file path such as {path / 'tracker.db'}")
    return f"sqlite:///{path}"


def resolve(db: str | None = None, user: str | None = None) -> Settings:
    """Settings from the CLI options and the environment. An empty `--db` or `TRACKER_DB` is
    refused: it would silently open the default database instead of the one meant."""
    if db is None:
        db = os.environ.get("TRACKER_DB")
    if db is not None and not db.strip():
        raise ConfigError("--db or TRACKER_DB is empty; give a database file path or URL, or unset TRACKER_DB "
                          "to use the default database")
    db = db or str(home_dir() / "tracker.db")
    return Settings(db_url=to_url(db), user=current_user(user), source=entry_source())
