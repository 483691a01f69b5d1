"""Lab Observations (LOINC, `codes.LAB_CODES`) as lab results, and Ki-67 Observations as pathology."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from tracker import jsonio
from tracker.domain import model as dm
from tracker.domain.units import normalize_unit, who_grade
from tracker.errors import ValidationError
from tracker.fhir import codes as c
from tracker.fhir.content import FhirContent, Problems
from tracker.fhir.elements import codings, concept_text, effective, has_code, source_note


def _lab_code(res: dict[str, Any]) -> tuple[dm.Analyte, dm.Specimen | None] | None:
    for x in codings(res.get("code")):
        if x.get("system") == c.LOINC and x.get("code") in c.LAB_BY_LOINC:
            known = c.LAB_BY_LOINC[x["code"]]
            return known.analyte, known.specimen
        if x.get("system") == c.ANALYTE_SYSTEM and x.get("code") in dm.ANALYTE_OF:
            return dm.Analyte(x["code"]), None
    return None


def observation(where: str, res: dict[str, Any], out: FhirContent, problems: Problems) -> None:
    if has_code(res, c.LOINC, c.KI67[0]):
        _ki67(where, res, out, problems)
        return
    code = _lab_code(res)
    if code is None or res.get("status") in ("entered-in-error", "cancelled"):
        out.skipped += 1
        return
    analyte, specimen = code
    when = effective(where, res, problems)
    value = _lab_value(where, res, analyte, out, problems)
    if when is None or value is None:
        return
    comparator, number, unit = value
    r = dm.LabResult(
        date=when, analyte=analyte, value=number, unit=unit, comparator=comparator, lab=_performer(res),
        assay=concept_text(res.get("method")), specimen=specimen or _specimen(res),
        upper_limit=_upper_limit(where, res, analyte, unit, out),
        provenance=dm.Provenance(source=dm.Source.IMPORT, notes=source_note(res)),
    )
    out.labs.append((where, r))


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
    when = effective(where, res, problems)
    q = res.get("valueQuantity")
    if not isinstance(q, dict) or q.get("value") is None:
        problems.append((f"{where}.valueQuantity", "a Ki-67 index needs a value in %"))
        return
    try:
        value = jsonio.exact(q["value"])
    except ValidationError as exc:
        problems += [(f"{where}.valueQuantity", m) for _, m in exc.problems]
        return
    mitoses = _mitoses(where, res, problems)
    if when is not None:
        prov = dm.Provenance(source=dm.Source.IMPORT, notes=source_note(res))
        out.pathology.append((where, dm.Pathology(date=when, ki67_pct=value, mitoses_per_2mm2=mitoses,
                                                  grade=who_grade(value, mitoses), provenance=prov)))


def _mitoses(where: str, res: dict[str, Any], problems: Problems) -> Decimal | None:
    """The mitotic count per 2 mm² of a Ki-67 Observation, a component in the tracker's code."""
    for i, comp in enumerate(res.get("component") or []):
        if isinstance(comp, dict) and has_code(comp, c.MEASURE_SYSTEM, c.MITOSES[0]):
            q = comp.get("valueQuantity")
            try:
                return jsonio.exact(q.get("value") if isinstance(q, dict) else None)
            except ValidationError as exc:
                problems += [(f"{where}.component[{i}].valueQuantity", m) for _, m in exc.problems]
    return None
