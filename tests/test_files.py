"""Import and export on SQLite and PostgreSQL: round trips, idempotence, all-or-nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import EXAMPLES, Cli
from tracker import db
from tracker.config import Settings
from tracker.db import transaction
from tracker.store import Store

AS_OF = ["--as-of", "2027-12-31"]
JSON_EXAMPLES = sorted(EXAMPLES.glob("syn-*.json"))


def counts(url: str) -> dict[str, int]:
    with transaction(Settings(db_url=url, user="test-user")) as s:
        st = Store(s)
        return {**st.record_counts(), "audit": len(st.audit_rows(None))}


def load_examples(cli: Cli) -> None:
    for path in JSON_EXAMPLES:
        result = cli("import", str(path), *AS_OF)
        assert result.exit_code == 0, result.stderr
    result = cli("import", str(EXAMPLES / "labs.csv"), *AS_OF)
    assert result.exit_code == 0, result.stderr


def export_all(cli: Cli, out: Path) -> bytes:
    result = cli("export", "--all", "--out", str(out))
    assert result.exit_code == 0, result.stderr
    return out.read_bytes()


def test_export_import_export_is_byte_identical(db_factory: Callable[[], str], make_cli: Callable[[str], Cli],
                                                tmp_path: Path) -> None:
    first, second = make_cli(db_factory()), make_cli(db_factory())
    load_examples(first)
    exported = export_all(first, tmp_path / "first.json")
    assert len(json.loads(exported)["patients"]) == len(JSON_EXAMPLES)
    result = second("import", str(tmp_path / "first.json"), *AS_OF)
    assert result.exit_code == 0, result.stderr
    assert export_all(second, tmp_path / "second.json") == exported
    assert counts(first.url)["lab"] == counts(second.url)["lab"] > 0
    # one patient alone is a valid import document as well
    one = second("export", "SYN-GROWING")
    assert one.exit_code == 0 and json.loads(one.stdout)["patient"]["label"] == "SYN-GROWING"


def test_importing_the_same_file_twice_changes_nothing(cli: Cli, tmp_path: Path) -> None:
    load_examples(cli)
    before = counts(cli.url)
    exported = export_all(cli, tmp_path / "before.json")
    for path in [*JSON_EXAMPLES, EXAMPLES / "labs.csv"]:
        result = cli("import", str(path), *AS_OF)
        assert result.exit_code == 0, result.stderr
        assert " 0 record(s) added" in result.stderr
    assert counts(cli.url) == before
    assert export_all(cli, tmp_path / "after.json") == exported


def _doc(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


def test_a_bad_file_writes_nothing(cli: Cli, tmp_path: Path) -> None:
    good, bad = _doc("syn-stable.json"), _doc("syn-growing.json")
    bad["labs"][1]["date"] = "2025-02-30"
    bad["scans"][0]["modality"] = "X-RAY"
    path = tmp_path / "cohort.json"
    path.write_text(json.dumps({"schema_version": 1, "patients": [good, bad]}), encoding="utf-8")
    empty = counts(cli.url)
    result = cli("import", str(path), *AS_OF)
    assert result.exit_code == 1
    assert "patients[1].labs[1].date" in result.stderr and "patients[1].scans[0].modality" in result.stderr
    assert "Traceback" not in result.stderr
    assert counts(cli.url) == empty


def test_a_conflict_found_while_writing_rolls_back_everything(cli: Cli, tmp_path: Path) -> None:
    """Patients are inserted before the conflict is found; the transaction must take them back."""
    result = cli("import", str(EXAMPLES / "syn-growing.json"), *AS_OF)
    assert result.exit_code == 0, result.stderr
    before = counts(cli.url)
    changed = _doc("syn-growing.json")
    changed["labs"][0]["value"] = 131
    path = tmp_path / "cohort.json"
    path.write_text(json.dumps([_doc("syn-stable.json"), changed]), encoding="utf-8")
    result = cli("import", str(path), *AS_OF)
    assert result.exit_code == 1
    assert "already has a different lab" in result.stderr
    assert counts(cli.url) == before
    assert cli("patient", "show", "SYN-STABLE").exit_code == 1


def test_lab_csv_with_an_unknown_patient_writes_nothing(cli: Cli, tmp_path: Path) -> None:
    result = cli("import", str(EXAMPLES / "syn-stable.json"), *AS_OF)
    assert result.exit_code == 0, result.stderr
    before = counts(cli.url)
    text = (EXAMPLES / "labs.csv").read_text(encoding="utf-8")
    text += "SYN-NOBODY,2025-03-20,chromogranin_a,52,ng/mL,,,,,,,\n"
    path = tmp_path / "labs.csv"
    path.write_text(text, encoding="utf-8")
    result = cli("import", str(path), *AS_OF)
    assert result.exit_code == 1 and "row 5, patient" in result.stderr
    assert counts(cli.url) == before


def test_an_import_reads_only_the_stored_patients_its_file_names(cli: Cli, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A one-patient file imported into a large database does not load every patient."""
    for name in ("syn-stable.json", "syn-metastatic.json"):
        assert cli("import", str(EXAMPLES / name), *AS_OF).exit_code == 0
    asked: list[set[str]] = []
    labelled = Store.patients_labelled

    def spy(self: Store, labels: object) -> object:
        wanted = set(labels)  # type: ignore[call-overload]
        asked.append(wanted)
        return labelled(self, wanted)

    def everyone(self: Store, **kw: object) -> None:
        raise AssertionError("an import loaded every patient")

    monkeypatch.setattr(Store, "patients", everyone)
    monkeypatch.setattr(Store, "patients_labelled", spy)
    result = cli("import", str(EXAMPLES / "labs.csv"), *AS_OF)  # names SYN-STABLE only
    assert result.exit_code == 0 and " 3 record(s) added" in result.stderr, result.stderr
    result = cli("import", str(EXAMPLES / "syn-growing.json"), *AS_OF)  # a new patient
    assert result.exit_code == 0 and "1 new patient(s)" in result.stderr, result.stderr
    result = cli("import", str(EXAMPLES / "syn-stable.json"), *AS_OF)  # stored: compared, nothing added
    assert result.exit_code == 0 and " 0 record(s) added" in result.stderr, result.stderr
    assert set().union(*asked) == {"SYN-STABLE", "SYN-GROWING"}


def test_the_audit_keeps_each_new_patient_s_document_as_the_file_gives_it(cli: Cli, tmp_path: Path) -> None:
    docs = [_doc("syn-stable.json"), _doc("syn-growing.json")]
    text = json.dumps({"schema_version": 1, "patients": docs}, indent=2, ensure_ascii=False)
    path = tmp_path / "cohort.json"
    path.write_text(text, encoding="utf-8")
    assert cli("import", str(path), *AS_OF).exit_code == 0
    with transaction(Settings(db_url=cli.url, user="test-user"), read_only=True) as s:
        events = [e for e in Store(s).audit_rows(None) if e.action == "import"]
        afters = [e.after for e in events]
    db.dispose_all()
    assert len(afters) == 2
    for after, doc in zip(afters, docs, strict=True):
        got = json.loads(after)
        expected_text = json.dumps(doc, indent=2, ensure_ascii=False).replace("\n", "\n    ")
        assert got["document"] == json.loads(json.dumps(doc)) and expected_text in after
        assert got["records_added"] == sum(len(doc.get(k, [])) for k in ("visits", "labs", "scans", "pathology"))
    # a file that is one patient document: the whole text of its object
    path = EXAMPLES / "syn-metastatic.json"
    assert cli("import", str(path), *AS_OF).exit_code == 0
    with transaction(Settings(db_url=cli.url, user="test-user"), read_only=True) as s:
        after = [e.after for e in Store(s).audit_rows(None) if e.action == "import"][-1]
    db.dispose_all()
    assert path.read_text(encoding="utf-8").strip() in after
    assert json.loads(after)["document"] == json.loads(path.read_text(encoding="utf-8"))


def test_a_record_refused_for_its_number_is_not_also_a_conflict(cli: Cli, tmp_path: Path) -> None:
    """A record refused for its number is left out of the comparison with what is stored (no
    second, misleading "already has a different lab")."""
    assert cli("import", str(EXAMPLES / "syn-stable.json"), *AS_OF).exit_code == 0
    before = counts(cli.url)
    stable, growing = _doc("syn-stable.json"), _doc("syn-growing.json")
    path = tmp_path / "cohort.json"
    text = json.dumps({"schema_version": 1, "patients": [stable, growing]})
    # the first lab of the stored patient, same date, now 1e50; a tiny one for the new patient
    text = text.replace(f'"value": {stable["labs"][0]["value"]}', '"value": 1e50', 1)
    text = text.replace(f'"value": {growing["labs"][0]["value"]}', '"value": 1e-30', 1)
    path.write_text(text, encoding="utf-8")
    result = cli("import", str(path), *AS_OF)
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "patients[0].labs[0].value" in result.stderr and "patients[1].labs[0].value" in result.stderr
    assert result.stderr.count("out of range") == 2 and "already has a different" not in result.stderr
    assert counts(cli.url) == before


def test_csv_export_has_one_row_per_value(cli: Cli) -> None:
    load_examples(cli)
    result = cli("export", "--all", "--format", "csv")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("patient,kind,id,date,item,value")
    assert sum(1 for line in lines if ",lab," in line) == counts(cli.url)["lab"]


@pytest.mark.parametrize("example", [p.name for p in JSON_EXAMPLES])
def test_each_example_round_trips_alone(cli: Cli, example: str, tmp_path: Path) -> None:
    result = cli("import", str(EXAMPLES / example), *AS_OF)
    assert result.exit_code == 0, result.stderr
    label = _doc(example)["patient"]["label"]
    exported = cli("export", label)
    assert exported.exit_code == 0
    db.dispose_all()
    assert json.loads(exported.stdout)["patient"] == {
        **_doc(example)["patient"], **json.loads(exported.stdout)["patient"]}


# ----------------------------------------------------------------------------- streamed reading


def _cohort(n: int) -> list[dict]:  # type: ignore[type-arg]
    base = json.loads((EXAMPLES / "syn-stable.json").read_text())
    out = []
    for i in range(n):
        doc = json.loads(json.dumps(base))
        doc["patient"]["label"] = f"SYN-S{i:03d}"
        out.append(doc)
    return out


def test_a_problem_in_a_late_chunk_rolls_back_the_chunks_already_written(
        cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A cohort is written chunk by chunk in one transaction: a bad document after several
    chunks leaves the database as it was, and problems before and after it are all reported."""
    from tracker.services import files

    monkeypatch.setattr(files, "CHUNK", 2)
    docs = _cohort(7)
    docs[1]["visits"][0]["date"] = "2025-02-30"
    docs[6]["scans"][0]["lesions"][0]["longest_mm"] = -1
    path = tmp_path / "cohort.json"
    path.write_text(json.dumps({"schema_version": 1, "synthetic": True, "patients": docs}))
    before = counts(cli.url)
    r = cli("import", str(path), *AS_OF)
    assert r.exit_code == 1
    assert "patients[1].visits[0].date" in r.stderr and "patients[6].scans[0].lesions[0].longest_mm" in r.stderr
    assert counts(cli.url) == before
    docs[6]["scans"][0]["lesions"][0]["longest_mm"] = 12
    docs[1]["visits"][0]["date"] = "2025-02-28"
    docs[5]["visits"][0]["date"] = "2025-02-30"  # only a late chunk is bad now
    path.write_text(json.dumps({"schema_version": 1, "patients": docs}))
    r = cli("import", str(path), *AS_OF)
    assert r.exit_code == 1 and "patients[5].visits[0].date" in r.stderr
    assert counts(cli.url) == before
    docs[5]["visits"][0]["date"] = "2025-02-28"
    path.write_text(json.dumps(docs))  # a plain list of documents
    r = cli("import", str(path), *AS_OF)
    assert r.exit_code == 0, r.stderr
    assert counts(cli.url)["patient"] == before["patient"] + 7


@pytest.mark.parametrize(("text", "words"), [
    ('{"schema_version": 2, "patients": []}', "schema_version"),
    ('{"schema_version": 1, "patients": 5}', "patients"),
    ('{"schema_version": 1, "patients": [], "colour": "red"}', "colour"),
    ('{"schema_version": 1, "patients": [] } x', "Extra data"),
    ('{"schema_version": 1, "patients": [{"schema_version": 1}', "line 1"),
    ('{"schema_version": 1 "patients": []}', "Expecting"),
    ("", "not valid JSON"),
    ("[1, 2]", "[0]"),
    ("7", "(document)"),
])
def test_a_malformed_cohort_is_one_located_error(cli: Cli, tmp_path: Path, text: str, words: str) -> None:
    """Whatever the damage to the wrapper, the streamed reader names it and nothing is written."""
    path = tmp_path / "cohort.json"
    path.write_text(text)
    before = counts(cli.url)
    r = cli("import", str(path), *AS_OF)
    assert r.exit_code == 1 and words in r.stderr and "Traceback" not in r.output, r.output
    assert counts(cli.url) == before


def test_import_reports_progress_through_the_file(tmp_path: Path, sqlite_url: str) -> None:
    """The progress callback moves forward through the file's characters and ends at its length."""
    from datetime import date

    from tracker.services import files

    path = tmp_path / "cohort.json"
    path.write_text(json.dumps({"schema_version": 1, "patients": _cohort(3)}))
    seen: list[tuple[int, int]] = []
    files.import_file(Settings(db_url=sqlite_url, user="t"), path, today=date(2027, 12, 31),
                      progress=lambda done, total: seen.append((done, total)))
    assert seen[-1][0] == seen[-1][1] == len(path.read_text())
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_a_value_given_twice_in_one_object_is_refused_not_silently_replaced(cli: Cli, tmp_path: Path) -> None:
    """`{"value": 80, "value": 850}` would keep 850 without a word; the import names the key,
    the part of the file and the line it starts on, and writes nothing."""
    lines = [json.dumps(_doc("syn-stable.json")), json.dumps(_doc("syn-growing.json"))]
    twice = lines[1].replace('"value": ', '"value": 80, "value": ', 1)
    assert twice != lines[1]
    path = tmp_path / "cohort.json"
    path.write_text('{"schema_version": 1, "patients": [\n' + lines[0] + ",\n" + twice + "\n]}", encoding="utf-8")
    before = counts(cli.url)
    r = cli("import", str(path), *AS_OF)
    assert r.exit_code == 1, r.output
    assert r.stderr.strip().splitlines()[-1].endswith(
        "cohort.json: an object in patients[1] (starting on line 3) gives 'value' twice; keep one of the two values")
    assert counts(cli.url) == before
    one = tmp_path / "one.json"
    one.write_text(twice, encoding="utf-8")
    r = cli("import", str(one), *AS_OF)
    assert r.exit_code == 1 and "one.json: an object in labs (starting on line 1) gives 'value' twice" in r.stderr
    long_key = tmp_path / "long.json"
    long_key.write_text(lines[0].replace('"value": ', '"' + "k" * 5000 + '": 1, "' + "k" * 5000 + '": 2, "value": ', 1),
                        encoding="utf-8")
    r = cli("import", str(long_key), *AS_OF)
    assert r.exit_code == 1 and "k" * 60 + "…' twice" in r.stderr and len(r.stderr) < 300, r.stderr
    assert counts(cli.url) == before


def test_a_protocol_file_with_a_key_given_twice_is_refused(cli: Cli, tmp_path: Path) -> None:
    text = (Path(__file__).parents[1] / "tracker" / "protocols" / "pnet-small-nf.json").read_text(encoding="utf-8")
    path = tmp_path / "mine.json"
    path.write_text(text.replace('{', '{"id": "x", ', 1), encoding="utf-8")
    r = cli("protocol", "validate", str(path))
    assert r.exit_code == 1, r.output
    assert "mine.json: an object gives 'id' twice; keep one of the two values" in r.stderr


@pytest.mark.parametrize("args", [("void", "SYN-GROWING", "scan", "9999999999", "--reason", "wrong"),
                                  ("amend", "SYN-GROWING", "lab", "9999999999", "--set", "value=1", "--reason", "typo"),
                                  ("patient", "show", "#99999999999")])
def test_an_id_beyond_any_stored_one_is_simply_not_found(cli: Cli, args: tuple[str, ...]) -> None:
    """PostgreSQL refuses to compare an INTEGER id with 9,999,999,999 (was a traceback)."""
    load_examples(cli)
    r = cli(*args)
    assert r.exit_code == 1 and "Traceback" not in r.output, r.output
    assert r.stderr.startswith("Error: no ") and r.stderr.count("\n") == 1, r.stderr


def test_a_stored_patient_given_twice_in_a_file_is_one_clear_problem(cli: Cli, tmp_path: Path) -> None:
    load_examples(cli)
    before = counts(cli.url)
    path = tmp_path / "twice.json"
    path.write_text(json.dumps([_doc("syn-stable.json"), _doc("syn-stable.json")]), encoding="utf-8")
    r = cli("import", str(path), *AS_OF)
    assert r.exit_code == 1 and "Traceback" not in r.output and "appears twice" in r.stderr, r.output
    assert counts(cli.url) == before


def test_odd_digits_and_long_top_level_keys(cli: Cli, tmp_path: Path) -> None:
    load_examples(cli)
    for ref in ("²", "١"):
        r = cli("history", ref)
        assert r.exit_code == 1 and r.stderr.startswith("Error: no patient"), r.output
    key = "k" * 5000
    path = tmp_path / "top.json"
    path.write_text(json.dumps({key: 1}).replace("}", ", " + json.dumps(key) + ": 2}"), encoding="utf-8")
    r = cli("import", str(path), *AS_OF)
    assert r.exit_code == 1 and len(r.stderr) < 300 and "k" * 60 + "…' appears twice" in r.stderr, r.stderr[:300]


def test_a_flag_logged_meanwhile_by_another_command_is_not_a_clash(settings: Settings) -> None:
    """Two views of the same patient at the same moment both see a flag as new; the second log
    row is skipped instead of failing the command (flag_log is unique by patient and key)."""
    from datetime import date, datetime, timezone

    from tracker.services.files import import_file

    import_file(settings, JSON_EXAMPLES[0], today=date(2026, 11, 22))
    row = {"patient_id": 1, "flag_key": "x|lab:1", "rule_id": "x", "severity": "watch", "date": date(2026, 1, 1),
           "message": "m", "evidence": "lab:1", "threshold": "t", "source": "s", "rule_version": "1",
           "first_seen_at": datetime.now(timezone.utc), "first_seen_as_of": date(2026, 11, 22)}
    for _ in range(2):
        with transaction(settings) as s:
            Store(s).add_flag_rows([row])
    with transaction(settings) as s:
        assert len(Store(s).flag_rows([1])) == 1


def test_an_import_pauses_the_cycle_collector_and_restores_it_even_when_refused(
        tmp_path: Path, sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import gc
    from datetime import date

    from tracker.services import files, surveillance

    seen: list[bool] = []
    real = surveillance.store_states

    def spy(*args: object, **kw: object) -> None:
        seen.append(gc.isenabled())
        real(*args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(surveillance, "store_states", spy)
    settings = Settings(db_url=sqlite_url, user="test")
    assert gc.isenabled()
    files.import_file(settings, EXAMPLES / "syn-growing.json", today=date(2027, 12, 31))
    assert seen == [False] and gc.isenabled()
    bad = tmp_path / "bad.json"
    bad.write_text('{"patient": {"label": "SYN-X"}}', encoding="utf-8")
    with pytest.raises(Exception, match=r"birth_year|required"):
        files.import_file(settings, bad, today=date(2027, 12, 31))
    assert gc.isenabled()


def test_a_problem_after_the_last_document_is_reported_and_nothing_is_written(cli: Cli, tmp_path: Path) -> None:
    doc = json.loads((EXAMPLES / "syn-stable.json").read_text(encoding="utf-8"))
    f = tmp_path / "cohort.json"
    f.write_text('{"patients": [' + json.dumps(doc) + '], "schema_version": 1, "synthetic": {"a": 1, "a": 2}}',
                 encoding="utf-8")
    before = counts(cli.url)
    result = cli("import", str(f), *AS_OF)
    assert result.exit_code == 1 and "'a'" in result.stderr and "twice" in result.stderr, result.stderr
    assert counts(cli.url) == before
