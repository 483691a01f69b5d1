"""Bad input in bulk: every input is stored correctly or refused with exit code 1 (2 for a usage
error) and a message, never a traceback, never partial data."""

from __future__ import annotations

import copy
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import EXAMPLES, Cli
from tracker import db
from tracker.config import Settings
from tracker.db import transaction
from tracker.jsonio.documents import parse_documents, patient_documents
from tracker.jsonio.export import dumps, history_doc
from tracker.jsonio.labcsv import LAB_CSV_COLUMNS
from tracker.jsonio.stream import DocumentStream
from tracker.store import Store

AS_OF = date(2027, 12, 31)
FUZZ = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
BASE = json.loads((EXAMPLES / "syn-growing.json").read_text(encoding="utf-8"))


@contextmanager
def fresh_db(*examples: str) -> Iterator[Cli]:
    with tempfile.TemporaryDirectory() as d:
        cli = Cli(f"sqlite:///{Path(d) / 'tracker.db'}")
        for name in examples:
            assert cli("import", str(EXAMPLES / name), "--as-of", AS_OF.isoformat()).exit_code == 0
        try:
            yield cli
        finally:
            db.dispose_all()


def counts(url: str) -> dict[str, int]:
    with transaction(Settings(db_url=url, user="fuzz")) as s:
        st_ = Store(s)
        return {**st_.record_counts(), "audit": len(st_.audit_rows(None))}


def assert_clean(result: Any) -> None:
    """No traceback: the only exception allowed is the SystemExit of an exit code."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.stderr
    assert result.exit_code in (0, 1, 2), (result.exit_code, result.stderr)
    assert "Traceback" not in result.stderr
    if result.exit_code == 1:
        assert result.stderr.startswith("Error: "), result.stderr


# --------------------------------------------------------------------------- JSON


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*prefix, i))
    return out


PATHS = _paths(BASE)
BAD_VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from(["", "x", "2025-02-30", "2025-13-01", "1900-01-01", "2999-01-01", "-3", "1e400", "NaN",
                     "zz_unknown", "MRI", "chromogranin_a", "ng/mL", "pancreas", "G2", "P1"]),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.text(max_size=20),
)


@st.composite
def mutated_documents(draw: st.DrawFn) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        parent: Any = doc
        try:
            for key in path[:-1]:
                parent = parent[key]
            if draw(st.booleans()) and isinstance(parent, dict):
                parent.pop(path[-1], None)
            else:
                parent[path[-1]] = draw(BAD_VALUES)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier mutation removed this path
    return doc


@FUZZ
@given(doc=mutated_documents())
def test_json_import_stores_correctly_or_refuses_whole(doc: dict[str, Any]) -> None:
    with fresh_db() as cli, tempfile.TemporaryDirectory() as d:
        path = Path(d) / "doc.json"
        path.write_text(json.dumps(doc), encoding="utf-8")
        before = counts(cli.url)
        result = cli("import", str(path), "--as-of", AS_OF.isoformat())
        assert_clean(result)
        if result.exit_code != 0:
            assert counts(cli.url) == before
            return
        (parsed,) = parse_documents(json.loads(path.read_text(), parse_float=Decimal),
                                           today=AS_OF)
        exported = cli("export", parsed.patient.label)
        assert exported.exit_code == 0, exported.stderr
        assert exported.stdout == dumps(history_doc(parsed.patient, list(parsed.records)))


# --------------------------------------------------------------------------- lab CSV

CSV_VALUES = {
    "patient": ["SYN-STABLE", "SYN-NOBODY", "", "syn-stable"],
    "date": ["2025-03-20", "2025-02-30", "20250320", "", "2999-01-01", "2025-03-21"],
    "analyte": ["chromogranin_a", "CgA", "gastrin", "zz", "", "other"],
    "value": ["52", "-1", "0", "abc", "1e999", "NaN", "", "52,5", "1" * 40],
    "unit": ["ng/mL", "ug/l", "pmol/L", "furlongs", ""],
    "specimen": ["serum", "plasma", "blood", ""],
    "upper_limit": ["102", "", "x", "-5"],
    "source": ["import", "patient", "robot", ""],
    "verified": ["true", "no", "maybe", ""],
}


@st.composite
def lab_csvs(draw: st.DrawFn) -> str:
    columns = draw(st.one_of(st.just(LAB_CSV_COLUMNS),
                             st.lists(st.sampled_from([*LAB_CSV_COLUMNS, "colour"]), min_size=1,
                                      max_size=len(LAB_CSV_COLUMNS), unique=True)))
    rows = [",".join(columns)]
    for _ in range(draw(st.integers(0, 4))):
        rows.append(",".join(draw(st.sampled_from(CSV_VALUES.get(c, ["", "x"]))) for c in columns))
    if draw(st.booleans()):
        rows.append(draw(st.text(max_size=30)).replace("\r", ""))
    return "\n".join(rows) + "\n"


@FUZZ
@given(text=lab_csvs())
def test_lab_csv_import_stores_or_refuses_whole(text: str) -> None:
    with fresh_db("syn-stable.json") as cli, tempfile.TemporaryDirectory() as d:
        path = Path(d) / "labs.csv"
        path.write_text(text, encoding="utf-8")
        before = counts(cli.url)
        result = cli("import", str(path), "--as-of", AS_OF.isoformat())
        assert_clean(result)
        after = counts(cli.url)
        if result.exit_code != 0:
            assert after == before
        else:
            assert after["lab"] >= before["lab"] and after["patient"] == before["patient"]


# --------------------------------------------------------------------------- log commands

DATES = st.sampled_from(["2026-03-01", "2026-02-30", "01/03/2026", "", "2999-01-01", "1900-01-01", "2026-3-1"])
NUMBERS = st.one_of(st.sampled_from(["71.5", "0", "-3", "abc", "1e999", "NaN", "inf", "70,5", "", "350.1",
                                     "1" * 30]), st.text(max_size=8))
SIZES = st.sampled_from(["14mm", "1.4cm", "0", "-2mm", "200mm", "abc", "", "14 furlongs", "3"])
LESIONS = st.one_of(
    st.builds(lambda a, b, c, e: ":".join(x for x in (a, b, c, e) if x is not None),
              st.sampled_from(["P1", "N1", "", "P 1"]),
              st.sampled_from(["pancreas", "liver", "regional_node", "moon", ""]), SIZES,
              st.sampled_from([None, "new", "avid", "weird"])),
    st.text(max_size=15),
)


@st.composite
def log_commands(draw: st.DrawFn) -> list[str]:
    kind = draw(st.sampled_from(["visit", "lab", "scan", "pathology"]))
    args = ["log", kind, draw(st.sampled_from(["SYN-GROWING", "SYN-NOBODY", "#1", ""]))]

    def opt(name: str, values: st.SearchStrategy[str]) -> None:
        if draw(st.booleans()):
            args.extend([name, draw(values)])

    opt("--date", DATES)
    if kind == "visit":
        opt("--weight", NUMBERS)
        opt("--ps", st.sampled_from(["0", "4", "5", "-1", "x", "99999999999999999999"]))
        opt("--symptom", st.sampled_from(["abdominal_pain", "jaundice", "headache", ""]))
        opt("--other", st.text(max_size=10))
    elif kind == "lab":
        opt("--analyte", st.sampled_from(["CgA", "chromogranin_a", "gastrin", "zz", "other", ""]))
        opt("--value", NUMBERS)
        opt("--unit", st.sampled_from(["ng/mL", "ug/L", "pmol/L", "furlongs", ""]))
        opt("--uln", NUMBERS)
        opt("--specimen", st.sampled_from(["serum", "blood"]))
    elif kind == "scan":
        opt("--modality", st.sampled_from(["MRI", "CT", "XRAY", ""]))
        for _ in range(draw(st.integers(0, 2))):
            args.extend(["--lesion", draw(LESIONS)])
        opt("--mpd", SIZES)
        opt("--cbd", SIZES)
    else:
        opt("--ki67", NUMBERS)
        opt("--mitoses", NUMBERS)
        opt("--grade", st.sampled_from(["G1", "G2", "G4"]))
    args += ["--as-of", AS_OF.isoformat()]
    return args


@FUZZ
@given(args=log_commands())
def test_log_commands_store_or_refuse(args: list[str]) -> None:
    with fresh_db("syn-growing.json") as cli:
        before = counts(cli.url)
        result = cli(*args)
        assert_clean(result)
        after = counts(cli.url)
        if result.exit_code != 0:
            assert after == before
        else:
            kind = args[1]
            assert after[kind] == before[kind] + 1
            assert after["audit"] == before["audit"] + 1


# --------------------------------------------------------------------------- the streamed reader

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["patients", "schema_version", "patient", "x"]), inner, max_size=4),
    max_leaves=12,
)


@FUZZ
@given(value=_json_values, indent=st.sampled_from([None, 0, 2]), cut=st.integers(min_value=0, max_value=60))
def test_the_streamed_reader_agrees_with_json_loads(value: Any, indent: int | None, cut: int) -> None:
    """Any JSON text (whole, or cut short) gives the documents `json.loads` + `patient_documents`
    gives, or one ValidationError: never a traceback, never a document the file does not hold."""
    from tracker.errors import ValidationError

    text = json.dumps(value, indent=indent)
    for t in (text, text[:cut]):
        try:
            parsed = json.loads(t)
        except json.JSONDecodeError:
            parsed, expected = None, None
        else:
            cohort = isinstance(parsed, dict) and "patients" in parsed
            # a "patients" that is not a list: the wrapper's schema check reports it
            malformed = cohort and not isinstance(parsed["patients"], list)
            expected = [] if malformed else patient_documents(parsed)
        stream = DocumentStream(t, "f.json")
        try:
            got = list(stream)
        except ValidationError:
            assert expected is None, t
            continue
        assert got == expected, t
        assert (stream.wrapper is not None) == (isinstance(parsed, dict) and "patients" in parsed)
