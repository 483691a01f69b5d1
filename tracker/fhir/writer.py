"""An mCODE-shaped FHIR R4 Bundle (type collection) of one patient's history (docs/fhir.md).

- Patient (mCODE CancerPatient): no name; the label as an identifier (`codes.LABEL_SYSTEM`),
  birth year and sex.
- The primary cancer Condition: ICD-10 C25.4 and SNOMED CT (the site as its code, the
  histology as mCODE's histology-morphology-behavior), the diagnosis date as its onset, and the
  surveillance protocol, start and setting in the tracker's own extension.
- Lab Observations: LOINC and the tracker's analyte code, UCUM `system` and `code`, the
  comparator, the upper limit as `referenceRange.high`, the laboratory as performer and the
  assay as method.
- One mCODE TumorSize Observation (LOINC 21889-1) per lesion per scan, its `focus` the lesion's
  Tumor (BodyStructure) with the stable lesion label as identifier and its site; the modality
  as method.
- A scan's duct diameters (main pancreatic duct, common bile duct) as imaging Observations with
  the tracker's own codes and the modality as method.
- Ki-67 as an Observation (LOINC 29593-1), the mitotic count as its component.
- Each visit as one survey Observation, the symptoms, weight, ECOG, stomach-acid medicine and a
  wish to leave as its components (docs/fhir.md says why not an Encounter).
- Each open flag as a FHIR Flag (not an mCODE CancerDiseaseStatus: a flag is a prompt to
  discuss, not a clinician's judgement of the disease; docs/fhir.md).

Every resource is built with the R4 models of `fhirclient` and serialised by them, so a bundle
the models refuse is never written.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from tracker.domain import model as dm
from tracker.domain.units import analyte_name
from tracker.fhir import codes as c

#: fullUrls are name-based UUIDs of (patient label, resource key): one export is the same text
#: every time, and the same record keeps its fullUrl across exports
_NAMESPACE = uuid.UUID("5b0d6c7e-4c1a-4f57-9f0e-6a3f3b1d2c10")


def _url(label: str, key: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_NAMESPACE, f'{label}|{key}')}"


def _coding(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    return {"system": system, "code": code, **({"display": display} if display else {})}


def _num(d: Decimal) -> int | float:
    return int(d) if d == d.to_integral_value() else float(d)


def bundle(history: dm.PatientHistory, flags: Sequence[dm.Flag], *, today: date) -> dict[str, Any]:
    """The Bundle as JSON (a dict), validated by the FHIR R4 models."""
    from fhirclient.models.bundle import Bundle

    p = history.patient
    patient_url = _url(p.label, "patient")
    subject = {"reference": patient_url}
    resources: list[tuple[str, dict[str, Any]]] = [(patient_url, _patient(p)), _condition(p, subject)]
    resources += [_lab(p.label, r, subject) for r in history.labs]
    tumors: dict[str, str] = {}
    for scan in history.scans:
        for x in scan.lesions:
            if x.lesion not in tumors:
                tumors[x.lesion] = _url(p.label, f"tumor/{x.lesion}")
                resources.append((tumors[x.lesion], _tumor(x, subject)))
            resources.append(_tumor_size(p.label, scan, x, subject, tumors[x.lesion]))
        resources += [_duct(p.label, scan, key, subject) for key in c.DUCTS if getattr(scan, key) is not None]
    resources += [_ki67(p.label, r, subject) for r in history.pathology if r.ki67_pct is not None]
    resources += [_visit(p.label, v, subject) for v in history.visits]
    resources += [_flag(p.label, f, subject) for f in flags]
    doc = {"resourceType": "Bundle", "type": "collection",
           "identifier": {"system": c.LABEL_SYSTEM, "value": f"{p.label}/{today.isoformat()}"},
           "entry": [{"fullUrl": url, "resource": res} for url, res in resources]}
    result: dict[str, Any] = Bundle(doc, strict=True).as_json()
    return result


def _patient(p: dm.Patient) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Patient", "meta": {"profile": [c.PROFILE_PATIENT]},
        "identifier": [{"system": c.LABEL_SYSTEM, "value": p.label}], "birthDate": str(p.birth_year),
    }
    if p.sex is not dm.Sex.UNKNOWN:
        res["gender"] = p.sex.value
    return res


def _condition(p: dm.Patient, subject: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    status = "resolved" if p.left_on and p.leave_reason is dm.LeaveReason.TREATMENT else "active"
    histology = {"url": c.HISTOLOGY_EXTENSION,
                 "valueCodeableConcept": {"coding": [_coding(c.SNOMED, *c.SNOMED_WELL_DIFFERENTIATED_NET)]}}
    res = {
        "resourceType": "Condition", "meta": {"profile": [c.PROFILE_PRIMARY_CANCER]},
        "clinicalStatus": {"coding": [_coding(c.CONDITION_CLINICAL, status)]},
        "verificationStatus": {"coding": [_coding(c.CONDITION_VERIFICATION, "confirmed")]},
        "category": [{"coding": [_coding(c.CONDITION_CATEGORY, "problem-list-item")]}],
        "code": {"coding": [_coding(c.ICD10, *c.ICD10_PNET), _coding(c.SNOMED, *c.SNOMED_PANCREAS_PRIMARY)],
                 "text": "pancreatic neuroendocrine tumour"},
        "bodySite": [{"coding": [_coding(c.SNOMED, *c.SITE_SNOMED[dm.Site.PANCREAS])]}],
        "subject": subject, "onsetDateTime": p.diagnosis_date.isoformat(),
        "extension": [histology, {"url": c.SURVEILLANCE_EXTENSION, "extension": [
            {"url": "protocol", "valueString": p.protocol_id},
            {"url": "start", "valueDate": p.protocol_start.isoformat()},
            {"url": "setting", "valueString": p.setting.value}]}],
    }
    return _url(p.label, "condition"), res


def _lab(label: str, r: dm.LabResult, subject: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    known = c.LOINC_OF.get(r.analyte)
    coding = [_coding(c.LOINC, known.loinc, known.display)] if known else []
    coding.append(_coding(c.ANALYTE_SYSTEM, r.analyte.value, analyte_name(r.analyte, r.analyte_other)))
    quantity: dict[str, Any] = {"value": _num(r.value), "unit": r.unit, "system": c.UCUM, "code": r.unit}
    if r.comparator:
        quantity["comparator"] = r.comparator
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "meta": {"profile": [c.PROFILE_TUMOR_MARKER if r.analyte in c.TUMOR_MARKERS else c.PROFILE_LAB]},
        "status": "final",
        "category": [{"coding": [_coding(c.OBSERVATION_CATEGORY, "laboratory", "Laboratory")]}],
        "code": {"coding": coding, "text": analyte_name(r.analyte, r.analyte_other)},
        "subject": subject, "effectiveDateTime": r.date.isoformat(), "valueQuantity": quantity,
        "specimen": {"display": r.specimen.value.replace("_", " ")},
    }
    if r.upper_limit is not None:
        res["referenceRange"] = [{"high": {"value": _num(r.upper_limit), "unit": r.unit, "system": c.UCUM,
                                           "code": r.unit}}]
    if r.lab:
        res["performer"] = [{"type": "Organization", "display": r.lab}]
    if r.assay:
        res["method"] = {"text": r.assay}
    return _url(label, f"lab/{r.id}"), res


def _tumor(x: dm.LesionMeasurement, subject: dict[str, Any]) -> dict[str, Any]:
    snomed = c.SITE_SNOMED.get(x.site)
    location = [_coding(c.SNOMED, *snomed)] if snomed else []
    return {
        "resourceType": "BodyStructure", "meta": {"profile": [c.PROFILE_TUMOR]},
        "identifier": [{"use": "usual", "type": {"coding": [_coding(c.RESOURCE_TYPES, "BodyStructure")]},
                        "system": c.LESION_SYSTEM, "value": x.lesion}],
        "morphology": {"coding": [_coding(c.SNOMED, "367651003", "Malignant neoplasm of primary, secondary, or "
                                                                  "uncertain origin (morphologic abnormality)")]},
        "location": {"coding": [*location, _coding(c.SITE_SYSTEM, x.site.value)], "text": x.site.value},
        "patient": subject,
    }


def _size(code: tuple[str, str], system: str, mm: Decimal) -> dict[str, Any]:
    return {"code": {"coding": [_coding(system, *code)]},
            "valueQuantity": {"value": _num(mm), "unit": "mm", "system": c.UCUM, "code": "mm"}}


def _tumor_size(label: str, scan: dm.ImagingStudy, x: dm.LesionMeasurement, subject: dict[str, Any],
                tumor_url: str) -> tuple[str, dict[str, Any]]:
    components = []
    if x.longest_mm is not None:
        components.append(_size(c.LONGEST_DIMENSION, c.LOINC, x.longest_mm))
    components += [_size(c.OTHER_DIMENSION, c.LOINC, o) for o in x.other_dims_mm]
    if x.short_axis_mm is not None:  # lymph nodes are measured by short axis (RECIST 1.1)
        components.append(_size(("short_axis_mm", "short axis"), c.MEASURE_SYSTEM, x.short_axis_mm))
    components.append({"code": {"coding": [_coding(c.MEASURE_SYSTEM, "is_new", "new lesion")]},
                       "valueBoolean": x.is_new})
    if x.pet_avid is not None:
        components.append({"code": {"coding": [_coding(c.MEASURE_SYSTEM, "pet_avid", "PET avid")]},
                           "valueBoolean": x.pet_avid})
    res = {
        "resourceType": "Observation", "meta": {"profile": [c.PROFILE_TUMOR_SIZE]}, "status": "final",
        "category": [{"coding": [_coding(c.OBSERVATION_CATEGORY, "imaging", "Imaging")]}],
        "code": {"coding": [_coding(c.LOINC, *c.TUMOR_SIZE)]}, "subject": subject,
        "effectiveDateTime": scan.date.isoformat(), "focus": [{"reference": tumor_url}], "method": _method(scan),
        "component": components,
    }
    return _url(label, f"scan/{scan.id}/{x.lesion}"), res


def _method(scan: dm.ImagingStudy) -> dict[str, Any]:
    """The modality of a scan: the DICOM modality code and ours."""
    dicom = c.MODALITY_DICOM[scan.modality]
    return {"coding": [_coding(c.DICOM, *dicom), _coding(c.MODALITY_SYSTEM, scan.modality.value)],
            "text": scan.modality.value}


def _duct(label: str, scan: dm.ImagingStudy, key: str, subject: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A duct diameter of a scan (main pancreatic duct, common bile duct) as an imaging Observation."""
    mm: Decimal = getattr(scan, key)
    res = {
        "resourceType": "Observation", "status": "final",
        "category": [{"coding": [_coding(c.OBSERVATION_CATEGORY, "imaging", "Imaging")]}],
        "code": {"coding": [_coding(c.MEASURE_SYSTEM, key, c.DUCTS[key])], "text": c.DUCTS[key]},
        "subject": subject, "effectiveDateTime": scan.date.isoformat(), "method": _method(scan),
        "valueQuantity": {"value": _num(mm), "unit": "mm", "system": c.UCUM, "code": "mm"},
    }
    return _url(label, f"scan/{scan.id}/{key}"), res


def _ki67(label: str, r: dm.Pathology, subject: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    assert r.ki67_pct is not None
    res = {
        "resourceType": "Observation", "status": "final",
        "category": [{"coding": [_coding(c.OBSERVATION_CATEGORY, "laboratory", "Laboratory")]}],
        "code": {"coding": [_coding(c.LOINC, *c.KI67)], "text": "Ki-67 index"}, "subject": subject,
        "effectiveDateTime": r.date.isoformat(),
        "valueQuantity": {"value": _num(r.ki67_pct), "unit": "%", "system": c.UCUM, "code": "%"},
    }
    if r.mitoses_per_2mm2 is not None:
        res["component"] = [{"code": {"coding": [_coding(c.MEASURE_SYSTEM, *c.MITOSES)]},
                             "valueQuantity": {"value": _num(r.mitoses_per_2mm2), "unit": "per 2 mm2"}}]
    return _url(label, f"pathology/{r.id}"), res


def _visit(label: str, v: dm.Visit, subject: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A visit as one survey Observation: each symptom, the weight, ECOG, the stomach-acid
    medicine and a wish to leave as its components (no symptom component: none reported)."""
    components: list[dict[str, Any]] = []
    for sym in v.symptoms:
        value = {"valueString": v.symptom_other} if sym is dm.Symptom.OTHER and v.symptom_other else {
            "valueBoolean": True}
        components.append({"code": {"coding": [_coding(c.SYMPTOM_SYSTEM, sym.value)]}, **value})
    if v.weight_kg is not None:
        components.append({"code": {"coding": [_coding(c.LOINC, *c.BODY_WEIGHT)]},
                           "valueQuantity": {"value": _num(v.weight_kg), "unit": "kg", "system": c.UCUM, "code": "kg"}})
    if v.performance_status is not None:
        components.append({"code": {"coding": [_coding(c.LOINC, *c.ECOG)]}, "valueInteger": v.performance_status})
    for code, answer in ((c.ON_PPI, v.on_ppi), (c.WANTS_TO_LEAVE, v.wants_to_leave)):
        components.append({"code": {"coding": [_coding(c.MEASURE_SYSTEM, *code)]}, "valueBoolean": answer})
    res = {
        "resourceType": "Observation", "status": "final",
        "category": [{"coding": [_coding(c.OBSERVATION_CATEGORY, "survey", "Survey")]}],
        "code": {"coding": [_coding(c.MEASURE_SYSTEM, *c.VISIT)], "text": "visit"}, "subject": subject,
        "effectiveDateTime": v.date.isoformat(), "component": components,
    }
    return _url(label, f"visit/{v.id}"), res


def _flag(label: str, f: dm.Flag, subject: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    res = {
        "resourceType": "Flag", "status": "active",
        "category": [{"coding": [_coding("http://terminology.hl7.org/CodeSystem/flag-category", "clinical",
                                         "Clinical")]}],
        "code": {"coding": [_coding(c.RULE_SYSTEM, f.rule_id, f.rule_id)],
                 "text": f"{f.severity.value.upper()}: {f.message}"},
        "subject": subject, "period": {"start": f.date.isoformat()},
    }
    return _url(label, f"flag/{f.key}"), res
