"""The demo: a fresh database in its own folder (never the user's real one), loaded with the
synthetic examples as they stood on a date, then evaluated as of that date."""

from __future__ import annotations

import csv
import json
import tempfile
from datetime import date
from pathlib import Path

from tracker import config, db
from tracker.config import Settings
from tracker.jsonio.documents import LIST_KEYS
from tracker.services.files import import_file


def example_files() -> list[Path]:
    folder = config.package_folder("examples")
    return [*sorted(folder.glob("syn-*.json")), folder / "labs.csv"]


def fresh_demo(out_dir: Path, *, user: str, today: date) -> tuple[Settings, int]:
    """Create `out_dir/demo.db` anew and import every example into it as it stood on `today`:
    records dated after it are left out, and a patient enrolled after it. Returns the settings
    and how many records were left out."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "demo.db"
    settings = Settings(db_url=config.to_url(str(path)), user=user)
    db.dispose_all()
    for leftover in out_dir.glob("demo.db*"):
        leftover.unlink()
    left_out = 0
    labels: set[str] = set()
    with tempfile.TemporaryDirectory(prefix="tracker-demo-") as staged:
        for f in example_files():
            copy = Path(staged) / f.name
            left_out += _as_it_stood(f, copy, today, labels)
            if copy.exists():
                import_file(settings, copy, today=today)
    return settings, left_out


def _as_it_stood(src: Path, dest: Path, today: date, labels: set[str]) -> int:
    """Write the example `src` to `dest` without what is dated after `today` (no file when
    nothing is left); JSON patients kept are added to `labels`, and lab rows are kept only for
    them. Returns the number of records left out."""
    day = today.isoformat()
    if src.suffix == ".csv":
        lines = src.read_text(encoding="utf-8").splitlines(keepends=True)
        rows = list(csv.reader(lines[1:]))
        kept = [line for line, row in zip(lines[1:], rows, strict=True) if row[0] in labels and row[1] <= day]
        if kept:
            dest.write_text("".join([lines[0], *kept]), encoding="utf-8")
        return len(rows) - len(kept)
    doc = json.loads(src.read_text(encoding="utf-8"))
    records = [key for key in LIST_KEYS.values() if key in doc]
    if doc["patient"]["protocol"]["start"] > day or doc["patient"]["diagnosis_date"] > day:
        return sum(len(doc[key]) for key in records)
    left_out = 0
    for key in records:
        kept = [r for r in doc[key] if r["date"] <= day]
        left_out += len(doc[key]) - len(kept)
        doc[key] = kept
    left = doc["patient"].get("left_surveillance")
    if left and left["date"] > day:  # had not left yet
        del doc["patient"]["left_surveillance"]
    labels.add(doc["patient"]["label"])
    dest.write_text(json.dumps(doc, ensure_ascii=False, indent=1), encoding="utf-8")
    return left_out
