"""`tracker measures`: a RECIST row for every CT/MRI time point, units on every number, no value
printed as a threshold it does not reach (SQLite; the rows are built above the store)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli


def document(label: str, protocol: str, scans: list[dict[str, Any]], labs: list[dict[str, Any]] = ()) -> dict:
    return {
        "schema_version": 1,
        "patient": {"label": label, "birth_year": 1960, "sex": "female", "diagnosis_date": "2025-01-01",
                    "setting": "metastatic" if "metastatic" in protocol else "small_nf",
                    "protocol": {"id": protocol, "start": "2025-01-10"}},
        "scans": scans, "labs": list(labs),
    }


def ct(when: str, *lesions: tuple[str, str, float], modality: str = "CT", new: str = "") -> dict[str, Any]:
    return {"date": when, "modality": modality,
            "lesions": [{"lesion": name, "site": site, "longest_mm": mm, "is_new": name == new}
                        for name, site, mm in lesions]}


@pytest.fixture
def measured(sqlite_url: str, tmp_path: Path) -> Cli:
    cli = Cli(sqlite_url)
    docs = [
        document("MISSING", "pnet-metastatic-ww", [ct("2025-01-10", ("L1", "liver", 30), ("L2", "liver", 20)),
                                                    ct("2025-04-10", ("L1", "liver", 70))]),
        document("NO-TARGET", "pnet-metastatic-ww", [ct("2025-01-10", ("B1", "bone", 30)),
                                                      ct("2025-04-10", ("B1", "bone", 30), ("L9", "liver", 12),
                                                         new="L9")]),
        document("NEAR", "pnet-small-nf", [ct("2025-01-10", ("P1", "pancreas", 12.53), modality="MRI"),
                                           ct("2025-07-10", ("P1", "pancreas", 15.03), modality="MRI")],
                 labs=[{"date": d, "analyte": "chromogranin_a", "value": v, "unit": "ng/mL", "upper_limit": 102}
                       for d, v in (("2025-01-10", 50), ("2025-03-10", 50.5), ("2025-05-10", 51))]),
    ]
    for n, doc in enumerate(docs):
        path = tmp_path / f"p{n}.json"
        path.write_text(json.dumps(doc), "utf-8")
        r = cli("import", str(path), "--as-of", "2026-01-01")
        assert r.exit_code == 0, r.output
    return cli


def rows(cli: Cli, label: str) -> list[dict[str, Any]]:
    r = cli("measures", label, "--as-of", "2026-01-01", "--format", "json")
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_a_missing_target_with_the_measured_ones_at_pd_reads_pd_and_never_ne_mm(measured: Cli) -> None:
    recist = [r for r in rows(measured, "MISSING") if r["what"] == "RECIST sum"]
    assert [r["response"] for r in recist] == ["baseline", "PD"]
    assert recist[1]["latest"] == "not evaluable (CT, 2025-04-10)" and recist[1]["change_nadir"] == "+20 mm (+40.0 %)"
    assert "not measured: L2 (measured targets 70 mm)" in recist[1]["notes"]
    assert "baseline: scan:1 (2025-01-10)" in recist[1]["notes"]
    table = measured("measures", "MISSING", "--as-of", "2026-01-01").stdout
    assert "NE mm" not in table


def test_no_measurable_disease_and_a_new_lesion_still_has_its_recist_rows(measured: Cli) -> None:
    recist = [r for r in rows(measured, "NO-TARGET") if r["what"] == "RECIST sum"]
    assert [(r["response"], r["series"]) for r in recist] == [("baseline", "no targets"), ("PD", "no targets")]
    assert "no measurable target lesion at baseline" in recist[0]["notes"] and "new: L9" in recist[1]["notes"]


def test_a_value_under_a_threshold_is_never_printed_as_the_threshold(measured: Cli) -> None:
    """12.53 -> 15.03 mm is +19.95 %, under the 20 % of growth.relative: printed +19.95 %, not +20.0 %."""
    (p1,) = [r for r in rows(measured, "NEAR") if r["what"] == "lesion P1"]
    assert p1["change_nadir"] == "+2.5 mm (+19.95 %)"


def test_every_measure_carries_its_unit_and_its_model(measured: Cli) -> None:
    """TGR in %/month and the lesion doubling time in months, each naming the volume model; the
    marker doubling time names itself; a rate next to 'not evaluable' is left out."""
    by_what = {r["what"]: r for r in rows(measured, "NEAR")}
    p1, cga = by_what["lesion P1"], by_what["chromogranin_a"]
    assert p1["tgr_pct_per_month"].endswith("%/month (volume ∝ diameter³)")
    assert p1["doubling_months"].endswith("months, lesion volume (volume ∝ diameter³)")
    assert p1["rate"] is None and "growth rate not evaluable" in p1["notes"]
    assert cga["doubling_months"] == "> 10 years, marker (log-linear fit)"


def test_a_disappeared_target_is_recorded_as_0_mm_and_reads_cr(sqlite_url: str, tmp_path: Path) -> None:
    """A non-nodal lesion seen before may be recorded as 0 mm (disappeared): the import accepts it and,
    with the target node under 10 mm short axis, the time point is CR. A new lesion of 0 mm is refused."""
    cli = Cli(sqlite_url)
    node = {"lesion": "N1", "site": "regional_node", "longest_mm": 20, "short_axis_mm": 16}
    gone = document("GONE", "pnet-metastatic-ww", [
        {"date": "2025-01-10", "modality": "CT",
         "lesions": [{"lesion": "L1", "site": "liver", "longest_mm": 20}, node]},
        {"date": "2025-04-10", "modality": "CT", "lesions": [{"lesion": "L1", "site": "liver", "longest_mm": 0},
                                                             {**node, "short_axis_mm": 8}]}])
    path = tmp_path / "gone.json"
    path.write_text(json.dumps(gone), "utf-8")
    assert cli("import", str(path), "--as-of", "2026-01-01").exit_code == 0
    recist = [r for r in rows(cli, "GONE") if r["what"] == "RECIST sum"]
    assert [r["response"] for r in recist] == ["baseline", "CR"]
    gone["patient"]["label"] = "NEW-ZERO"
    gone["scans"][1]["lesions"].append({"lesion": "L2", "site": "liver", "longest_mm": 0, "is_new": True})
    path.write_text(json.dumps(gone), "utf-8")
    r = cli("import", str(path), "--as-of", "2026-01-01")
    assert r.exit_code == 1 and "longest_mm" in r.stderr
