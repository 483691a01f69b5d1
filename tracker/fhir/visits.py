"""A visit Observation of the tracker's export (what the patient reports) read back as a visit."""

from __future__ import annotations

from typing import Any

from tracker import jsonio
from tracker.domain import model as dm
from tracker.errors import ValidationError
from tracker.fhir import codes as c
from tracker.fhir.content import FhirContent, Problems
from tracker.fhir.elements import codings, effective, has_code, source_note


def visit(where: str, res: dict[str, Any], out: FhirContent, problems: Problems) -> None:
    """The symptoms, weight, ECOG, stomach-acid medicine and wish to leave of its components."""
    when = effective(where, res, problems)
    symptoms: list[dm.Symptom] = []
    values: dict[str, Any] = {"symptom_other": "", "weight_kg": None, "performance_status": None,
                              "on_ppi": False, "wants_to_leave": False}
    for i, comp in enumerate(res.get("component") or []):
        here = f"{where}.component[{i}]"
        if not isinstance(comp, dict):
            continue
        symptom = next((x.get("code") for x in codings(comp.get("code")) if x.get("system") == c.SYMPTOM_SYSTEM), None)
        if symptom is not None:
            if symptom not in {s.value for s in dm.Symptom}:
                problems.append((f"{here}.code", f"'{symptom}' is not a symptom the tracker knows"))
                continue
            symptoms.append(dm.Symptom(symptom))
            if symptom == dm.Symptom.OTHER.value and isinstance(comp.get("valueString"), str):
                values["symptom_other"] = comp["valueString"]
        elif has_code(comp, c.LOINC, c.BODY_WEIGHT[0]):
            q = comp.get("valueQuantity")
            try:
                values["weight_kg"] = jsonio.exact(q.get("value") if isinstance(q, dict) else None)
            except ValidationError as exc:
                problems += [(f"{here}.valueQuantity", m) for _, m in exc.problems]
        elif has_code(comp, c.LOINC, c.ECOG[0]):
            ecog = comp.get("valueInteger")
            if type(ecog) is not int or not 0 <= ecog <= 4:
                problems.append((f"{here}.valueInteger", "an ECOG performance status is a whole number from 0 to 4"))
            else:
                values["performance_status"] = ecog
        else:
            for key, (code, _) in (("on_ppi", c.ON_PPI), ("wants_to_leave", c.WANTS_TO_LEAVE)):
                if has_code(comp, c.MEASURE_SYSTEM, code):
                    values[key] = comp.get("valueBoolean") is True
    if when is not None:
        prov = dm.Provenance(source=dm.Source.IMPORT, notes=source_note(res))
        out.visits.append((where, dm.Visit(date=when, symptoms=tuple(symptoms), provenance=prov, **values)))
