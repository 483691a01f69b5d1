"""Files in and out: JSON patient documents, the lab-results CSV and the long CSV export.

- Reading validates the whole file first against `schemas/` and then checks every value; all
  problems come back together, each with its location (`patients[0].visits[3].date`).
- Writing is canonical: sorted keys, ISO dates, records in date order, numbers exact, UTF-8,
  so that an export is itself an importable file and diffs stay stable.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from decimal import Decimal, InvalidOperation
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from tracker.config import package_folder
from tracker.domain import model as dm
from tracker.domain.checks import Problems, check_patient, check_record
from tracker.domain.dates import parse_iso_date
from tracker.domain.model import Record
from tracker.domain.recist import lesion_label
from tracker.domain.units import (
    normalize_unit,
    parse_analyte,
    parse_decimal,
    parse_lab_value,
    who_grade,
    without_trailing_zeros,
)
from tracker.errors import ValidationError
from tracker.text import UNSTORABLE, quoted, unstorable_in_file

#: the key of each record list in a patient document, by record kind
LIST_KEYS = {"visit": "visits", "lab": "labs", "scan": "scans", "pathology": "pathology"}


@cache
def load_schema(name: str) -> dict[str, Any]:
    with (package_folder("schemas") / name).open(encoding="utf-8") as f:
        result: dict[str, Any] = json.load(f)
        return result


def location(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


def schema_problems(doc: Any, schema_name: str, prefix: Sequence[Any] = (), *, definition: str | None = None
                    ) -> Problems:
    """Every JSON-Schema problem of `doc`, located; the best-matching branch of a oneOf.
    `definition` validates against one of the schema's `$defs` instead of the whole schema."""
    schema = load_schema(schema_name)
    if schema_name == "patient.schema.json" and definition is None:
        # pick the top-level oneOf branch by the document's shape, so that problems are located
        # inside it instead of "not of type 'array'" about the whole document
        if isinstance(doc, list):
            return [p for i, item in enumerate(doc)
                    for p in schema_problems(item, schema_name, [*prefix, i], definition="patient_document")]
        if isinstance(doc, dict):
            definition = "cohort_document" if "patients" in doc else "patient_document"
    if definition is not None:
        schema = {"$defs": schema["$defs"], "$ref": f"#/$defs/{definition}"}
    if _fast_valid(doc, schema_name, definition):
        return []
    from jsonschema import Draft202012Validator, FormatChecker  # only for a document with problems
    from jsonschema.exceptions import best_match

    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    out: Problems = []
    for err in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        leaf = best_match(err.context) if err.context else err
        # follow the deepest context so that a oneOf failure names the field, not the document
        while leaf.context:
            leaf = best_match(leaf.context)
        out.append((location([*prefix, *leaf.absolute_path]), _schema_message(leaf)))
    return out


def _is_date(text: Any) -> bool:
    if not isinstance(text, str):
        return True  # formats apply to strings only
    try:
        parse_iso_date(text)
    except ValueError:
        return False
    return True


#: 2020-12 keywords that fastjsonschema (drafts 4, 6 and 7) does not implement: it ignores them.
DRAFT7_UNKNOWN = frozenset({"prefixItems", "minContains", "maxContains", "dependentRequired", "dependentSchemas",
                            "unevaluatedProperties", "unevaluatedItems", "$dynamicRef", "$dynamicAnchor", "$anchor"})
#: keywords that may stand beside a `$ref` in draft 7, which ignores every other sibling of a `$ref`
_ANNOTATIONS = frozenset({"$ref", "description", "$comment", "title", "default", "examples"})


def draft7_gaps(schema: Any, where: str = "#") -> list[str]:
    """Where a 2020-12 schema says what a draft-7 validator (fastjsonschema) would not check:
    a keyword of `DRAFT7_UNKNOWN`, or a `$ref` with validating siblings. [] when both read the
    schema alike."""
    out: list[str] = []
    if isinstance(schema, dict):
        out += [f"{where}/{k}" for k in schema if k in DRAFT7_UNKNOWN]
        if "$ref" in schema and set(schema) - _ANNOTATIONS:
            out.append(f"{where}/$ref")
        for k, v in schema.items():
            if k not in ("enum", "const", "examples", "default"):
                out += draft7_gaps(v, f"{where}/{k}")
    elif isinstance(schema, list):
        for i, v in enumerate(schema):
            out += draft7_gaps(v, f"{where}/{i}")
    return out


@cache
def _fast_validator(schema_name: str, definition: str | None) -> Callable[[Any], Any] | None:
    """A compiled validator (fastjsonschema) of the schema or one of its `$defs`, or None when
    fastjsonschema would not check everything the schema says (`draft7_gaps`): the 2020-12
    validator then checks every document (the protocol schema, a few kB, read once a command)."""
    try:
        import fastjsonschema
    except ImportError:  # pragma: no cover - a declared dependency; the full check still runs
        return None
    schema = load_schema(schema_name)
    if draft7_gaps(schema):
        return None
    if definition is not None:
        schema = {"$defs": schema["$defs"], "$ref": f"#/$defs/{definition}"}
    else:
        schema = {k: v for k, v in schema.items() if k not in ("$schema", "$id")}
    result: Callable[[Any], Any] = fastjsonschema.compile(schema, formats={"date": _is_date})
    return result


def _fast_valid(doc: Any, schema_name: str, definition: str | None) -> bool:
    """True when the compiled validator accepts `doc`. It is the quick path for valid files;
    when it says no, the full jsonschema run finds and locates every problem."""
    validate = _fast_validator(schema_name, definition)
    if validate is None:
        return False
    try:
        validate(doc)
    except Exception:  # any refusal sends the document to the full check
        return False
    return True


def _schema_message(err: Any) -> str:
    """What the schema refused, quoting at most `QUOTE_LIMIT` characters of the file's value."""
    if err.validator == "format" and err.validator_value == "date":
        return f"{quoted(err.instance)} is not a date that exists; write YYYY-MM-DD"
    if err.validator == "additionalProperties":
        return f"{err.message}; remove it or check its spelling"
    if err.validator == "enum":
        return f"{quoted(err.instance)} is not one of {', '.join(map(str, err.validator_value))}"
    if isinstance(err.instance, (dict, list)) and repr(err.instance) in err.message:
        # never echo a whole object (a patient's data) into a message
        return err.message.replace(repr(err.instance), "this object" if isinstance(err.instance, dict) else "this list")
    return str(err.message).replace(repr(err.instance), quoted(err.instance))


def read_text(path: Path) -> str:
    """A text file's contents (a UTF-8 byte-order mark dropped); a file that cannot be read is one
    clear error that says why."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ValidationError(f"file {path} does not exist", "FILE") from None
    except IsADirectoryError:
        raise ValidationError(f"{path} is a folder; give a file", "FILE") from None
    except UnicodeDecodeError:
        raise ValidationError(f"{path.name} is not UTF-8 text; save it as UTF-8 and try again", "FILE") from None
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror or exc}", "FILE") from None
    at = unstorable_in_file(text)
    if at is not None:  # PostgreSQL refuses a NUL, UTF-8 a lone surrogate: refused here, on every database
        raise ValidationError(f"{path.name} line {text.count(chr(10), 0, at) + 1} holds {UNSTORABLE}; remove it "
                              "and try again", "FILE")
    return text


class RepeatedKeyError(ValueError):
    """A JSON object that names a key twice (the decoder alone would keep the last value silently)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"an object gives '{key}' twice")
        self.key = key if len(key) <= 60 else key[:60] + "…"
        self.where: str | None = None  # the part of the file holding it ("patients[700]", "scans"), when known
        self.line: int | None = None  # the line that part starts on


def unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """object_pairs_hook: a dict, or RepeatedKeyError for a key given twice in one object."""
    d = dict(pairs)
    if len(d) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise RepeatedKeyError(k)
            seen.add(k)
    return d


def loads(text: str) -> Any:
    """JSON with exact decimals, refusing a key given twice in one object."""
    return json.loads(text, parse_float=Decimal, object_pairs_hook=unique_keys)


def read_json(path: Path) -> Any:
    """A JSON file with exact decimals; a malformed file is one clear error with its line."""
    text = read_text(path)
    try:
        return loads(text)
    except (ValueError, RecursionError) as exc:
        raise unreadable_json(path.name, exc) from None


def unreadable_json(name: str, exc: ValueError | RecursionError) -> ValidationError:
    """The one-sentence error for a text the JSON decoder refused: where, for a syntax error;
    what, for a key given twice, a number of thousands of digits or arrays nested too deep."""
    if isinstance(exc, json.JSONDecodeError):
        return ValidationError(f"{name} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})", "FILE")
    if isinstance(exc, RepeatedKeyError):
        where = f" in {exc.where} (starting on line {exc.line})" if exc.where else ""
        return ValidationError(f"{name}: an object{where} gives '{exc.key}' twice; keep one of the two values",
                               "FILE")
    detail = (str(exc).splitlines() or [type(exc).__name__])[0][:120]
    return ValidationError(f"{name} cannot be read as JSON ({detail})", "FILE")


# ----------------------------------------------------------------- JSON -> domain


@dataclass(frozen=True)
class ImportedPatient:
    patient: dm.Patient
    records: tuple[tuple[str, Record, str | None], ...]  # (kind, record, voided reason)
    where: str  # location of the document in the file, for messages
    #: the document's flag reviews and flag-log rows (`flag_reviews`, `flags_seen`), as column
    #: values of flag_review and flag_log without the patient id
    reviews: tuple[dict[str, Any], ...] = ()
    seen: tuple[dict[str, Any], ...] = ()


#: what the flag log and flag reviews of a patient document hold (schemas/patient.schema.json)
FLAG_REVIEW_FIELDS = ("flag_key", "action", "until", "severity_at_review", "reason", "user", "at")
FLAG_SEEN_FIELDS = ("flag_key", "rule_id", "severity", "date", "message", "evidence", "threshold", "source",
                    "rule_version", "first_seen_at", "first_seen_as_of")


def review_from_doc(d: dict[str, Any]) -> dict[str, Any]:
    """A `flag_reviews` entry as flag_review column values."""
    return {**{k: d[k] for k in FLAG_REVIEW_FIELDS}, "until": parse_iso_date(d["until"]) if d["until"] else None,
            "at": _utc(d["at"])}


def seen_from_doc(d: dict[str, Any]) -> dict[str, Any]:
    """A `flags_seen` entry as flag_log column values."""
    return {**{k: d[k] for k in FLAG_SEEN_FIELDS}, "date": parse_iso_date(d["date"]),
            "evidence": ",".join(d["evidence"]), "first_seen_at": _utc(d["first_seen_at"]),
            "first_seen_as_of": parse_iso_date(d["first_seen_as_of"])}


def _utc(text: str) -> datetime:
    t = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)


def review_doc(r: Any) -> dict[str, Any]:
    """A stored flag review (models.FlagReview) as a `flag_reviews` entry."""
    return {"flag_key": r.flag_key, "action": r.action, "until": r.until.isoformat() if r.until else None,
            "severity_at_review": r.severity_at_review, "reason": r.reason, "user": r.user,
            "at": utc_text(r.at)}


def seen_doc(r: Any) -> dict[str, Any]:
    """A stored flag-log row (models.FlagLog) as a `flags_seen` entry."""
    return {"flag_key": r.flag_key, "rule_id": r.rule_id, "severity": r.severity, "date": r.date.isoformat(),
            "message": r.message, "evidence": r.evidence.split(",") if r.evidence else [], "threshold": r.threshold,
            "source": r.source, "rule_version": r.rule_version, "first_seen_at": utc_text(r.first_seen_at),
            "first_seen_as_of": r.first_seen_as_of.isoformat()}


def utc_text(t: datetime) -> str:
    """A stored time (naive on SQLite, which keeps UTC) as ISO 8601 UTC."""
    return (t.replace(tzinfo=timezone.utc) if t.tzinfo is None else t.astimezone(timezone.utc)).isoformat()


def exact(v: Any) -> Decimal:
    """A JSON number or numeric string as a Decimal without spurious trailing zeros."""
    if type(v) is int and 0 <= v < 10 ** 12:  # the common case, already exact and in range
        return Decimal(v)
    d = parse_decimal(v, "value")
    try:
        return without_trailing_zeros(d)
    except InvalidOperation:  # more digits than a decimal context holds (1e999)
        raise ValidationError(f"'{v}' is too large a number", "value") from None


def _prov(d: dict[str, Any], default: dm.Source) -> dm.Provenance:
    return _provenance(d.get("source", default._value_), bool(d.get("verified", False)), str(d.get("notes", "")))


@lru_cache(maxsize=4096)
def _provenance(source: str, verified: bool, notes: str) -> dm.Provenance:
    """Provenance values are few (most records share one): made once each, shared (immutable)."""
    return dm.Provenance(source=dm.Source(source), verified=verified, notes=notes)


def _member(enum: Any, by_value: dict[Any, Any], value: Any) -> Any:
    """`enum(value)` (the same ValueError for an unknown value), a dict lookup for a known one."""
    try:
        return by_value[value]
    except (KeyError, TypeError):
        return enum(value)


def patient_from_doc(d: dict[str, Any], source: dm.Source, *, synthetic: bool = False) -> dm.Patient:
    """The patient of a document's `patient` object; `synthetic`: the document says so."""
    left = d.get("left_surveillance") or {}
    return dm.Patient(
        label=d["label"], birth_year=int(d["birth_year"]), sex=dm.Sex(d["sex"]),
        diagnosis_date=date.fromisoformat(d["diagnosis_date"]), setting=dm.Setting(d["setting"]),
        syndrome=dm.Syndrome(d.get("syndrome", "none")), primary_resected=bool(d.get("primary_resected", False)),
        t_stage=d.get("t_stage"), protocol_id=d["protocol"]["id"],
        protocol_start=date.fromisoformat(d["protocol"]["start"]),
        left_on=date.fromisoformat(left["date"]) if left else None,
        leave_reason=dm.LeaveReason(left["reason"]) if left else None, provenance=_prov(d, source),
        synthetic=synthetic,
    )


# The record readers below build records with `dm.assemble` (an import reads a million of them);
# tests/test_readers.py checks that they equal records made by the constructors.

def visit_from_doc(d: dict[str, Any], source: dm.Source) -> dm.Visit:
    g = d.get
    weight = g("weight_kg")
    return dm.assemble(dm.Visit, {
        "date": date.fromisoformat(d["date"]),
        "symptoms": tuple(sorted(_member(dm.Symptom, dm.SYMPTOM_OF, s) for s in g("symptoms", ()))),
        "symptom_other": g("symptom_other", ""), "weight_kg": None if weight is None else exact(weight),
        "performance_status": g("performance_status"), "on_ppi": bool(g("on_ppi", False)),
        "wants_to_leave": bool(g("wants_to_leave", False)), "provenance": _prov(d, source), "id": None,
    })


def lab_from_doc(d: dict[str, Any], source: dm.Source) -> dm.LabResult:
    g = d.get
    analyte = parse_analyte(d["analyte"])
    upper = g("upper_limit")
    return dm.assemble(dm.LabResult, {
        "date": date.fromisoformat(d["date"]), "analyte": analyte, "value": exact(d["value"]),
        "unit": normalize_unit(analyte, d["unit"]), "lab": g("lab", ""), "assay": g("assay", ""),
        "specimen": _member(dm.Specimen, dm.SPECIMEN_OF, g("specimen", "serum")),
        "upper_limit": None if upper is None else exact(upper), "analyte_other": g("analyte_other", ""),
        "comparator": g("comparator") or "", "provenance": _prov(d, source), "id": None,
    })


def _lesion_from_doc(x: dict[str, Any]) -> dm.LesionMeasurement:
    g = x.get
    longest, short = g("longest_mm"), g("short_axis_mm")
    return dm.assemble(dm.LesionMeasurement, {
        "lesion": x["lesion"], "site": _member(dm.Site, dm.SITE_OF, x["site"]),
        "longest_mm": None if longest is None else exact(longest),
        "short_axis_mm": None if short is None else exact(short),
        "other_dims_mm": tuple(exact(o) for o in g("other_dims_mm", ())), "is_new": bool(g("is_new", False)),
        "pet_avid": g("pet_avid"),
    })


def scan_from_doc(d: dict[str, Any], source: dm.Source) -> dm.ImagingStudy:
    g = d.get
    lesions = [_lesion_from_doc(x) for x in g("lesions", ())]
    if len(lesions) > 1:
        lesions.sort(key=lesion_label)
    mpd, cbd = g("mpd_mm"), g("cbd_mm")
    return dm.assemble(dm.ImagingStudy, {
        "date": date.fromisoformat(d["date"]), "modality": _member(dm.Modality, dm.MODALITY_OF, d["modality"]),
        "lesions": tuple(lesions), "mpd_mm": None if mpd is None else exact(mpd),
        "cbd_mm": None if cbd is None else exact(cbd), "provenance": _prov(d, source), "id": None,
    })


def pathology_from_doc(d: dict[str, Any], source: dm.Source) -> dm.Pathology:
    ki67, mitoses = d.get("ki67_pct"), d.get("mitoses_per_2mm2")
    ki67 = None if ki67 is None else exact(ki67)
    mitoses = None if mitoses is None else exact(mitoses)
    grade = dm.Grade(d["grade"]) if d.get("grade") else who_grade(ki67, mitoses)
    return dm.Pathology(date=date.fromisoformat(d["date"]), ki67_pct=ki67, mitoses_per_2mm2=mitoses, grade=grade,
                        provenance=_prov(d, source))


READERS: dict[str, Callable[..., Any]] = {
    "visit": visit_from_doc, "lab": lab_from_doc, "scan": scan_from_doc, "pathology": pathology_from_doc,
}


def record_from_doc(kind: str, doc: dict[str, Any], source: dm.Source) -> Record:
    """One record from its document form, checked against the schema first."""
    problems = schema_problems(doc, "patient.schema.json", definition=kind)
    if problems:
        raise ValidationError(problems)
    try:
        result: Record = READERS[kind](doc, source)
    except ValueError as exc:
        raise ValidationError(str(exc), kind) from None
    return result


def patient_documents(doc: Any) -> list[tuple[list[Any], dict[str, Any]]]:
    """The patient documents in a file (one, a list, or a cohort), each with its location."""
    if isinstance(doc, list):
        return [([i], d) for i, d in enumerate(doc)]
    if isinstance(doc, dict) and "patients" in doc:
        return [(["patients", i], d) for i, d in enumerate(doc["patients"])]
    return [([], doc)]


def parse_documents(doc: Any, *, today: date, source: dm.Source = dm.Source.IMPORT) -> list[ImportedPatient]:
    """Validate a whole (already parsed) file and convert it; raises ValidationError listing
    every problem. `import_file` streams instead, through `DocumentStream` and `DocumentParser`."""
    problems = schema_problems(doc, "patient.schema.json")
    if problems:
        raise ValidationError(problems)
    parser = DocumentParser(today=today, source=source)
    out = [ip for where, d in patient_documents(doc) if (ip := parser.parse(where, d)) is not None]
    if parser.problems:
        raise ValidationError(parser.problems)
    return out


class DocumentParser:
    """Checks and converts patient documents one at a time, gathering every problem (with its
    location) in `problems`; remembers the labels seen so that a label twice in a file is found."""

    def __init__(self, *, today: date, source: dm.Source = dm.Source.IMPORT) -> None:
        self.today = today
        self.source = source
        self.problems: Problems = []
        self.labels: set[str] = set()

    def parse(self, where: list[Any], d: Any, *, check_schema: bool = False) -> ImportedPatient | None:
        """One patient document at `where` (already schema-valid unless `check_schema`); None
        when it cannot be converted at all."""
        problems = self.problems
        if check_schema:
            found = schema_problems(d, "patient.schema.json", where, definition="patient_document")
            if found:
                problems += found
                return None
        loc = location(where)
        prefix = f"{loc}." if where else ""
        today, source = self.today, self.source
        try:
            p = patient_from_doc(d["patient"], source, synthetic=d.get("synthetic") is True)
        except (ValueError, ValidationError) as exc:
            problems.append((f"{prefix}patient", _msg(exc)))
            return None
        if p.label in self.labels:
            problems.append((f"{prefix}patient.label", f"patient {p.label} appears twice in this file"))
        self.labels.add(p.label)
        problems += check_patient(p, today=today, prefix=f"{prefix}patient")
        records: list[tuple[str, Record, str | None]] = []
        for kind, key in LIST_KEYS.items():
            seen: dict[tuple[Any, ...], str] = {}
            read = READERS[kind]
            for i, rd in enumerate(d.get(key, ())):
                try:
                    r = read(rd, source)
                except ValidationError as exc:
                    here = f"{prefix}{key}[{i}]"
                    problems += [(f"{here}.{f}" if f else here, m) for f, m in exc.problems]
                    continue
                except ValueError as exc:
                    problems.append((f"{prefix}{key}[{i}]", _msg(exc)))
                    continue
                voided = rd.get("voided_reason")
                problems += check_record(r, p, today=today, allow_future=False, prefix=f"{prefix}{key}[{i}]")
                if voided is None:
                    nk = dm.natural_key(r)
                    if nk in seen:
                        problems.append((f"{prefix}{key}[{i}]", f"duplicates {seen[nk]} (same {kind} on "
                                                                f"{r.date}); void one or merge them"))
                    seen[nk] = f"{prefix}{key}[{i}]"
                records.append((kind, r, voided))
        try:
            reviews = tuple(review_from_doc(x) for x in d.get("flag_reviews", ()))
            shown = tuple(seen_from_doc(x) for x in d.get("flags_seen", ()))
        except (KeyError, ValueError, AttributeError):
            problems.append((f"{prefix}flag_reviews", "a flag review or seen flag cannot be read; export it again "
                             "with `tracker export`"))
            reviews, shown = (), ()
        return ImportedPatient(p, tuple(records), loc, reviews, shown)


class DocumentStream:
    """The patient documents of a JSON text, decoded one at a time (a 100 MB cohort is never held
    as Python objects all at once): a single patient document, a list of them, or a cohort
    `{"schema_version": 1, "patients": [...]}`. Iterating yields (location, document); after
    it, `wrapper` is the cohort object without its patients (None for the other two shapes), and
    `position` tells how many characters have been read (for a progress bar). `text_of_last()`
    is the text of the document last yielded, as the file gives it. A malformed text raises
    ValidationError naming its line and column."""

    _decoder = json.JSONDecoder(parse_float=Decimal, object_pairs_hook=unique_keys)

    def __init__(self, text: str, name: str) -> None:
        self.text = text
        self.name = name
        self.position = 0
        self.wrapper: dict[str, Any] | None = None
        self._last = (0, 0)  # where the document last yielded starts and ends in the text

    def text_of_last(self) -> str:
        """The JSON text of the document last yielded, exactly as the file gives it."""
        return self.text[self._last[0]:self._last[1]]

    def __iter__(self) -> Iterator[tuple[list[Any], Any]]:
        try:
            yield from self._documents()
        except (ValueError, RecursionError) as exc:
            raise unreadable_json(self.name, exc) from None

    def _skip(self, pos: int) -> int:
        text = self.text
        while pos < len(text) and text[pos] in " \t\n\r":
            pos += 1
        return pos

    def _value(self, pos: int, where: str = "(document)") -> tuple[Any, int]:
        start = self._skip(pos)
        try:
            value, end = self._decoder.raw_decode(self.text, start)
        except RepeatedKeyError as exc:
            exc.where, exc.line = where, self.text.count("\n", 0, start) + 1
            raise
        self.position = end
        return value, end

    def _expect(self, pos: int, what: str) -> None:
        found = self.text[pos:pos + 1]
        if not found or found not in what:
            names = " or ".join(repr(c) for c in what)
            raise json.JSONDecodeError(f"Expecting {names}", self.text, pos)

    def _array(self, pos: int, where: list[Any]) -> Iterator[tuple[list[Any], Any]]:
        """The items of the array opening at `pos`; sets `self.position` past its ']'."""
        pos = self._skip(pos + 1)
        i = 0
        if self.text[pos:pos + 1] == "]":
            self.position = pos + 1
            return
        while True:
            start = self._skip(pos)
            item, pos = self._value(start, location([*where, i]))
            self._last = (start, pos)
            yield [*where, i], item
            i += 1
            pos = self._skip(pos)
            self._expect(pos, ",]")
            if self.text[pos] == "]":
                self.position = pos + 1
                return
            pos += 1

    def _documents(self) -> Iterator[tuple[list[Any], Any]]:
        text = self.text
        pos = self._skip(0)
        if text[pos:pos + 1] == "[":
            yield from self._array(pos, [])
        elif text[pos:pos + 1] == "{":
            yield from self._object(pos)
        else:
            value, end = self._value(pos)
            self._last = (pos, end)
            yield [], value
        end = self._skip(self.position)
        if end < len(text):
            raise json.JSONDecodeError("Extra data", text, end)

    def _object(self, pos: int) -> Iterator[tuple[list[Any], Any]]:
        """A top-level object: its "patients" array is streamed; the other members are kept."""
        text = self.text
        head: dict[str, Any] = {}
        opening = pos
        pos = self._skip(pos + 1)
        streamed = False
        if text[pos:pos + 1] == "}":
            self.position = pos + 1
        while text[pos:pos + 1] != "}":
            self._expect(pos, '"')
            key, pos = self._value(pos)
            if key in head:
                shown = key if len(key) <= 60 else key[:60] + "…"
                raise ValidationError(f"'{shown}' appears twice at the top of {self.name}; keep one", "FILE")
            pos = self._skip(pos)
            self._expect(pos, ":")
            pos = self._skip(pos + 1)
            if key == "patients" and text[pos:pos + 1] == "[":
                yield from self._array(pos, ["patients"])
                head[key], pos, streamed = [], self.position, True
            else:
                head[key], pos = self._value(pos, str(key))
            pos = self._skip(pos)
            self._expect(pos, ",}")
            if text[pos] == "}":
                self.position = pos + 1
                break
            pos = self._skip(pos + 1)
            self._expect(pos, '"')
        if streamed or "patients" in head:  # a cohort ("patients" not a list: the wrapper's check names it)
            self.wrapper = head
        else:
            self._last = (opening, self.position)
            yield [], head


def _msg(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(m for _, m in exc.problems)
    return str(exc)


# ----------------------------------------------------------------- domain -> JSON


def num(d: Decimal | None) -> int | float | None:
    """Decimals as JSON numbers: integers stay integers; others use the shortest exact repr."""
    if d is None:
        return None
    return int(d) if d == d.to_integral_value() else float(d)


def _prov_doc(p: dm.Provenance) -> dict[str, Any]:
    return {"source": p.source.value, "verified": p.verified, "notes": p.notes}


def patient_doc(p: dm.Patient) -> dict[str, Any]:
    return {
        "label": p.label, "birth_year": p.birth_year, "sex": p.sex.value,
        "diagnosis_date": p.diagnosis_date.isoformat(),
        "setting": p.setting.value, "syndrome": p.syndrome.value, "primary_resected": p.primary_resected,
        "t_stage": p.t_stage, "protocol": {"id": p.protocol_id, "start": p.protocol_start.isoformat()},
        "left_surveillance": (
            {"date": p.left_on.isoformat(), "reason": p.leave_reason.value if p.leave_reason else "treatment"}
            if p.left_on else None
        ),
        **_prov_doc(p.provenance),
    }


def record_doc(r: Record, voided_reason: str | None = None) -> dict[str, Any]:
    base: dict[str, Any] = {"date": r.date.isoformat(), **_prov_doc(r.provenance), "voided_reason": voided_reason}
    if isinstance(r, dm.Visit):
        return {**base, "symptoms": sorted(s.value for s in r.symptoms), "symptom_other": r.symptom_other,
                "weight_kg": num(r.weight_kg), "performance_status": r.performance_status, "on_ppi": r.on_ppi,
                "wants_to_leave": r.wants_to_leave}
    if isinstance(r, dm.LabResult):
        return {**base, "analyte": r.analyte.value, "analyte_other": r.analyte_other, "value": num(r.value),
                "unit": r.unit, "lab": r.lab, "assay": r.assay, "specimen": r.specimen.value,
                "upper_limit": num(r.upper_limit), **({"comparator": r.comparator} if r.comparator else {})}
    if isinstance(r, dm.ImagingStudy):
        return {**base, "modality": r.modality.value, "mpd_mm": num(r.mpd_mm), "cbd_mm": num(r.cbd_mm),
                "lesions": [{"lesion": x.lesion, "site": x.site.value, "longest_mm": num(x.longest_mm),
                             "short_axis_mm": num(x.short_axis_mm),
                             "other_dims_mm": [num(o) for o in x.other_dims_mm], "is_new": x.is_new,
                             "pet_avid": x.pet_avid} for x in r.lesions]}
    return {**base, "ki67_pct": num(r.ki67_pct), "mitoses_per_2mm2": num(r.mitoses_per_2mm2),
            "grade": r.grade.value if r.grade else None}


def history_doc(p: dm.Patient, records: Sequence[tuple[str, Record, str | None]]) -> dict[str, Any]:
    """The canonical document of one patient (records in date order)."""
    doc: dict[str, Any] = {"schema_version": 1, "patient": patient_doc(p)}
    if p.synthetic:
        doc["synthetic"] = True
    for kind, key in LIST_KEYS.items():
        rows = [(r.date, record_doc(r, v)) for k, r, v in records if k == kind]
        rows.sort(key=lambda t: t[0])
        # records of one date in the order of their canonical JSON text (computed for ties only)
        out: list[dict[str, Any]] = []
        i = 0
        while i < len(rows):
            j = i + 1
            while j < len(rows) and rows[j][0] == rows[i][0]:
                j += 1
            group = [d for _, d in rows[i:j]]
            if len(group) > 1:
                group.sort(key=lambda d: json.dumps(d, sort_keys=True))
            out += group
            i = j
        doc[key] = out
    return doc


def dumps(obj: Any) -> str:
    """Canonical JSON: sorted keys, two-space indent, UTF-8 characters kept, final newline."""
    return json.dumps(obj, sort_keys=True, indent=2, ensure_ascii=False, default=_default) + "\n"


def _default(o: Any) -> Any:
    if isinstance(o, Decimal):
        return num(o)
    if isinstance(o, date):
        return o.isoformat()
    raise TypeError(f"cannot write {type(o).__name__} as JSON")


# ----------------------------------------------------------------- CSV

LAB_CSV_COLUMNS = ["patient", "date", "analyte", "value", "unit", "lab", "assay", "specimen", "upper_limit",
                   "source", "verified", "notes"]


def lab_csv_labels(text: str) -> set[str]:
    """The patient labels a lab-results CSV names (as `parse_lab_csv` reads them; a text that
    cannot be read names none, and `parse_lab_csv` says what is wrong with it)."""
    labels: set[str] = set()
    try:
        for row in csv.DictReader(io.StringIO(text)):
            labels.add((row.get("patient") or "").strip())
    except csv.Error:
        pass  # the labels up to the line that cannot be read
    return labels


def parse_lab_csv(text: str, *, today: date, patients: dict[str, dm.Patient]
                  ) -> list[tuple[dm.Patient, dm.LabResult]]:
    """Lab results from CSV (header row required); every problem reported as `row N, column`."""
    reader = csv.DictReader(io.StringIO(text))
    try:
        header = list(reader.fieldnames or [])
    except csv.Error as exc:
        raise ValidationError(f"the CSV header cannot be read: {exc}", "FILE") from None
    repeated = sorted({c for c in header if header.count(c) > 1})
    if repeated:
        raise ValidationError(f"the CSV header names column(s) {', '.join(repeated)} twice; keep one", "header")
    missing = [c for c in ("patient", "date", "analyte", "value", "unit") if c not in header]
    if missing:
        raise ValidationError(f"the CSV header lacks column(s) {', '.join(missing)}; expected "
                              f"{','.join(LAB_CSV_COLUMNS)}", "header")
    unknown = [c for c in header if c not in LAB_CSV_COLUMNS]
    problems: Problems = [("header", f"unknown column '{c}'; expected {','.join(LAB_CSV_COLUMNS)}") for c in unknown]
    out: list[tuple[dm.Patient, dm.LabResult]] = []
    seen: dict[tuple[Any, ...], int] = {}
    width = len(header)
    for n, row in enumerate(_csv_rows(reader), start=2):
        here = f"row {n}"
        fields = width + len(row.get(None) or []) - sum(v is None for v in row.values())  # type: ignore[call-overload]
        if fields != width:
            problems.append((here, f"has {fields} fields, the header has {width}; check for a missing or extra "
                                   "comma (quote a value that contains a comma)"))
            continue
        p = patients.get((row.get("patient") or "").strip())
        if p is None:
            problems.append((f"{here}, patient", f"no patient '{row.get('patient')}'; add the patient first "
                                                 "(tracker patient add) or fix the label"))
            continue
        try:
            r = _lab_from_row(row)
        except ValidationError as exc:
            problems += [(f"{here}, {f}", m) for f, m in exc.problems]
            continue
        except ValueError as exc:
            problems.append((here, str(exc)))
            continue
        problems += [(f"{here}, {f}", m) for f, m in check_record(r, p, today=today)]
        key = (p.label, r.date, r.analyte, r.analyte_other, r.specimen)
        if key in seen:
            problems.append((here, f"duplicates row {seen[key]} (same patient, analyte and date)"))
        seen[key] = n
        out.append((p, r))
    if problems:
        raise ValidationError(problems)
    return out


def _csv_rows(reader: csv.DictReader[str]) -> Iterator[dict[str, Any]]:
    """The rows of `reader`; a CSV the csv module cannot read is one clear error with its line."""
    try:
        yield from reader
    except csv.Error as exc:
        raise ValidationError(f"the CSV cannot be read at line {reader.reader.line_num}: {exc}", "FILE") from None


def _lab_from_row(row: dict[str, str]) -> dm.LabResult:
    try:
        when = parse_iso_date(row["date"])
    except ValueError:
        raise ValidationError(f"'{row['date']}' is not a date that exists; write YYYY-MM-DD", "date") from None
    analyte = parse_analyte(row["analyte"])
    upper = (row.get("upper_limit") or "").strip()
    specimen = (row.get("specimen") or "serum").strip() or "serum"
    try:
        spec = dm.Specimen(specimen)
    except ValueError:
        raise ValidationError(f"'{specimen}' is not a specimen; use serum, plasma, urine_24h or whole_blood",
                              "specimen") from None
    comparator, value = parse_lab_value(row["value"], "value")
    return dm.LabResult(
        date=when, analyte=analyte, value=exact(value), comparator=comparator,
        unit=normalize_unit(analyte, row["unit"]), lab=(row.get("lab") or "").strip(),
        assay=(row.get("assay") or "").strip(), specimen=spec,
        upper_limit=exact(parse_decimal(upper, "upper_limit")) if upper else None,
        provenance=dm.Provenance(source=dm.Source((row.get("source") or "import").strip() or "import"),
                                 verified=(row.get("verified") or "").strip().lower() in ("1", "true", "yes"),
                                 notes=(row.get("notes") or "").strip()),
    )


#: what makes a spreadsheet read a cell as a formula (OWASP "CSV injection")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def csv_cell(value: Any) -> Any:
    """A value as a CSV cell that a spreadsheet shows and never runs: text starting with `=`, `+`,
    `-`, `@`, a tab or a carriage return gets a leading `'`; numbers (and text that is a plain
    number, such as "-3.5") stay numbers; None is an empty cell."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def to_csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """Every CSV the tool writes: a header, then the rows' `columns`, each cell through `csv_cell`."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: csv_cell(r.get(k)) for k in columns})
    return buf.getvalue()


HISTORY_CSV_COLUMNS = ["patient", "kind", "id", "date", "item", "value", "unit", "detail", "source", "verified",
                       "voided_reason", "notes"]


def history_csv_rows(p: dm.Patient, records: Sequence[tuple[str, Record, str | None]]) -> list[dict[str, Any]]:
    """One row per measured value, for spreadsheets (long format)."""
    rows: list[dict[str, Any]] = []
    for kind, r, voided in records:
        base = {"patient": p.label, "kind": kind, "id": r.id, "date": r.date.isoformat(),
                "source": r.provenance.source.value, "verified": r.provenance.verified,
                "voided_reason": voided, "notes": r.provenance.notes}
        for item, value, unit, detail in _values(r):
            rows.append({**base, "item": item, "value": value, "unit": unit, "detail": detail})
    return rows


def _values(r: Record) -> list[tuple[str, Any, str, str]]:
    if isinstance(r, dm.Visit):
        out: list[tuple[str, Any, str, str]] = [
            ("symptoms", ";".join(s.value for s in r.symptoms) or "none", "", r.symptom_other)]
        if r.weight_kg is not None:
            out.append(("weight", r.weight_kg, "kg", ""))
        if r.on_ppi:
            out.append(("on_ppi", "yes", "", ""))
        if r.wants_to_leave:
            out.append(("wants_to_leave", "yes", "", ""))
        return out
    if isinstance(r, dm.LabResult):
        detail = f"{r.assay} {r.lab} {r.specimen.value}".strip()
        return [(r.analyte.value, r.value_text, r.unit,
                 f"{detail}; ULN {r.upper_limit}" if r.upper_limit else detail)]
    if isinstance(r, dm.ImagingStudy):
        out = [(f"lesion {x.lesion}", x.longest_mm if x.longest_mm is not None else x.short_axis_mm, "mm",
                f"{r.modality.value} {x.site.value}{' new' if x.is_new else ''}") for x in r.lesions]
        out += [(n, v, "mm", r.modality.value) for n, v in (("mpd", r.mpd_mm), ("cbd", r.cbd_mm)) if v is not None]
        return out
    return [("ki67", r.ki67_pct, "%", r.grade.value if r.grade else "")]
