"""Reading FHIR R4 files into the tracker's records.

A file is a Bundle (any type), a single resource, or NDJSON (one resource a line). Every
resource is located for messages: `entry[12].resource`, `(resource)` or `line 7`. What is read:

- Patient: birth year and sex only (names, addresses and identifiers are never read);
- lab Observations whose code (LOINC, `codes.LAB_CODES`) names an analyte we know;
- mCODE TumorSize Observations (LOINC 21889-1) with their Tumor body structure and the duct
  diameters, as scans, and Ki-67 Observations (with the mitotic count) as pathology (what
  `writer` exports, so that an export reads back);
- the primary cancer Condition: the diagnosis date (and the tracker's surveillance extension);
- the tracker's own visit Observations (what the patient reported), as visits;
- imaging DiagnosticReports and DocumentReferences: listed as reports to read, never scans.

Everything else is skipped and counted. Each resource we read is first checked against the R4
models of `fhirclient` (generated from FHIR 4.0.1); a resource of another FHIR version is named
as such (`versions`). The file is cut into resources by `files`, labs are read by `labs`, scans
and reports by `imaging`. Nothing here writes: `services.fhir` compares and stores.
"""

from __future__ import annotations

import re
from typing import Any

from tracker.domain import model as dm
from tracker.fhir import codes as c
from tracker.fhir.content import FhirContent, Problems
from tracker.fhir.elements import codings, fhir_date, has_code
from tracker.fhir.imaging import report, scans
from tracker.fhir.labs import observation
from tracker.fhir.versions import is_r4_type, model_problems, version_sign
from tracker.fhir.visits import visit


def read(items: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> FhirContent:
    """Convert the resources of a file (`files.resources`); every problem is in `.problems`."""
    out = FhirContent()
    tumors: dict[str, dict[str, Any]] = {}  # BodyStructure by "BodyStructure/id" and by fullUrl
    sizes: list[tuple[str, dict[str, Any]]] = []
    for where, res, plain in items:
        if not res:
            out.problems.append((where, "is not a FHIR resource (an object with a resourceType)"))
            continue
        kind = res.get("resourceType")
        sign = version_sign(str(kind), res)
        if sign is not None:
            out.problems.append((where, f"{kind} looks like {sign}, not R4; export the file as FHIR R4 (4.0.1)"))
            continue
        if not is_r4_type(kind):
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
        if kind == "Observation" and (has_code(res, c.LOINC, c.TUMOR_SIZE[0])
                                      or any(has_code(res, c.MEASURE_SYSTEM, k) for k in c.DUCTS)):
            sizes.append((where, res))
            out.problems += model_problems(where, "Observation", plain)
            continue
        mine: Problems = []
        try:
            reader(where, res, out, mine)
        except (TypeError, AttributeError, ValueError, KeyError, IndexError):  # an element of the wrong type:
            mine = model_problems(where, str(kind), plain) or [(where, "cannot be read as FHIR R4")]  # say which
        out.problems += mine or model_problems(where, str(kind), plain)
    scans(sizes, tumors, out)
    return out


def _noop(where: str, res: dict[str, Any], out: FhirContent, problems: Problems) -> None:
    """Read through another resource (a Tumor through its TumorSize)."""


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
               for x in codings(res.get("code"))):
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


def _observation(where: str, res: dict[str, Any], out: FhirContent, problems: Problems) -> None:
    """A visit of the tracker's export, or a lab or Ki-67 Observation."""
    reader = visit if has_code(res, c.MEASURE_SYSTEM, c.VISIT[0]) else observation
    reader(where, res, out, problems)


_READERS = {"Patient": _patient, "Condition": _condition, "Observation": _observation,
            "DiagnosticReport": report, "DocumentReference": report, "BodyStructure": _noop,
            "Flag": _noop}  # a Flag is ours, evaluated again from the records
