"""One function per form: the typed strings become domain values through the same parsers the CLI
uses, then one service call. Nothing here decides what is valid: a value the CLI refuses is
refused here with the same sentence, raised as a ValidationError whose locations are the names of
the form's fields (so the page shows each sentence by its field).

Each function is the one place to wire a form's extra inputs (a confirmation checkbox, say) to
its service."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from tracker.config import Settings
from tracker.domain import model as dm
from tracker.domain.dates import parse_date
from tracker.domain.units import parse_analyte, parse_decimal, parse_lesion_spec
from tracker.errors import NeedsConfirmation, ValidationError
from tracker.jsonio.documents import exact
from tracker.jsonio.export import dumps, record_doc
from tracker.store import Record
from tracker.text import quoted

Form = Mapping[str, Any]
T = TypeVar("T")

#: lesion rows on the scan form
LESION_ROWS = 4


class _Problems:
    """Collects every problem of a form, so that all are shown at once."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def parse(self, field: str, parse: Callable[[], T]) -> T | None:
        try:
            return parse()
        except ValidationError as exc:
            self.items += [(field, msg) for _, msg in exc.problems]
        except ValueError:
            self.items.append((field, "is not a valid value"))
        return None

    def need(self, form: Form, field: str, what: str) -> str:
        """The field's text; raises (for `parse` to collect) when it is empty."""
        text = str(form.get(field, "")).strip()
        if not text:
            raise ValidationError(f"{what} is required", field)
        return text

    def raise_any(self) -> None:
        if self.items:
            raise ValidationError(self.items)


def _date(text: str) -> date:
    return parse_date(text, "")  # the form names the field


def renamed(exc: ValidationError, fields: Mapping[str, str]) -> ValidationError:
    """The error with each service location (`date`, `lesions[0].longest_mm`) named as its form field
    (the longest matching prefix in `fields`); unknown locations are kept as they are."""
    def field(loc: str) -> str:
        best = max((k for k in fields if loc == k or loc.startswith(k + ".") or loc.startswith(k + "[")),
                   key=len, default=None)
        return fields[best] if best is not None else loc

    return ValidationError([(field(loc), msg) for loc, msg in exc.problems])


def _call(fields: Mapping[str, str], service: Callable[[], T]) -> T:
    """`service()`, its problems and questions named by the form's fields."""
    try:
        return service()
    except ValidationError as exc:
        raise renamed(exc, fields) from None
    except NeedsConfirmation as exc:
        raise NeedsConfirmation([(renamed(ValidationError(q, loc), fields).problems[0][0], q)
                                 for loc, q in exc.questions]) from None


#: the checkbox a person ticks to say an entry that looks like an error is right
CONFIRM_FIELD = "confirm"


def confirmed(form: Form) -> bool:
    """Whether the person ticked "Yes, this is right" (the service then stores the entry verified)."""
    return form.get(CONFIRM_FIELD) == "yes"


def _records() -> Any:
    from tracker.services import records

    return records


def _patient_prov(form: Form) -> dm.Provenance:
    return dm.Provenance(source=dm.Source.PATIENT, verified=False, notes=str(form.get("notes", "")).strip())


# ------------------------------------------------------------------ patient forms


def log_lab(settings: Settings, label: str, form: Form, *, today: date) -> Record:
    """The blood result form: date, analyte, value, unit, upper limit, lab and assay."""
    from tracker.domain.units import normalize_unit

    p = _Problems()
    day = p.parse("date", lambda: _date(p.need(form, "date", "the date of the blood test")))
    analyte = p.parse("analyte", lambda: parse_analyte(p.need(form, "analyte", "the test"), "analyte"))
    value = p.parse("value", lambda: exact(parse_decimal(p.need(form, "value", "the result"),
                                                                "value")))
    unit = None
    if analyte is not None:
        unit = p.parse("unit", lambda: normalize_unit(analyte, p.need(form, "unit", "the unit"), "unit"))
    uln_text = str(form.get("uln", "")).strip()
    uln = p.parse("uln", lambda: exact(parse_decimal(uln_text, "uln"))) if uln_text else None
    p.raise_any()
    assert day is not None and analyte is not None and value is not None and unit is not None
    r = dm.LabResult(date=day, analyte=analyte, value=value, unit=unit, lab=str(form.get("lab", "")).strip(),
                     assay=str(form.get("assay", "")).strip(), upper_limit=uln, provenance=_patient_prov(form))
    return _call({"date": "date", "value": "value", "unit": "unit", "upper_limit": "uln", "analyte": "analyte"},
                 lambda: _records().log_record(settings, label, r, today=today, confirm=confirmed(form)))


def log_scan(settings: Settings, label: str, form: Form, *, today: date) -> Record:
    """The scan report form: date, kind of scan, and up to LESION_ROWS lesions, each with its site,
    size and the unit chosen explicitly (mm or cm)."""
    p = _Problems()
    day = p.parse("date", lambda: _date(p.need(form, "date", "the date of the scan")))
    modality = p.parse("modality", lambda: dm.Modality(p.need(form, "modality", "the kind of scan")))
    lesions: list[tuple[int, dm.LesionMeasurement]] = []
    for i in range(LESION_ROWS):
        name, size = str(form.get(f"lesion{i}", "")).strip(), str(form.get(f"size{i}", "")).strip()
        if not name and not size:
            continue
        where = f"size{i}"
        if not name:
            p.items.append((f"lesion{i}", "give the lesion a name, such as P1 (the same name on every scan)"))
            continue
        if ":" in name:
            p.items.append((f"lesion{i}", "a lesion name cannot contain ':'; use a name such as P1"))
            continue
        site = p.parse(f"site{i}", partial(p.need, form, f"site{i}", "the place of the lesion"))
        unit = str(form.get(f"unit{i}", "")).strip()
        if size and unit not in ("mm", "cm"):
            p.items.append((f"unit{i}", "choose the unit of the size: mm or cm"))
            continue
        if site is None:
            continue
        flags = ":new" if form.get(f"new{i}") else ""
        spec = f"{name}:{site}:{size}{unit}{flags}" if size else f"{name}:{site}:-{flags}"
        m = p.parse(where, partial(parse_lesion_spec, spec, where))
        if m is not None:
            lesions.append((i, m))
    p.raise_any()
    assert day is not None and modality is not None
    ordered = sorted(lesions, key=lambda x: x[1].lesion)
    r = dm.ImagingStudy(date=day, modality=modality, lesions=tuple(m for _, m in ordered),
                        provenance=_patient_prov(form))
    fields = {"date": "date", "modality": "modality",
              **{f"lesions[{k}]": f"size{i}" for k, (i, _) in enumerate(ordered)},
              **{f"lesions[{k}].lesion": f"lesion{i}" for k, (i, _) in enumerate(ordered)},
              **{f"the size of {m.lesion}": f"size{i}" for i, m in ordered}}
    return _call(fields, lambda: _records().log_record(settings, label, r, today=today, confirm=confirmed(form)))


def log_visit(settings: Settings, label: str, form: Form, *, today: date) -> Record:
    """The visit form: date, symptoms as checkboxes, proton-pump inhibitor, weight."""
    p = _Problems()
    day = p.parse("date", lambda: _date(p.need(form, "date", "the date of the visit")))
    chosen = form.getlist("symptom") if hasattr(form, "getlist") else form.get("symptom", [])
    symptoms = p.parse("symptom", lambda: tuple(sorted({dm.Symptom(s) for s in chosen})))
    other = str(form.get("other", "")).strip()
    if other and symptoms is not None and dm.Symptom.OTHER not in symptoms:
        symptoms = tuple(sorted({*symptoms, dm.Symptom.OTHER}))
    weight_text = str(form.get("weight", "")).strip()
    weight = p.parse("weight", lambda: parse_decimal(weight_text, "weight")) if weight_text else None
    p.raise_any()
    assert day is not None and symptoms is not None
    r = dm.Visit(date=day, symptoms=symptoms, symptom_other=other, weight_kg=weight,
                 on_ppi=form.get("ppi") == "yes", wants_to_leave=bool(form.get("wants_to_leave")),
                 provenance=_patient_prov(form))
    return _call({"date": "date", "weight_kg": "weight"},
                 lambda: _records().log_record(settings, label, r, today=today, confirm=confirmed(form)))


# ------------------------------------------------------------------ nurse forms


def review_flag(settings: Settings, label: str, form: Form, *, today: date) -> Any:
    """Acknowledge a flag, or snooze a watch flag until a date, with a reason (one worklist row)."""
    from tracker.services import surveillance

    action = str(form.get("action", ""))
    if action not in ("acknowledge", "snooze"):
        raise ValidationError("choose acknowledge or snooze", "action")
    until = None
    if action == "snooze":
        p = _Problems()
        until = p.parse("until", lambda: _date(p.need(form, "until", "the date the snooze ends")))
        p.raise_any()
    return _call({"--reason": "reason", "--until": "until", "FLAG": "key"},
                 lambda: surveillance.review_flag(settings, label, str(form.get("key", "")), action=action,
                                                  reason=str(form.get("reason", "")), as_of=today, until=until))


def amendable_fields(r: Record) -> list[tuple[str, str]]:
    """The fields of a record a nurse may correct, as (name, current value as typed): top-level values,
    and `lesions.LABEL.field` for each lesion (the names `tracker amend --set` takes)."""
    doc = record_doc(r)
    out: list[tuple[str, str]] = []
    for k, v in doc.items():
        if k in ("voided_reason", "source") or isinstance(v, (dict, list)):
            continue
        out.append((k, dumps(v).strip().strip('"') if v is not None else ""))
    for x in doc.get("lesions", []):
        for k in ("longest_mm", "short_axis_mm", "site", "is_new"):
            v = x[k]
            out.append((f"lesions.{x['lesion']}.{k}", "" if v is None else dumps(v).strip().strip('"')))
    return out


def amend(settings: Settings, label: str, kind: str, record_id: int, form: Form, *, today: date) -> Record:
    """Correct a record of the patient `label`: every field whose text changed becomes a
    `--set FIELD=VALUE` of the CLI's amend (the same parsing), with the reason; a value that looks
    like an entry error is asked about, and stored verified once the nurse ticks "Yes, this is right"."""
    svc = _records()
    _owner, old = svc.get_record(settings, label, kind, record_id)
    current = dict(amendable_fields(old.record))
    sets = [f"{k}={_typed(form.get('f:' + k, ''))}" for k, v in current.items()
            if str(form.get("f:" + k, v)).strip() != v]
    if not sets:
        raise ValidationError("nothing was changed; correct at least one value", "fields")
    return _call({"--reason": "reason", **{k.split(".")[-1]: "f:" + k for k in current}},
                 lambda: svc.amend_fields(settings, label, kind, record_id, sets, reason=str(form.get("reason", "")),
                                          today=today, confirm=confirmed(form)))


def _typed(v: Any) -> str:
    text = str(v).strip()
    return text if text else "null"


def void(settings: Settings, label: str, kind: str, record_id: int, form: Form) -> None:
    _call({"--reason": "reason"},
          lambda: _records().void_record(settings, label, kind, record_id, reason=str(form.get("reason", ""))))


def verify(settings: Settings, label: str, kind: str, record_id: int, form: Form, *, today: date) -> Record:
    """Mark a record of the patient `label` verified (checked against its source), with a reason."""
    reason = str(form.get("reason", "")).strip()
    if not reason:
        raise ValidationError("say what it was checked against (the report, the lab letter)", "reason")
    return _call({"--reason": "reason"},
                 lambda: _records().verify_record(settings, label, kind, record_id, reason=reason, today=today))


def import_upload(settings: Settings, filename: str, data: bytes, *, today: date, patient: str = "") -> Any:
    """Import an uploaded JSON history or lab CSV with the same all-or-nothing importer, from a
    private temporary file named as the upload (problems name the file as the nurse knows it). A
    FHIR file (a portal download) goes to the patient named in the form, as `import --patient`."""
    import tempfile

    from tracker.services.fhir import import_fhir, is_fhir
    from tracker.services.files import import_file

    name = Path(filename.replace("\\", "/")).name or "upload.json"
    if Path(name).suffix.lower() not in (".json", ".csv"):
        raise ValidationError(f"{quoted(name)} is neither a JSON history nor a lab CSV; choose a .json or .csv file",
                              "file")
    with tempfile.TemporaryDirectory(prefix="tracker-upload-") as folder:  # created 0700
        path = Path(folder) / name
        path.write_bytes(data)
        if path.suffix.lower() == ".json" and is_fhir(data.decode("utf-8", "replace")):
            if not patient.strip():
                raise ValidationError(f"{name} is a FHIR file (a portal download): choose the patient it belongs to",
                                      "patient")
            return _call({"--patient": "patient"}, lambda: import_fhir(settings, path, label=patient.strip(),
                                                                      create=False, today=today))
        return import_file(settings, path, today=today)


def questions_by_field(exc: NeedsConfirmation, fields: Sequence[str]) -> tuple[dict[str, list[str]], list[str]]:
    """The questions of an entry that looks wrong, as `problems_by_field` gives a form's errors."""
    return problems_by_field(ValidationError(exc.questions), fields)


def problems_by_field(exc: ValidationError, fields: Sequence[str]) -> tuple[dict[str, list[str]], list[str]]:
    """A form's errors: the sentences for each of its fields, and those that name no field of it."""
    by: dict[str, list[str]] = {}
    rest: list[str] = []
    for loc, msg in exc.problems:
        if loc in fields:
            by.setdefault(loc, []).append(msg)
        else:
            rest.append(f"{loc}: {msg}" if loc else msg)
    return by, rest
