"""Imaging: text reports (DiagnosticReport, DocumentReference) listed to be read, and mCODE
TumorSize Observations with their Tumor body structures read back as scans."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

from tracker.domain import model as dm
from tracker.domain.units import parse_size_mm
from tracker.errors import ValidationError
from tracker.fhir import codes as c
from tracker.fhir.content import FhirContent, ImagingReport, Problems
from tracker.fhir.elements import codings, concept_text, effective, fhir_date, has_code

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
        for x in codings(concept):
            if (x.get("system") == c.V2_0074 and x.get("code") in ("RAD", "CT", "NMR", "RUS", "NMS")) or (
                    x.get("system") == c.LOINC and x.get("code") in ("LP29684-5", "18748-4")):
                return True
    return bool(_IMAGING_WORDS.search(_title(res)))


def _title(res: dict[str, Any]) -> str:
    return concept_text(res.get("code")) or concept_text(res.get("type")) or str(res.get("description") or "")


def report(where: str, res: dict[str, Any], out: FhirContent, problems: Problems) -> None:
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


def scans(sizes: list[tuple[str, dict[str, Any]]], tumors: dict[str, dict[str, Any]], out: FhirContent) -> None:
    """mCODE TumorSize Observations, one per lesion per scan, and duct diameters, grouped into
    scans by date and modality (the method)."""
    by: dict[tuple[date, dm.Modality], list[dm.LesionMeasurement]] = {}
    ducts: dict[tuple[date, dm.Modality], dict[str, Decimal]] = {}
    first: dict[tuple[date, dm.Modality], str] = {}
    for where, res in sizes:
        problems: Problems = []
        duct = next((k for k in c.DUCTS if has_code(res, c.MEASURE_SYSTEM, k)), None)
        try:
            found = _duct(where, res, problems) if duct else _tumor_size(where, res, tumors, problems)
        except (TypeError, AttributeError, ValueError, KeyError, IndexError):  # the models have said what is wrong
            found = None
            problems = problems if any(w == where or w.startswith(where + ".") for w, _ in out.problems) else [
                (where, "cannot be read as an mCODE TumorSize")]
        out.problems += problems
        if found is not None:
            when, modality, measured = found
            if isinstance(measured, dm.LesionMeasurement):
                by.setdefault((when, modality), []).append(measured)
            elif duct is not None:
                ducts.setdefault((when, modality), {})[duct] = measured
            first.setdefault((when, modality), where)
    for key, where in first.items():
        when, modality = key
        diameters = ducts.get(key, {})
        out.scans.append((where, dm.ImagingStudy(
            date=when, modality=modality, lesions=tuple(sorted(by.get(key, []), key=lambda x: x.lesion)),
            mpd_mm=diameters.get("mpd_mm"), cbd_mm=diameters.get("cbd_mm"),
            provenance=dm.Provenance(source=dm.Source.IMPORT))))


def _duct(where: str, res: dict[str, Any], problems: Problems
          ) -> tuple[date, dm.Modality, Decimal] | None:
    """A duct diameter of a scan: its date, modality and size (None after a problem)."""
    when = effective(where, res, problems)
    modality = _modality(res.get("method"))
    if modality is None:
        problems.append((f"{where}.method", "names no imaging modality the tracker knows (CT, MRI, EUS, US, PET)"))
    size = _size(where, res.get("valueQuantity"), dm.Site.PANCREAS, problems)
    if when is None or modality is None or size is None:
        return None
    return when, modality, size


def _tumor_size(where: str, res: dict[str, Any], tumors: dict[str, dict[str, Any]], problems: Problems
                ) -> tuple[date, dm.Modality, dm.LesionMeasurement] | None:
    """One TumorSize Observation: its date, modality and lesion (None after a problem)."""
    when = effective(where, res, problems)
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
    for x in codings(method):
        if x.get("system") == c.MODALITY_SYSTEM and x.get("code") in dm.MODALITY_OF:
            return dm.Modality(x["code"])
    dicom = {code: m for m, (code, _) in reversed(c.MODALITY_DICOM.items())}
    for x in codings(method):
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
        if has_code(comp, c.MEASURE_SYSTEM, "is_new"):
            values["new"] = comp.get("valueBoolean") is True
        elif has_code(comp, c.MEASURE_SYSTEM, "pet_avid"):
            values["avid"] = comp.get("valueBoolean")
        else:
            key = ("longest" if has_code(comp, c.LOINC, c.LONGEST_DIMENSION[0]) else
                   "others" if has_code(comp, c.LOINC, c.OTHER_DIMENSION[0]) else
                   "short" if has_code(comp, c.MEASURE_SYSTEM, "short_axis_mm") else None)
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
    for x in codings(location):
        if x.get("system") == c.SITE_SYSTEM and x.get("code") in dm.SITE_OF:
            return dm.Site(x["code"])
    snomed = {code: s for s, (code, _) in reversed(c.SITE_SNOMED.items())}  # lymph node: regional
    for x in codings(location):
        if x.get("system") == c.SNOMED and x.get("code") in snomed:
            return snomed[x["code"]]
    return dm.Site.OTHER if codings(location) else None
