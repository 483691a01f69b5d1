"""Which FHIR version a resource is: the signs of STU3 (version 3) and R5 (version 5), the R4
resource types, and what the R4 models of `fhirclient` (generated from FHIR 4.0.1) find wrong.

`fhirclient` is imported only when a resource is checked."""

from __future__ import annotations

import importlib.util
import re
from typing import Any

from tracker.fhir.content import Problems

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


def version_sign(kind: str, res: dict[str, Any]) -> str | None:
    """"STU3 (version 3)" or "R5 (version 5)" when the resource has elements only that version has."""
    keys = set(res)
    if kind in _STU3_TYPES or keys & _STU3_ELEMENTS.get(kind, set()) or (
            kind == "Condition" and isinstance(res.get("clinicalStatus"), str)):
        return "FHIR STU3 (version 3)"
    if kind in _R5_TYPES or keys & _R5_ELEMENTS.get(kind, set()):
        return "FHIR R5 (version 5)"
    return None


def is_r4_type(kind: Any) -> bool:
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


