"""Reading FHIR R4 files into the tracker's records.

A file is a Bundle (any type), a single resource, or NDJSON (one resource a line). Every
resource is located for messages: `entry[12].resource`, `(resource)` or `line 7`. What is read:

- Patient: birth year and sex only (names, addresses and identifiers are never read);
- lab Observations whose code (LOINC, `codes.LAB_CODES`) names an analyte we know;
- mCODE TumorSize Observations (LOINC 21889-1) with their Tumor body structure, as scans, and
  Ki-67 Observations as pathology (what `writer` exports, so that an export reads back);
- the primary cancer Condition: the diagnosis date (and the tracker's surveillance extension);
- imaging DiagnosticReports and DocumentReferences: listed as reports to read, never scans.

Everything else is skipped and counted. Each resource we read is first checked against the R4
models of `fhirclient` (generated from FHIR 4.0.1); a resource of another FHIR version is named
as such. Nothing here writes: `services.fhir` compares and stores.
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from tracker import jsonio
from tracker.domain import model as dm
from tracker.domain.units import normalize_unit, parse_size_mm, who_grade
from tracker.errors import ValidationError
from tracker.fhir import codes as c

Problems = list[tuple[str, str]]


@dataclass(frozen=True)
class ImagingReport:
    """An imaging report of the file (text only): to read, and to enter its sizes by hand."""

    where: str
    date: date | None
    title: str
    modality: dm.Modality | None


@dataclass
class FhirContent:
    """What a FHIR file holds for the tracker. `labs` are (location, record) pairs."""

    birth_year: int | None = None
    sex: dm.Sex | None = None
    diagnosis_date: date | None = None
    surveillance: dict[str, str] = field(default_factory=dict)  # protocol, start, setting (our export)
    labs: list[tuple[str, dm.LabResult]] = field(default_factory=list)
    scans: list[tuple[str, dm.ImagingStudy]] = field(default_factory=list)
    pathology: list[tuple[str, dm.Pathology]] = field(default_factory=list)
    reports: list[ImagingReport] = field(default_factory=list)
    skipped: int = 0
    notes: list[str] = field(default_factory=list)  # what was read only in part, said so
    problems: Problems = field(default_factory=list)


# ----------------------------------------------------------------- the file


def resources(text: str, name: str) -> list[tuple[str, dict[str, Any], dict[str, Any]]] | None:
    """The resources of a FHIR file, each as (location, resource with exact decimals, the same
    with floats for the FHIR models); None when the text is not FHIR JSON (no `resourceType`).
    A JSON text that cannot be read raises ValidationError with its line."""
    body = text.strip()
    if not body.startswith("{"):
        return None
    try:
        exact, plain = jsonio.loads(body), json.loads(body)
    except json.JSONDecodeError as exc:
        if exc.msg != "Extra data" or "\n" not in body:
            raise jsonio.unreadable_json(name, exc) from None
        return _ndjson(body, name)
    except (ValueError, RecursionError) as exc:
        raise jsonio.unreadable_json(name, exc) from None
    if not isinstance(exact, dict) or "resourceType" not in exact:
        return None
    if exact["resourceType"] != "Bundle":
        return [("(resource)", exact, plain)]
    out = [("(bundle)", {k: v for k, v in exact.items() if k != "entry"},
            {k: v for k, v in plain.items() if k != "entry"})]
    entries, plain_entries = exact.get("entry") or [], plain.get("entry") or []
    if not isinstance(entries, list):
        raise ValidationError(f"{name}: the Bundle's entry is not a list; it is not a FHIR R4 Bundle", "entry")
    for i, (e, pe) in enumerate(zip(entries, plain_entries, strict=True)):
        where = f"entry[{i}].resource"
        if not isinstance(e, dict) or not isinstance(e.get("resource"), dict):
            out.append((f"entry[{i}]", {}, {}))  # reported by `read`
            continue
        out.append((where, {**e["resource"], "_fullUrl": e.get("fullUrl")}, pe["resource"]))
    return out


def _ndjson(body: str, name: str) -> list[tuple[str, dict[str, Any], dict[str, Any]]] | None:
    out: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    for n, line in enumerate(body.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            exact, plain = jsonio.loads(line), json.loads(line)
        except (ValueError, RecursionError):
            raise ValidationError(f"{name}: line {n} is not a JSON object; an NDJSON file has one FHIR "
                                  "resource a line", "FILE") from None
        if not isinstance(exact, dict) or "resourceType" not in exact:
            if n == 1:
                return None
            out.append((f"line {n}", {}, {}))
            continue
        out.append((f"line {n}", exact, plain))
    return out


# ----------------------------------------------------------------- versions

#: resource types of FHIR STU3 (version 3) that R4 removed or renamed
_STU3_TYPES = frozenset({"ProcedureRequest", "ReferralRequest", "DeviceComponent", "ProcessRequest",
                         "ProcessResponse", "EligibilityRequest", "EligibilityResponse", "EnrollmentRequest",
                         "EnrollmentResponse", "DataElement", "ServiceDefinition", "ImagingManifest", "BodySite",
                         "Sequence", "ExpansionProfile"})
#: resource types that FHIR R5 (version 5) added
_R5_TYPES = frozenset({"ActorDefinition", "Requirements", "Transport", "InventoryItem", "InventoryReport",
                       "NutritionIntake", "NutritionProduct", "Permission", "SubscriptionStatus",
                       "SubscriptionTopic", "FormularyItem", "GenomicStudy", "ArtifactAssessment",
                       "ImagingSelection", "DeviceUsage", "DeviceDispense", "ConditionDefinition", "TestPlan",
                       "Citation", "Evidence", "EvidenceVariable", "EncounterHistory", "DeviceAssociation"})
#: elements STU3 had and R4 has not, by resource type
_STU3_ELEMENTS = {"Observation": {"context", "comment"}, "Condition": {"assertedDate", "context"},
                  "Patient": {"animal"}, "DiagnosticReport": {"codedDiagnosis", "context", "image"},
                  "DocumentReference": {"class", "created", "indexed"}}
#: elements R5 added to these resource types
_R5_ELEMENTS = {"Observation": {"triggeredBy", "instantiatesCanonical", "instantiatesReference", "bodyStructure"},
                "Condition": {"participant"}, "DiagnosticReport": {"study", "supportingInfo", "note", "composition"},
                "DocumentReference": {"modality", "bodySite", "version", "basedOn", "event", "attester"},
                "Bundle": {"issues"}, "Patient": set()}


def _version_sign(kind: str, res: dict[str, Any]) -> str | None:
    """"STU3 (version 3)" or "R5 (version 5)" when the resource has elements only that version has."""
    keys = set(res)
    if kind in _STU3_TYPES or keys & _STU3_ELEMENTS.get(kind, set()) or (
            kind == "Condition" and isinstance(res.get("clinicalStatus"), str)):
        return "FHIR STU3 (version 3)"
    if kind in _R5_TYPES or keys & _R5_ELEMENTS.get(kind, set()):
        return "FHIR R5 (version 5)"
    return None


def _is_r4_type(kind: Any) -> bool:
    if not isinstance(kind, str) or not kind.isidentifier() or not kind[:1].isupper():
        return False
    try:
        found = importlib.util.find_spec(f"fhirclient.models.{kind.lower()}") is not None
    except (ImportError, ValueError):
        return False
    return found and kind not in ("Element", "Resource", "DomainResource", "BackboneElement")


def model_problems(where: str, kind: str, plain: dict[str, Any]) -> Problems:
    """What the FHIR R4 model of `kind` (fhirclient, from FHIR 4.0.1) finds wrong in a resource."""
    from fhirclient.models.fhirabstractbase import FHIRValidationError
    from fhirclient.models.fhirelementfactory import FHIRElementFactory

    data = {k: v for k, v in plain.items() if k != "_fullUrl"}
    try:
        FHIRElementFactory.instantiate(kind, data)
    except FHIRValidationError as exc:
        return [(f"{where}.{path}" if path else where, msg) for path, msg in _flatten(exc)]
    except Exception as exc:  # a primitive the models refuse raises what it likes
        return [(where, _model_message(str(exc).splitlines()[0] if str(exc) else type(exc).__name__))]
    return []


def _flatten(exc: Any, path: str = "") -> list[tuple[str, str]]:
    """(path, message) of each leaf error of a FHIRValidationError."""
    from fhirclient.models.fhirabstractbase import FHIRValidationError

    here = ".".join(p for p in (path, exc.path or "") if p)
    out: list[tuple[str, str]] = []
    for e in exc.errors:
        if isinstance(e, FHIRValidationError):
            out += _flatten(e, here)
        else:
            out.append((here, _model_message(str(e))))
    return out


def _model_message(text: str) -> str:
    """The FHIR model's sentence, without the Python class names it quotes."""
    text = re.sub(r"<class '[\w.]*?(\w+)'>", r"\1", text.strip("'\""))
    text = re.sub(r" (?:in data for|on) <fhirclient[^>]*>", "", text)
    text = re.sub(r" (?:in data for|on) \S*\.(\w+) object at 0x[0-9a-f]+>?", r" of \1", text)
    return text.replace("Superfluous entry", "unknown element") + "; check it against FHIR R4 (4.0.1)"


# ----------------------------------------------------------------- reading


def read(items: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> FhirContent:
    """Convert the resources of a file (`resources`); every problem is in `.problems`."""
    out = FhirContent()
    tumors: dict[str, dict[str, Any]] = {}  # BodyStructure by "BodyStructure/id" and by fullUrl
    sizes: list[tuple[str, dict[str, Any]]] = []
    for where, res, plain in items:
        if not res:
            out.problems.append((where, "is not a FHIR resource (an object with a resourceType)"))
            continue
        kind = res.get("resourceType")
        sign = _version_sign(str(kind), res)
        if sign is not None:
            out.problems.append((where, f"{kind} looks like {sign}, not R4; export the file as FHIR R4 (4.0.1)"))
            continue
        if not _is_r4_type(kind):
            out.problems.append((f"{where}.resourceType", f"'{kind}' is not a FHIR R4 resource type"))
            continue
        reader = _READERS.get(str(kind))
        if reader is None or where == "(bundle)":
            if where == "(bundle)":
                out.problems += model_problems(where, "Bundle", plain)
            else:
                out.skipped += 1
            continue
        if kind == "BodyStructure":
            for key in (f"BodyStructure/{res.get('id')}", res.get("_fullUrl")):
                if key:
                    tumors[key] = res
        if kind == "Observation" and _has_code(res, c.LOINC, c.TUMOR_SIZE[0]):
            sizes.append((where, res))
            out.problems += model_problems(where, "Observation", plain)
            continue
        mine: Problems = []
        try:
            reader(where, res, out, mine)
        except (TypeError, AttributeError, ValueError, KeyError, IndexError):  # an element of the wrong type:
            mine = model_problems(where, str(kind), plain) or [(where, "cannot be read as FHIR R4")]  # say which
        out.problems += mine or model_problems(where, str(kind), plain)
    _scans(sizes, tumors, out)
    return out


def _noop(where: str, res: dict[str, Any], out: FhirContent, problems: Problems) -> None:
    """Read through another resource (a Tumor through its TumorSize)."""


def _codings(concept: Any) -> list[dict[str, Any]]:
    if not isinstance(concept, dict):
        return []
    return [x for x in concept.get("coding") or [] if isinstance(x, dict)]


def _has_code(res: dict[str, Any], system: str, code: str) -> bool:
    return any(x.get("system") == system and x.get("code") == code for x in _codings(res.get("code")))


def fhir_date(value: Any, where: str, problems: Problems) -> date | None:
    """The date part of a FHIR date or dateTime ("2025-07-07", "2025-07-07T10:30:00+02:00")."""
    if not isinstance(value, str):
        problems.append((where, "a date must be text such as 2025-07-07"))
        return None
    if re.fullmatch(r"T?\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)?", value):
        problems.append((where, f"'{value}' is a time without a date; give the date part (YYYY-MM-DD)"))
        return None
    m = re.fullmatch(r"(\d{4})(-\d{2})?(-\d{2})?(T.*)?", value)
    if m is None:
        problems.append((where, f"'{value}' is not a FHIR date or date-time; write YYYY-MM-DD"))
        return None
    if m.group(3) is None:
        problems.append((where, f"'{value}' gives no day; the tracker needs the day (YYYY-MM-DD)"))
        return None
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        problems.append((where, f"'{value[:10]}' is not a date that exists; write YYYY-MM-DD"))
        return None


def _effective(where: str, res: dict[str, Any], problems: Problems) -> date | None:
    for key in ("effectiveDateTime", "effectiveInstant"):
        if key in res:
            return fhir_date(res[key], f"{where}.{key}", problems)
    period = res.get("effectivePeriod")
    if isinstance(period, dict) and "start" in period:
        return fhir_date(period["start"], f"{where}.effectivePeriod.start", problems)
    if "issued" in res:
        return fhir_date(res["issued"], f"{where}.issued", problems)
    problems.append((where, "gives no date (effectiveDateTime); the tracker needs the date of the sample"))
    return None


def _patient(where: str, res: dict[str, Any], out: FhirContent, problems: Problems) -> None:
    """Birth year and sex; nothing else of the Patient is read."""
    born = res.get("birthDate")
    if isinstance(born, str) and re.fullmatch(r"\d{4}(-\d{2}(-\d{2})?)?", born):
        out.birth_year = int(born[:4])
    gender = res.get("gender")
    if gender in ("female", "male", "other", "unknown"):
        out.sex = dm.Sex(gender)


def _condition(where: str, res: dict[str, Any], out: FhirContent, problems: Problems) -> None:
    """The primary pNET (ICD-10 C25.4): its onset is the diagnosis date."""
    if not any(x.get("system") == c.ICD10 and str(x.get("code", "")).startswith(c.ICD10_PNET[0])
               for x in _codings(res.get("code"))):
        out.skipped += 1
        return
    for key in ("onsetDateTime", "recordedDate"):
        if key in res:
            out.diagnosis_date = fhir_date(res[key], f"{where}.{key}", problems)
            break
    for ext in res.get("extension") or []:
        if isinstance(ext, dict) and ext.get("url") == c.SURVEILLANCE_EXTENSION:
            out.surveillance = {str(x.get("url")): str(x.get("valueString") or x.get("valueDate") or "")
                                for x in ext.get("extension") or [] if isinstance(x, dict)}


def _lab_code(res: dict[str, Any]) -> tuple[dm.Analyte, dm.Specimen | None] | None:
    for x in _codings(res.get("code")):
        if x.get("system") == c.LOINC and x.get("code") in c.LAB_BY_LOINC:
            known = c.LAB_BY_LOINC[x["code"]]
            return known.analyte, known.specimen
        if x.get("system") == c.ANALYTE_SYSTEM and x.get("code") in dm.ANALYTE_OF:
            return dm.Analyte(x["code"]), None
    return None


def _observation(where: str, res: dict[str, Any], out: FhirContent, problems: Problems) -> None:
    if _has_code(res, c.LOINC, c.KI67[0]):
        _ki67(where, res, out, problems)
        return
    code = _lab_code(res)
    if code is None or res.get("status") in ("entered-in-error", "cancelled"):
        out.skipped += 1
        return
    analyte, specimen = code
    when = _effective(where, res, problems)
    value = _lab_value(where, res, analyte, out, problems)
    if when is None or value is None:
        return
    comparator, number, unit = value
    r = dm.LabResult(
        date=when, analyte=analyte, value=number, unit=unit, comparator=comparator, lab=_performer(res),
        assay=_text(res.get("method")), specimen=specimen or _specimen(res),
        upper_limit=_upper_limit(where, res, analyte, unit, out),
        provenance=dm.Provenance(source=dm.Source.IMPORT, notes=source_note(res)),
    )
    out.labs.append((where, r))


def source_note(res: dict[str, Any]) -> str:
    """Where a record came from, kept in its notes: "FHIR Observation/abc" (the resource's id, or
    its first identifier's value), by which a re-import recognises it."""
    ident = next((i for i in res.get("identifier") or [] if isinstance(i, dict) and i.get("value")), None)
    key = f"{ident.get('system', '')}|{ident['value']}" if ident else res.get("id")
    return f"FHIR {res.get('resourceType')}/{key}" if key else ""


def _lab_value(where: str, res: dict[str, Any], analyte: dm.Analyte, out: FhirContent,
               problems: Problems) -> tuple[str, Decimal, str] | None:
    q = res.get("valueQuantity")
    if not isinstance(q, dict):
        out.notes.append(f"{where} gives no valueQuantity (a number with its unit); the result was not imported")
        out.skipped += 1
        return None
    here = f"{where}.valueQuantity"
    unit = q.get("code") if q.get("code") and q.get("system") in (None, c.UCUM) else q.get("unit")
    if not isinstance(unit, str) or not unit.strip():
        problems.append((here, "gives no unit (code or unit); the tracker needs the unit of the result"))
        return None
    comparator = q.get("comparator", "")
    if comparator not in ("", *dm.COMPARATORS):
        problems.append((f"{here}.comparator", f"'{comparator}' is not a FHIR R4 comparator (<, <=, >=, >)"))
        return None
    try:
        ucum = normalize_unit(analyte, unit, "unit")
        number = jsonio.exact(q.get("value"))
    except ValidationError as exc:
        problems += [(here, m) for _, m in exc.problems]
        return None
    return comparator, number, ucum


def _text(concept: Any) -> str:
    if not isinstance(concept, dict):
        return ""
    if isinstance(concept.get("text"), str):
        return str(concept["text"])
    return next((str(x["display"]) for x in _codings(concept) if isinstance(x.get("display"), str)), "")


def _performer(res: dict[str, Any]) -> str:
    """The performing laboratory when it is named (an Organization; a person's name is never read)."""
    contained = {f"#{x.get('id')}": x for x in res.get("contained") or [] if isinstance(x, dict)}
    for p in res.get("performer") or []:
        if not isinstance(p, dict):
            continue
        ref = str(p.get("reference") or "")
        if ref.startswith("Organization/") or p.get("type") == "Organization":
            return str(p.get("display") or "")
        org = contained.get(ref)
        if org is not None and org.get("resourceType") == "Organization":
            return str(org.get("name") or p.get("display") or "")
    return ""


def _specimen(res: dict[str, Any]) -> dm.Specimen:
    specimen = res.get("specimen")
    text = str(specimen.get("display") or "").lower() if isinstance(specimen, dict) else ""
    if "plasma" in text:
        return dm.Specimen.PLASMA
    if "urine" in text:
        return dm.Specimen.URINE_24H
    if "blood" in text and "serum" not in text:
        return dm.Specimen.WHOLE_BLOOD
    return dm.Specimen.SERUM


_SIMPLE_RANGE = re.compile(r"\s*(?:(?:<=|<|≤|up to)\s*|(?:\d+(?:[.,]\d+)?)\s*[-–]\s*)(\d+(?:[.,]\d+)?)\s*(\S.*)?")


def _upper_limit(where: str, res: dict[str, Any], analyte: dm.Analyte, unit: str, out: FhirContent
                 ) -> Decimal | None:
    """`referenceRange[0].high` in the result's unit; or a text range as simple as "<=102" or
    "0-102"; otherwise none, and the summary says so."""
    ranges = [r for r in res.get("referenceRange") or [] if isinstance(r, dict)]
    if not ranges:
        return None
    rr, here = ranges[0], f"{where}.referenceRange[0]"
    high = rr.get("high")
    if isinstance(high, dict) and high.get("value") is not None:
        given = high.get("code") or high.get("unit") or unit
        try:
            if normalize_unit(analyte, str(given)) != unit:
                raise ValidationError("another unit", "high")
            return jsonio.exact(high["value"])
        except ValidationError:
            out.notes.append(f"{here}.high is in another unit than the result; no upper limit was kept")
            return None
    text = rr.get("text")
    if isinstance(text, str):
        m = _SIMPLE_RANGE.fullmatch(text)
        if m and (m.group(2) is None or _same_unit(analyte, m.group(2), unit)):
            return jsonio.exact(m.group(1).replace(",", "."))
        out.notes.append(f"{here}.text is not a simple upper limit (such as '<=102'); no upper limit was kept")
    return None


def _same_unit(analyte: dm.Analyte, text: str, unit: str) -> bool:
    try:
        return normalize_unit(analyte, text) == unit
    except ValidationError:
        return False


def _ki67(where: str, res: dict[str, Any], out: FhirContent, problems: Problems) -> None:
    when = _effective(where, res, problems)
    q = res.get("valueQuantity")
    if not isinstance(q, dict) or q.get("value") is None:
        problems.append((f"{where}.valueQuantity", "a Ki-67 index needs a value in %"))
        return
    try:
        value = jsonio.exact(q["value"])
    except ValidationError as exc:
        problems += [(f"{where}.valueQuantity", m) for _, m in exc.problems]
        return
    if when is not None:
        prov = dm.Provenance(source=dm.Source.IMPORT, notes=source_note(res))
        out.pathology.append((where, dm.Pathology(date=when, ki67_pct=value, grade=who_grade(value, None),
                                                  provenance=prov)))


_IMAGING_WORDS = re.compile(r"\b(CT|MRI?|MRCP|EUS|ultrasound|sonograph\w*|PET|DOTATATE|Ga-?68|imaging|"
                            r"radiology|tomograph\w*|scan)\b", re.IGNORECASE)
_MODALITY_WORDS = ((re.compile(r"\bEUS\b|endoscopic ultrasound", re.I), dm.Modality.EUS),
                   (re.compile(r"\bFDG\b", re.I), dm.Modality.FDG_PET),
                   (re.compile(r"\bPET\b|DOTATATE|Ga-?68", re.I), dm.Modality.SSTR_PET),
                   (re.compile(r"\bMRI?\b|MRCP|magnetic", re.I), dm.Modality.MRI),
                   (re.compile(r"\bCT\b|tomograph", re.I), dm.Modality.CT),
                   (re.compile(r"ultrasound|sonograph", re.I), dm.Modality.US))


def _imaging(res: dict[str, Any]) -> bool:
    for concept in [*(res.get("category") or []), res.get("type")]:
        for x in _codings(concept):
            if (x.get("system") == c.V2_0074 and x.get("code") in ("RAD", "CT", "NMR", "RUS", "NMS")) or (
                    x.get("system") == c.LOINC and x.get("code") in ("LP29684-5", "18748-4")):
                return True
    return bool(_IMAGING_WORDS.search(_title(res)))


def _title(res: dict[str, Any]) -> str:
    return _text(res.get("code")) or _text(res.get("type")) or str(res.get("description") or "")


def _report(where: str, res: dict[str, Any], out: FhirContent, problems: Problems) -> None:
    """An imaging report (text only): listed to be read, never a scan."""
    if not _imaging(res):
        out.skipped += 1
        return
    when = None
    for key in ("effectiveDateTime", "date", "issued"):
        if isinstance(res.get(key), str):
            when = fhir_date(res[key], f"{where}.{key}", problems)
            break
    title = _title(res) or "imaging report"
    modality = next((m for pattern, m in _MODALITY_WORDS if pattern.search(title)), None)
    out.reports.append(ImagingReport(where, when, title[:120], modality))


def _scans(sizes: list[tuple[str, dict[str, Any]]], tumors: dict[str, dict[str, Any]], out: FhirContent) -> None:
    """mCODE TumorSize Observations, one per lesion per scan, grouped into scans by date and
    modality (the method)."""
    by: dict[tuple[date, dm.Modality], list[dm.LesionMeasurement]] = {}
    first: dict[tuple[date, dm.Modality], str] = {}
    for where, res in sizes:
        problems: Problems = []
        try:
            found = _tumor_size(where, res, tumors, problems)
        except (TypeError, AttributeError, ValueError, KeyError, IndexError):  # the models have said what is wrong
            found = None
            problems = problems if any(w == where or w.startswith(where + ".") for w, _ in out.problems) else [
                (where, "cannot be read as an mCODE TumorSize")]
        out.problems += problems
        if found is not None:
            when, modality, lesion = found
            by.setdefault((when, modality), []).append(lesion)
            first.setdefault((when, modality), where)
    for (when, modality), lesions in by.items():
        out.scans.append((first[(when, modality)], dm.ImagingStudy(
            date=when, modality=modality, lesions=tuple(sorted(lesions, key=lambda x: x.lesion)),
            provenance=dm.Provenance(source=dm.Source.IMPORT))))


def _tumor_size(where: str, res: dict[str, Any], tumors: dict[str, dict[str, Any]], problems: Problems
                ) -> tuple[date, dm.Modality, dm.LesionMeasurement] | None:
    """One TumorSize Observation: its date, modality and lesion (None after a problem)."""
    when = _effective(where, res, problems)
    modality = _modality(res.get("method"))
    if modality is None:
        problems.append((f"{where}.method", "names no imaging modality the tracker knows (CT, MRI, EUS, US, "
                                            "PET); a size from pathology is not a scan"))
    focus = res.get("focus")
    first = focus[0] if isinstance(focus, list) and focus and isinstance(focus[0], dict) else {}
    tumor = tumors.get(str(first.get("reference") or ""))
    if tumor is None:
        problems.append((f"{where}.focus", "refers to no Tumor (BodyStructure) in this file; the lesion "
                                           "label and site come from it"))
    lesion = _lesion(where, res, tumor, problems) if tumor is not None else None
    if when is None or modality is None or lesion is None:
        return None
    return when, modality, lesion


def _modality(method: Any) -> dm.Modality | None:
    for x in _codings(method):
        if x.get("system") == c.MODALITY_SYSTEM and x.get("code") in dm.MODALITY_OF:
            return dm.Modality(x["code"])
    dicom = {code: m for m, (code, _) in reversed(c.MODALITY_DICOM.items())}
    for x in _codings(method):
        if x.get("system") == c.DICOM and x.get("code") in dicom:
            return dicom[x["code"]]
    return None


def _lesion(where: str, res: dict[str, Any], tumor: dict[str, Any], problems: Problems
            ) -> dm.LesionMeasurement | None:
    label = next((str(i["value"]) for i in tumor.get("identifier") or []
                  if isinstance(i, dict) and i.get("system") == c.LESION_SYSTEM and i.get("value")), None)
    label = label or next((str(i["value"]) for i in tumor.get("identifier") or []
                           if isinstance(i, dict) and i.get("value")), None)
    site = _site(tumor.get("location"))
    if label is None or site is None:
        problems.append((f"{where}.focus", "its Tumor gives no lesion identifier or no site the tracker knows"))
        return None
    values: dict[str, Any] = {"longest": None, "others": [], "short": None, "new": False, "avid": None}
    for i, comp in enumerate(res.get("component") or []):
        here = f"{where}.component[{i}]"
        if not isinstance(comp, dict):
            continue
        if _has_code(comp, c.MEASURE_SYSTEM, "is_new"):
            values["new"] = comp.get("valueBoolean") is True
        elif _has_code(comp, c.MEASURE_SYSTEM, "pet_avid"):
            values["avid"] = comp.get("valueBoolean")
        else:
            key = ("longest" if _has_code(comp, c.LOINC, c.LONGEST_DIMENSION[0]) else
                   "others" if _has_code(comp, c.LOINC, c.OTHER_DIMENSION[0]) else
                   "short" if _has_code(comp, c.MEASURE_SYSTEM, "short_axis_mm") else None)
            if key is None:
                continue
            size = _size(here, comp.get("valueQuantity"), site, problems)
            if size is not None:
                values[key] = [*values["others"], size] if key == "others" else size
    return dm.LesionMeasurement(
        lesion=label[:16], site=site, longest_mm=values["longest"], short_axis_mm=values["short"],
        other_dims_mm=tuple(values["others"]), is_new=values["new"], pet_avid=values["avid"])


def _size(where: str, q: Any, site: dm.Site, problems: Problems) -> Decimal | None:
    here = f"{where}.valueQuantity"
    if not isinstance(q, dict) or q.get("value") is None:
        problems.append((here, "a size needs a value in mm or cm"))
        return None
    unit = str(q.get("code") or q.get("unit") or "")
    if unit not in ("mm", "cm"):
        problems.append((here, f"unit '{unit}' is not a size unit; mCODE sizes are in mm or cm"))
        return None
    try:
        return parse_size_mm(f"{q['value']} {unit}", "valueQuantity")
    except ValidationError as exc:
        problems += [(here, m) for _, m in exc.problems]
        return None


def _site(location: Any) -> dm.Site | None:
    for x in _codings(location):
        if x.get("system") == c.SITE_SYSTEM and x.get("code") in dm.SITE_OF:
            return dm.Site(x["code"])
    snomed = {code: s for s, (code, _) in reversed(c.SITE_SNOMED.items())}  # lymph node: regional
    for x in _codings(location):
        if x.get("system") == c.SNOMED and x.get("code") in snomed:
            return snomed[x["code"]]
    return dm.Site.OTHER if _codings(location) else None


_READERS = {"Patient": _patient, "Condition": _condition, "Observation": _observation,
            "DiagnosticReport": _report, "DocumentReference": _report, "BodyStructure": _noop,
            "Flag": _noop}  # a Flag is ours, evaluated again from the records
