"""A lab result with a comparator ("< 5") end to end, on SQLite and PostgreSQL: logged from the
command line, stored, shown, exported, imported back and read from a lab CSV, never turned
into the bare number."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Cli
from tracker.config import Settings
from tracker.db import transaction
from tracker.store import Store

AS_OF = ["--as-of", "2026-06-30"]


def _patient(cli: Cli, label: str = "CMP-1") -> None:
    result = cli("patient", "add", label, "--birth-year", "1961", "--sex", "female", "--diagnosis-date",
                 "2025-02-20", "--setting", "small_nf", "--start", "2025-03-10", *AS_OF)
    assert result.exit_code == 0, result.stderr


def _labs(url: str, label: str) -> list[tuple[str, str]]:
    with transaction(Settings(db_url=url, user="t")) as s:
        st = Store(s)
        return [(r.comparator, str(r.value)) for r in st.history(st.patient(label)).labs]


def test_a_below_result_is_kept_with_its_comparator(make_cli: Callable[[str], Cli], db_factory: Callable[[], str],
                                                   tmp_path: Path) -> None:
    cli = make_cli(db_factory())
    _patient(cli)
    result = cli("log", "lab", "CMP-1", "--date", "2026-01-09", "--analyte", "gastrin", "--value", "<5",
                 "--unit", "pmol/L", *AS_OF)
    assert result.exit_code == 0, result.stderr
    assert _labs(cli.url, "CMP-1") == [("<", "5")]
    shown = cli("history", "CMP-1")
    assert "gastrin < 5 pmol/L" in shown.stdout
    exported = cli("export", "CMP-1")
    lab = json.loads(exported.stdout)["labs"][0]
    assert (lab["comparator"], lab["value"]) == ("<", 5)
    # into a fresh database, and again (nothing added the second time)
    path = tmp_path / "cmp.json"
    path.write_text(exported.stdout, encoding="utf-8")
    fresh = make_cli(db_factory())
    for added in ("1 record(s) added", "0 record(s) added"):
        result = fresh("import", str(path), *AS_OF)
        assert result.exit_code == 0 and added in result.stderr, result.stderr
    assert _labs(fresh.url, "CMP-1") == [("<", "5")]
    assert fresh("export", "CMP-1").stdout == exported.stdout


def test_a_lab_csv_value_may_carry_a_comparator(cli: Cli, tmp_path: Path) -> None:
    _patient(cli)
    path = tmp_path / "labs.csv"
    path.write_text("patient,date,analyte,value,unit\nCMP-1,2026-01-09,CgA,>1000,ng/mL\n"
                    "CMP-1,2026-02-09,gastrin,<= 2.5,pmol/L\n", encoding="utf-8")
    result = cli("import", str(path), *AS_OF)
    assert result.exit_code == 0, result.stderr
    assert _labs(cli.url, "CMP-1") == [(">", "1000"), ("<=", "2.5")]
    measures = cli("measures", "CMP-1", "--format", "json", *AS_OF)
    assert measures.exit_code == 0, measures.stderr
    assert "> 1000 ng/mL" in measures.stdout


def test_a_comparator_the_schema_does_not_know_writes_nothing(cli: Cli, tmp_path: Path) -> None:
    _patient(cli)
    doc = json.loads(cli("export", "CMP-1").stdout)
    doc["labs"] = [{"date": "2026-01-09", "analyte": "gastrin", "value": 5, "unit": "pmol/L", "comparator": "~"}]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    result = cli("import", str(path), *AS_OF)
    assert result.exit_code == 1 and "labs[0].comparator" in result.stderr and "Traceback" not in result.stderr
    assert _labs(cli.url, "CMP-1") == []


def test_a_comparator_without_a_number_is_one_sentence(cli: Cli) -> None:
    _patient(cli)
    result = cli("log", "lab", "CMP-1", "--date", "2026-01-09", "--analyte", "gastrin", "--value", "<",
                 "--unit", "pmol/L", *AS_OF)
    assert result.exit_code == 1 and "the gastrin result" in result.stderr and "Traceback" not in result.stderr
    assert _labs(cli.url, "CMP-1") == []


def test_a_result_below_or_above_a_number_is_drawn_as_such() -> None:
    """The marker plot draws '< 50' and '> 300' as open triangles at 50 and 300, with a legend
    saying what they mean (never as plain points a reader takes for the value)."""
    from datetime import date

    from tests.factories import history, lab
    from tracker.plots.markers import markers_figure

    h = history(None, lab("2025-03-10", 64), lab("2025-10-01", 50, comparator="<"),
                lab("2025-12-01", 300, comparator=">"))
    fig = markers_figure(h, as_of=date(2026, 1, 1))
    (ax,) = [a for a in fig.axes if a.get_title().startswith("chromogranin A")]
    triangles = [c for c in ax.collections if c.get_label() == "_bound"]
    assert [tuple(c.get_offsets()[0])[1] for c in triangles] == [50.0, 300.0]
    labels = [t.get_text() for leg in [*fig.legends, ax.get_legend()] if leg for t in leg.get_texts()]
    assert any("reported as < x" in t for t in labels) and any("reported as > x" in t for t in labels)
