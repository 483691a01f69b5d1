"""The demo: a fresh database in its own folder (never the user's real one), loaded with the
synthetic examples, then evaluated as of a date."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from tracker import config, db
from tracker.config import Settings
from tracker.services.files import import_file


def examples_dir() -> Path:
    """`examples/` beside the package in a checkout, or inside the installed package."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here / "examples", here.parent / "examples"):
        if (candidate / "syn-stable.json").is_file():
            return candidate
    raise FileNotFoundError("the examples folder is missing from this installation")


def example_files() -> list[Path]:
    folder = examples_dir()
    return [*sorted(folder.glob("syn-*.json")), folder / "labs.csv"]


def fresh_demo(out_dir: Path, *, user: str, today: date) -> Settings:
    """Create `out_dir/demo.db` anew and import every example into it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "demo.db"
    settings = Settings(db_url=config.to_url(str(path)), user=user)
    db.dispose_all()
    for leftover in out_dir.glob("demo.db*"):
        leftover.unlink()
    for f in example_files():
        import_file(settings, f, today=today)
    return settings
