"""FHIR R4 import and the mCODE-shaped export, on SQLite and PostgreSQL (docs/fhir.md).

The US Core example lab Observation (written by HL7, tests/data/fhir/README.md) and synthetic
portal downloads are imported as documented; a re-import adds nothing; every bad input is one
sentence with its location, exit 1, and the database exactly as before; the export is checked
by the FHIR R4 models of fhirclient and imports back into a fresh database as the same labs,
sizes and Ki-67."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import EXAMPLES, REPO, Cli
from tracker.config import Settings
from tracker.db import transaction
from tracker.domain.model import Modality
from tracker.store import Store

DATA = REPO / "tests" / "data" / "fhir"
US_CORE = DATA / "Observation-serum-total-bilirubin.json"
PORTAL = DATA / "syn-portal-download.json"
AS_OF = ["--as-of", "2026-06-30"]
LATE = ["--as-of", "2027-12-31"]  # after every example record


def _add_me(cli: Cli, sex: str = "unknown") -> None:
    result = cli("patient", "add", "ME", "--birth-year", "1961", "--sex", sex, "--diagnosis-date", "2025-02-20",
                 "--setting", "small_nf", "--start", "2025-03-10", *AS_OF)
    assert result.exit_code == 0, result.stderr


def _state(url: str) -> dict[str, object]:
    """Everything a refused import must leave as it was: patients, records, audit rows."""
    with transaction(Settings(db_url=url, user="t")) as s:
        st = Store(s)
        return {"patients": [(p.label, p.sex.value) for p in st.patients()], "counts": st.record_counts(),
                "audit": len(st.audit_rows(None))}


def _labs(url: str, label: str = "ME") -> list[tuple[str, str, str, str, str, str | None, str]]:
    with transaction(Settings(db_url=url, user="t")) as s:
        st = Store(s)
        return [(r.date.isoformat(), r.analyte.value, r.comparator, str(r.value), r.unit,
                 None if r.upper_limit is None else str(r.upper_limit), r.lab)
                for r in st.history(st.patient(label)).labs]


def _import(cli: Cli, path: Path, *args: str) -> object:
    return cli("import", str(path), "--patient", "ME", *args, *AS_OF)


# ----------------------------------------------------------------- data no one here wrote


def test_the_us_core_example_imports_as_bilirubin_with_its_upper_limit(cli: Cli) -> None:
    """HL7's US Core lab example: bilirubin 8.6 mg/dL (a `unit`, no UCUM `code`) of 2005-07-07,
    the reference range's high 7.0 as the upper limit."""
    assert json.loads(US_CORE.read_text(encoding="utf-8"))["id"] == "serum-total-bilirubin"  # unchanged copy
    _add_me(cli)
    result = _import(cli, US_CORE)
    assert result.exit_code == 0, result.stderr
    assert "1 record(s) added" in result.stderr
    assert _labs(cli.url) == [("2005-07-07", "bilirubin", "", "8.6", "mg/dL", "7", "")]


# ----------------------------------------------------------------- a portal download


@pytest.mark.parametrize("name", ["syn-portal-download.json", "syn-portal-download.ndjson"])
def test_a_portal_download_becomes_lab_results_and_reports_to_read(cli: Cli, name: str) -> None:
    """The synthetic download (a searchset Bundle, or the same as NDJSON): four labs with their
    units, comparator, ranges and lab; the duplicated entry once; haemoglobin, a vital sign and a
    claim skipped and counted; the MRI report listed to read, not a scan; the text range that is
    not simple said so; the sex taken because ours was unknown; no name, address or record
    number stored anywhere."""
    _add_me(cli)
    result = _import(cli, DATA / name)
    assert result.exit_code == 0, result.stderr
    assert "4 record(s) added, 1 already present" in result.stderr
    assert "3 resource(s) not about pNET surveillance were skipped" in result.stderr
    assert "1 imaging report(s) to read" in result.stderr and "MRI abdomen with contrast" in result.stderr
    assert "tracker log scan ME --date 2025-09-10 --modality MRI" in result.stderr
    assert "referenceRange[0].text is not a simple upper limit" in result.stderr
    assert _labs(cli.url) == [
        ("2025-03-10", "chromogranin_a", "", "64", "ng/mL", "102", "Synthetic City Laboratory"),
        ("2025-09-12", "chromogranin_a", "", "71.5", "ng/mL", "102", "Synthetic City Laboratory"),
        ("2025-09-12", "gastrin", "<", "5", "pmol/L", None, ""),
        ("2025-09-12", "glucose", "", "5.1", "mmol/L", "5.5", ""),
    ]
    assert _state(cli.url)["counts"]["scan"] == 0  # type: ignore[index]
    assert _state(cli.url)["patients"] == [("ME", "female")]
    with transaction(Settings(db_url=cli.url, user="t")) as s:
        stored = json.dumps([(e.before, e.after, e.reason) for e in Store(s).audit_rows(None)])
    for private in ("Synthetic Person", "Example Street", "SYN-0001", "Nowhere"):
        assert private not in stored
    assert "gastrin < 5 pmol/L" in cli("history", "ME").stdout


def test_a_re_synced_download_adds_nothing(cli: Cli) -> None:
    """The Bundle, then the same resources as NDJSON, then the Bundle again: nothing new."""
    _add_me(cli)
    assert _import(cli, PORTAL).exit_code == 0
    before = _state(cli.url)
    for path in (DATA / "syn-portal-download.ndjson", PORTAL):
        result = _import(cli, path)
        assert result.exit_code == 0 and "0 record(s) added" in result.stderr, result.stderr
    after = _state(cli.url)
    assert after["counts"] == before["counts"] and after["patients"] == before["patients"]


def test_a_result_already_typed_in_is_not_imported_again(cli: Cli) -> None:
    """The README's walk-through logs CgA 64 ng/mL on 2025-03-10 by hand; the download holds the
    same result (same analyte, date, value and unit): it is skipped, not a conflict."""
    _add_me(cli, sex="female")
    typed = cli("log", "lab", "ME", "--date", "2025-03-10", "--analyte", "CgA", "--value", "64", "--unit", "ng/mL",
                "--uln", "102", "--source", "patient", *AS_OF)
    assert typed.exit_code == 0, typed.stderr
    result = _import(cli, PORTAL)
    assert result.exit_code == 0 and "3 record(s) added, 2 already present" in result.stderr, result.stderr


def test_the_example_download_is_the_test_fixture() -> None:
    """examples/ (installed, for the --help example) holds the same synthetic download."""
    assert (EXAMPLES / "portal-download.fhir.json").read_text(encoding="utf-8") == PORTAL.read_text(encoding="utf-8")


# ----------------------------------------------------------------- bad input


def _bundle_with(tmp_path: Path, change: Callable[[dict], None], name: str = "bad.json") -> Path:
    doc = json.loads(PORTAL.read_text(encoding="utf-8"))
    change(doc)
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def _refused(cli: Cli, path: Path, *words: str, args: tuple[str, ...] = ("--patient", "ME")) -> None:
    before = _state(cli.url)
    result = cli("import", str(path), *args, *AS_OF)
    assert result.exit_code == 1, result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    for w in words:
        assert w in result.stderr, result.stderr
    assert _state(cli.url) == before


def _set(entry: int, path: str, value: object) -> Callable[[dict], None]:
    def change(doc: dict) -> None:
        node = doc["entry"][entry]["resource"]
        *parents, last = path.split(".")
        for p in parents:
            node = node[p]
        node[last] = value
    return change


def test_json_that_is_not_fhir_is_one_sentence(cli: Cli) -> None:
    _add_me(cli)
    _refused(cli, EXAMPLES / "syn-stable.json", "is JSON but not FHIR")


def test_a_fhir_file_without_a_patient_label_is_one_sentence(cli: Cli) -> None:
    _refused(cli, PORTAL, "is a FHIR file", "--patient LABEL", args=())


def test_an_unknown_patient_without_create_is_one_sentence(cli: Cli) -> None:
    _refused(cli, PORTAL, "no patient 'ME'", "--create")


def test_a_known_loinc_code_with_a_unit_that_does_not_fit_is_located(cli: Cli, tmp_path: Path) -> None:
    """CgA (9811-1) in mmol/L: refused at entry[1].resource.valueQuantity, nothing written."""
    _add_me(cli)
    path = _bundle_with(tmp_path, lambda d: (_set(1, "valueQuantity.code", "mmol/L")(d),
                                             _set(1, "valueQuantity.unit", "mmol/L")(d)))
    _refused(cli, path, "entry[1].resource.valueQuantity", "unit 'mmol/L' does not fit chromogranin_a")


@pytest.mark.parametrize(("value", "words"), [
    ("T08:15:00", "is a time without a date"), ("08:15:00+01:00", "is a time without a date"),
    ("2025-09", "gives no day"), ("2025-02-30", "is not a date that exists"),
])
def test_a_date_time_without_a_date_part_is_located(cli: Cli, tmp_path: Path, value: str, words: str) -> None:
    _add_me(cli)
    _refused(cli, _bundle_with(tmp_path, _set(2, "effectiveDateTime", value)),
             "entry[2].resource.effectiveDateTime", words)


@pytest.mark.parametrize(("change", "version"), [
    (_set(1, "comment", "STU3 had Observation.comment; R4 has note"), "FHIR STU3 (version 3)"),
    (_set(7, "codedDiagnosis", [{"text": "stable"}]), "FHIR STU3 (version 3)"),
    (_set(1, "triggeredBy", [{"observation": {"reference": "Observation/x"}, "type": "reflex"}]),
     "FHIR R5 (version 5)"),
])
def test_a_resource_of_another_fhir_version_is_named_as_such(cli: Cli, tmp_path: Path, change: Callable[[dict], None],
                                                            version: str) -> None:
    _add_me(cli)
    _refused(cli, _bundle_with(tmp_path, change), version, "export the file as FHIR R4")


def test_a_stu3_resource_type_is_named_as_such(cli: Cli, tmp_path: Path) -> None:
    _add_me(cli)
    path = tmp_path / "stu3.json"
    path.write_text(json.dumps({"resourceType": "ProcedureRequest", "status": "active", "intent": "order",
                                "subject": {"reference": "Patient/x"}}), encoding="utf-8")
    _refused(cli, path, "(resource)", "FHIR STU3 (version 3)")


def test_what_the_r4_models_refuse_is_located(cli: Cli, tmp_path: Path) -> None:
    """An element R4 does not know, on a lab we read: named by the FHIR models, with its place."""
    _add_me(cli)
    _refused(cli, _bundle_with(tmp_path, _set(4, "valueQuantity.precision", 2)),
             "entry[4].resource.valueQuantity", "unknown element", "precision")


def test_every_problem_is_reported_at_once(cli: Cli, tmp_path: Path) -> None:
    _add_me(cli)
    path = _bundle_with(tmp_path, lambda d: (_set(1, "valueQuantity.code", "mmol/L")(d),
                                             _set(2, "effectiveDateTime", "T10:00")(d)))
    _refused(cli, path, "entry[1].resource.valueQuantity", "entry[2].resource.effectiveDateTime")


# ----------------------------------------------------------------- export


def _validated(text: str) -> dict:
    """The bundle as the FHIR R4 models read it back (strict: any unknown element or wrong type
    raises), compared with the text itself."""
    from fhirclient.models.bundle import Bundle

    doc = json.loads(text)
    assert Bundle(copy.deepcopy(doc), strict=True).as_json() == doc
    return doc


def _history(url: str, label: str) -> dict[str, list]:
    with transaction(Settings(db_url=url, user="t")) as s:
        st = Store(s)
        h = st.history(st.patient(label))
    return {"labs": [(r.date, r.analyte, r.comparator, r.value, r.unit, r.upper_limit, r.lab, r.assay, r.specimen)
                     for r in h.labs],
            "sizes": [(x.date, x.modality, tuple((m.lesion, m.site, m.longest_mm, m.short_axis_mm, m.other_dims_mm,
                                                   m.is_new, m.pet_avid) for m in x.lesions)) for x in h.scans],
            "ducts": [(x.date, x.modality, x.mpd_mm, x.cbd_mm) for x in h.scans],
            "ki67": [(r.date, r.ki67_pct, r.mitoses_per_2mm2) for r in h.pathology],
            "visits": [(v.date, v.symptoms, v.symptom_other, v.weight_kg, v.performance_status, v.on_ppi,
                        v.wants_to_leave) for v in h.visits]}


@pytest.mark.parametrize("label", ["SYN-GROWING", "SYN-METASTATIC"])
def test_the_fhir_export_validates_and_round_trips(make_cli: Callable[[str], Cli], db_factory: Callable[[], str],
                                                   tmp_path: Path, label: str) -> None:
    """The mCODE-shaped bundle: valid for the R4 models, shaped as documented, and imported into
    a fresh database (--create) as the same labs, the same sizes and duct diameters, the same Ki-67
    and mitotic count, the same visits; once more, nothing."""
    first = make_cli(db_factory())
    assert first("import", str(EXAMPLES / f"{label.lower()}.json"), *LATE).exit_code == 0
    first("log", "lab", label, "--date", "2026-03-01", "--analyte", "gastrin", "--value", "<5", "--unit", "pmol/L",
          *LATE)
    result = first("export", label, "--format", "fhir", *LATE)
    assert result.exit_code == 0, result.stderr
    doc = _validated(result.stdout)
    assert doc["type"] == "collection"
    by = {}
    for e in doc["entry"]:
        by.setdefault(e["resource"]["resourceType"], []).append(e["resource"])
    (patient,) = by["Patient"]
    assert "name" not in patient and patient["identifier"][0]["value"] == label
    (condition,) = by["Condition"]
    assert [(x["system"], x["code"]) for x in condition["code"]["coding"]] == [
        ("http://hl7.org/fhir/sid/icd-10", "C25.4"), ("http://snomed.info/sct", "372003004")]
    (histology,) = [x for x in condition["extension"] if x["url"].endswith("/mcode-histology-morphology-behavior")]
    assert histology["valueCodeableConcept"]["coding"][0]["code"] == "1286768001"  # well-differentiated NET
    sizes = [o for o in by["Observation"] if o["code"]["coding"][0]["code"] == "21889-1"]
    assert sizes and all(o["focus"][0]["reference"].startswith("urn:uuid:") for o in sizes)
    lesions = {b["identifier"][0]["value"] for b in by["BodyStructure"]}
    assert lesions == {m[0] for _, _, ms in _history(first.url, label)["sizes"] for m in ms}
    gastrin = next(o for o in by["Observation"] if o["code"]["coding"][0]["code"] == "2333-3")
    assert gastrin["valueQuantity"] == {"value": 5, "comparator": "<", "unit": "pmol/L",
                                        "system": "http://unitsofmeasure.org", "code": "pmol/L"}
    assert by.get("Flag")  # the open flags
    path = tmp_path / "export.fhir.json"
    path.write_text(result.stdout, encoding="utf-8")
    fresh = make_cli(db_factory())
    back = fresh("import", str(path), "--patient", label, "--create", *LATE)
    assert back.exit_code == 0, back.stderr
    assert _history(fresh.url, label) == _history(first.url, label)
    again = fresh("import", str(path), "--patient", label, *LATE)
    assert again.exit_code == 0 and "0 record(s) added" in again.stderr
    assert fresh("export", label, "--format", "fhir", *LATE).exit_code == 0


def test_a_fhir_export_is_of_one_patient(cli: Cli) -> None:
    result = cli("export", "--all", "--format", "fhir")
    assert result.exit_code == 1 and "of one patient" in result.stderr


def test_the_readers_number_is_exact() -> None:
    """A value read from FHIR is the Decimal the file writes (no float on the way)."""
    from tracker.fhir import files, reader

    text = US_CORE.read_text(encoding="utf-8").replace("8.6", "8.60000000000001")
    content = reader.read(files.resources(text, "x") or [])
    assert content.labs[0][1].value == Decimal("8.60000000000001")


def test_only_the_fhir_code_path_loads_the_fhir_library() -> None:
    """The CLI, the JSON import and every service but FHIR start without fhirclient."""
    from tests.test_architecture import _modules_after

    loaded = _modules_after("from tracker.cli import app\nimport tracker.services.files, tracker.services.fhir, "
                            "tracker.services.surveillance, tracker.fhir.reader, tracker.fhir.writer")
    assert not any(m.split(".")[0] == "fhirclient" for m in loaded)


@pytest.mark.parametrize("kind", ["collection", "transaction", "document", "batch"])
def test_a_bundle_of_any_type_is_read(kind: str) -> None:
    from tracker.fhir import files, reader

    doc = json.loads(PORTAL.read_text(encoding="utf-8"))
    doc["type"] = kind
    content = reader.read(files.resources(json.dumps(doc), "x") or [])
    assert not content.problems and len(content.labs) == 5 and content.skipped == 3


def test_an_imaging_document_reference_is_a_report_to_read_and_a_letter_is_skipped() -> None:
    from tracker.fhir import files, reader

    def doc_ref(title: str) -> dict:
        return {"resourceType": "DocumentReference", "id": title[:5], "status": "current",
                "type": {"text": title}, "date": "2025-09-10T11:00:00Z", "subject": {"reference": "Patient/x"},
                "content": [{"attachment": {"contentType": "text/plain", "title": title}}]}

    lines = "\n".join(json.dumps(doc_ref(t)) for t in ("CT chest abdomen pelvis", "Discharge letter"))
    content = reader.read(files.resources(lines, "x.ndjson") or [])
    assert not content.problems and content.skipped == 1
    (report,) = content.reports
    assert (report.where, report.date, report.modality) == ("line 1", date(2025, 9, 10), Modality.CT)


_JSON = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=12)
                     | st.floats(allow_nan=False, allow_infinity=False),
                     lambda inner: (st.lists(inner, max_size=3)
                                    | st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                     max_leaves=8)
_PORTAL_DOC = json.loads(PORTAL.read_text(encoding="utf-8"))


@settings(max_examples=150, deadline=None)
@given(st.integers(0, len(_PORTAL_DOC["entry"]) - 1), st.sampled_from(
    ["valueQuantity", "effectiveDateTime", "code", "referenceRange", "specimen", "performer", "focus", "category",
     "identifier", "birthDate", "gender", "status", "type", "method", "component", "extension", "onsetDateTime"]),
    _JSON)
def test_no_element_value_makes_the_reader_fail_other_than_by_a_located_problem(entry: int, key: str,
                                                                               value: object) -> None:
    """Property: whatever value an element holds, reading the file either succeeds or raises
    ValidationError with located problems; never another exception."""
    from tracker.errors import ValidationError
    from tracker.services.fhir import read_file

    doc = copy.deepcopy(_PORTAL_DOC)
    doc["entry"][entry]["resource"][key] = value
    try:
        read_file(json.dumps(doc), "x.json")
    except ValidationError as exc:
        assert exc.problems and all(where and message for where, message in exc.problems)


def _exported_doc() -> dict:
    from dataclasses import replace

    from tests.factories import history, lab, lesion, pathology, scan, visit
    from tracker.fhir import writer

    h = history(None, scan("2025-01-10", lesion("P1", 12), lesion("N1", site="regional_node", short_axis=11)),
                scan("2025-07-10", lesion("P1", 14)), lab("2025-01-10", 64, comparator="<"),
                pathology("2025-01-20", ki67=2),
                replace(visit("2025-07-10", "back_pain", "other", weight=70.5, ppi=True), symptom_other="itching",
                        performance_status=1))
    return writer.bundle(h, [], today=date(2026, 1, 1))


_EXPORTED_DOC = _exported_doc()


@settings(max_examples=150, deadline=None)
@given(st.integers(0, len(_EXPORTED_DOC["entry"]) - 1), st.sampled_from(
    ["valueQuantity", "effectiveDateTime", "code", "focus", "method", "component", "identifier", "location",
     "extension", "onsetDateTime", "birthDate", "referenceRange", "performer"]), _JSON)
def test_no_element_value_of_an_export_makes_the_reader_fail(entry: int, key: str, value: object) -> None:
    """Property: the same for the resources of an export (Tumor, TumorSize, Ki-67, Condition)."""
    from tracker.errors import ValidationError
    from tracker.services.fhir import read_file

    doc = copy.deepcopy(_EXPORTED_DOC)
    doc["entry"][entry]["resource"][key] = value
    try:
        read_file(json.dumps(doc), "x.json")
    except ValidationError as exc:
        assert exc.problems and all(where and message for where, message in exc.problems)


def test_the_export_of_a_history_reads_back_as_it() -> None:
    """Without a database: writer then reader give the same labs, sizes, Ki-67 and visit."""
    from tracker.services.fhir import read_file

    content = read_file(json.dumps(_EXPORTED_DOC), "x.json")
    assert [(r.date, r.comparator, r.value) for _, r in content.labs] == [(date(2025, 1, 10), "<", Decimal(64))]
    sizes = [(s.date, [(x.lesion, x.site.value, x.longest_mm, x.short_axis_mm) for x in s.lesions])
             for _, s in content.scans]
    assert sizes == [(date(2025, 1, 10), [("N1", "regional_node", None, Decimal(11)), ("P1", "pancreas", 12, None)]),
                     (date(2025, 7, 10), [("P1", "pancreas", 14, None)])]
    assert [(p.date, p.ki67_pct) for _, p in content.pathology] == [(date(2025, 1, 20), 2)]
    assert [(v.date, [s.value for s in v.symptoms], v.symptom_other, v.weight_kg, v.performance_status, v.on_ppi,
             v.wants_to_leave) for _, v in content.visits] == [
        (date(2025, 7, 10), ["back_pain", "other"], "itching", Decimal("70.5"), 1, True, False)]


def test_a_portal_nse_result_is_read_by_its_loinc_code_and_exported_with_it() -> None:
    """NSE, "Enolase.neuron specific [Mass/volume] in Serum or Plasma" (LOINC 15060-7): a portal's
    result becomes an NSE lab result, and the tracker's NSE is written with that code."""
    from tests.factories import history, lab
    from tracker.fhir import writer
    from tracker.services.fhir import read_file

    portal = {"resourceType": "Observation", "id": "nse-1", "status": "final",
              "code": {"coding": [{"system": "http://loinc.org", "code": "15060-7"}], "text": "NSE"},
              "subject": {"reference": "Patient/x"}, "effectiveDateTime": "2025-09-12T08:00:00Z",
              "valueQuantity": {"value": 9.4, "unit": "ng/mL"}}
    ((_, nse),) = read_file(json.dumps(portal), "x.json").labs
    assert (nse.analyte.value, nse.date, nse.value, nse.unit) == ("nse", date(2025, 9, 12), Decimal("9.4"), "ng/mL")
    doc = writer.bundle(history(None, lab("2025-09-12", "9.4", analyte="nse", uln=17)), [], today=date(2026, 1, 1))
    (written,) = [e["resource"] for e in doc["entry"] if e["resource"]["resourceType"] == "Observation"]
    assert {"system": "http://loinc.org", "code": "15060-7",
            "display": "Enolase.neuron specific [Mass/volume] in Serum or Plasma"} in written["code"]["coding"]


def test_duct_diameters_and_the_mitotic_count_read_back_even_from_a_scan_without_lesions() -> None:
    """The main pancreatic duct of a scan with no lesion, the bile duct beside a lesion, and the
    mitotic count with the Ki-67: written, validated by the R4 models, and read back."""
    from dataclasses import replace

    from tests.factories import history, lesion, pathology, scan
    from tracker.fhir import writer
    from tracker.services.fhir import read_file

    h = history(None, replace(scan("2025-02-01", modality="CT", mpd=3.5), id=1),
                replace(scan("2025-08-01", lesion("P1", 12), cbd=6), id=2), pathology("2025-01-20", ki67=4, mitoses=3))
    doc = _validated(json.dumps(writer.bundle(h, [], today=date(2026, 1, 1))))
    content = read_file(json.dumps(doc), "x.json")
    assert [(s.date, s.modality, len(s.lesions), s.mpd_mm, s.cbd_mm) for _, s in content.scans] == [
        (date(2025, 2, 1), Modality.CT, 0, Decimal("3.5"), None), (date(2025, 8, 1), Modality.MRI, 1, None, 6)]
    (p,) = [p for _, p in content.pathology]
    assert (p.ki67_pct, p.mitoses_per_2mm2, p.grade.value if p.grade else None) == (4, 3, "G2")
