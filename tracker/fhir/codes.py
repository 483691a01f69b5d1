"""Codes and systems of the FHIR exchange, as data: the LOINC codes we read and write for each
analyte, with their display names, and the mCODE codes and profiles.

Pure data: no FHIR library here.
"""

from __future__ import annotations

from dataclasses import dataclass

from tracker.domain.model import Analyte, Modality, Site, Specimen

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
DICOM = "http://dicom.nema.org/resources/ontology/DCM"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"  # diagnostic service section: RAD, LAB
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
RESOURCE_TYPES = "http://hl7.org/fhir/resource-types"

#: This installation's systems: the patient label as an identifier, and the tracker's own codes
#: where no standard code says exactly what we mean (the analyte, the site, the modality).
BASE = "urn:pnet-tracker"
LABEL_SYSTEM = f"{BASE}:patient-label"
LESION_SYSTEM = f"{BASE}:lesion-label"
ANALYTE_SYSTEM = f"{BASE}:analyte"
SITE_SYSTEM = f"{BASE}:site"
MODALITY_SYSTEM = f"{BASE}:modality"
MEASURE_SYSTEM = f"{BASE}:measure"  # short axis, new lesion, PET avid, ducts, mitoses (no LOINC in mCODE)
SURVEILLANCE_EXTENSION = f"{BASE}:surveillance"  # protocol, start, setting of the primary cancer Condition
RULE_SYSTEM = f"{BASE}:rule"
SYMPTOM_SYSTEM = f"{BASE}:symptom"

MCODE = "http://hl7.org/fhir/us/mcode/StructureDefinition"
PROFILE_PATIENT = f"{MCODE}/mcode-cancer-patient"
PROFILE_PRIMARY_CANCER = f"{MCODE}/mcode-primary-cancer-condition"
PROFILE_TUMOR = f"{MCODE}/mcode-tumor"
PROFILE_TUMOR_SIZE = f"{MCODE}/mcode-tumor-size"
PROFILE_TUMOR_MARKER = f"{MCODE}/mcode-tumor-marker-test"
HISTOLOGY_EXTENSION = f"{MCODE}/mcode-histology-morphology-behavior"
PROFILE_LAB = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-observation-lab"

ICD10_PNET = ("C25.4", "Malignant neoplasm of endocrine pancreas")
#: SNOMED CT in mCODE's shape: the site as the disorder (Condition.code) and the histology as the
#: histology-morphology-behavior extension. Sources: 372003004 in the CodeX OncoTree ValueSet
#: (github.com/standardhealth/fsh-pct, fsh/pctVS.fsh); 1286768001 in HL7 Lithuania's WHO tumour
#: classification ValueSet (github.com/HL7LT/ig-lt-breast,
#: input/fsh/terminology/breast-tumor-who-classification-lt-breast.fsh).
SNOMED_PANCREAS_PRIMARY = ("372003004", "Primary malignant neoplasm of pancreas (disorder)")
SNOMED_WELL_DIFFERENTIATED_NET = ("1286768001", "Well-differentiated neuroendocrine tumor (morphologic abnormality)")
TUMOR_SIZE = ("21889-1", "Size Tumor")
LONGEST_DIMENSION = ("33728-7", "Size.maximum dimension in Tumor")
OTHER_DIMENSION = ("33729-5", "Size additional dimension in Tumor")
KI67 = ("29593-1", "Cells.Ki-67 nuclear Ag/cells in Tissue by Immune stain")
#: measures without a verified LOINC code, in the tracker's own system (MEASURE_SYSTEM)
DUCTS = {"mpd_mm": "main pancreatic duct diameter", "cbd_mm": "common bile duct diameter"}
MITOSES = ("mitoses_per_2mm2", "mitotic count per 2 mm²")
#: a visit: what the patient reports, as one survey Observation (docs/fhir.md says why)
VISIT = ("visit", "surveillance visit: what the patient reports")
#: LOINC 29463-7: the body weight profile of HL7 Germany's GECCO (github.com/hl7germany/
#: forschungsnetz-covid19, input/fsh/profiles/BodyWeight.fsh); LOINC 89247-1: the ECOG profile of
#: github.com/vision-zero-oncology/GOLD, input/fsh/observations.fsh (as in mCODE).
BODY_WEIGHT = ("29463-7", "Body weight")
ECOG = ("89247-1", "ECOG Performance Status score")
ON_PPI = ("on_ppi", "takes a stomach-acid medicine (proton pump inhibitor)")
WANTS_TO_LEAVE = ("wants_to_leave", "wishes to stop surveillance")


@dataclass(frozen=True)
class LabCode:
    """A LOINC code we read as (and write for) one analyte; `specimen` when the code names it."""

    loinc: str
    display: str
    analyte: Analyte
    specimen: Specimen | None = None


#: The one table of the lab codes we know.
#: The first row of an analyte is the one an export writes. Analytes without a verified LOINC
#: code (pancreastatin, pancreatic polypeptide) are written with the tracker's own code only, and
#: read back by it. NSE 15060-7 and its display name: the Onconova IG's "Tumor Marker Tests"
#: ValueSet (github.com/onconova/fhir, ValueSet-onconova-vs-tumor-marker-tests.md); its units
#: code 19193-2 is not read, as the tracker keeps NSE in ng/mL.
LAB_CODES: tuple[LabCode, ...] = (
    LabCode("9811-1", "Chromogranin A [Mass/volume] in Serum or Plasma", Analyte.CHROMOGRANIN_A),
    LabCode("25587-7", "Chromogranin A [Moles/volume] in Serum or Plasma", Analyte.CHROMOGRANIN_A),
    LabCode("1695-6", "5-Hydroxyindoleacetate [Mass/time] in 24 hour Urine", Analyte.HIAA_5, Specimen.URINE_24H),
    LabCode("31203-3", "5-Hydroxyindoleacetate [Mass/volume] in 24 hour Urine", Analyte.HIAA_5, Specimen.URINE_24H),
    LabCode("2333-3", "Gastrin [Mass/volume] in Serum or Plasma", Analyte.GASTRIN),
    LabCode("20448-7", "Insulin [Units/volume] in Serum or Plasma", Analyte.INSULIN),
    LabCode("1986-9", "C peptide [Mass/volume] in Serum or Plasma", Analyte.C_PEPTIDE),
    LabCode("2793-8", "Proinsulin [Moles/volume] in Serum or Plasma", Analyte.PROINSULIN),
    LabCode("2338-2", "Glucagon [Mass/volume] in Serum or Plasma", Analyte.GLUCAGON),
    LabCode("3125-2", "Vasoactive intestinal peptide [Mass/volume] in Serum or Plasma", Analyte.VIP),
    LabCode("2345-7", "Glucose [Mass/volume] in Serum or Plasma", Analyte.GLUCOSE),
    LabCode("1975-2", "Bilirubin.total [Mass/volume] in Serum or Plasma", Analyte.BILIRUBIN),
    LabCode("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", Analyte.CREATININE),
    LabCode("33914-3", "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum or Plasma "
            "by Creatinine-based formula (MDRD)", Analyte.EGFR),
    LabCode("15060-7", "Enolase.neuron specific [Mass/volume] in Serum or Plasma", Analyte.NSE),
)
LAB_BY_LOINC: dict[str, LabCode] = {c.loinc: c for c in LAB_CODES}
LOINC_OF: dict[Analyte, LabCode] = {}
for _c in LAB_CODES:
    LOINC_OF.setdefault(_c.analyte, _c)

#: Analytes that are tumour markers (mCODE TumorMarkerTest); the others are context labs.
TUMOR_MARKERS = frozenset({Analyte.CHROMOGRANIN_A, Analyte.HIAA_5, Analyte.GASTRIN, Analyte.INSULIN,
                           Analyte.C_PEPTIDE, Analyte.PROINSULIN, Analyte.GLUCAGON, Analyte.VIP, Analyte.NSE,
                           Analyte.PANCREASTATIN, Analyte.PANCREATIC_POLYPEPTIDE})

#: A lesion's site as the Tumor's location: SNOMED body structure, and our own code beside it
#: (a regional and a distant node are both "lymph node structure").
SITE_SNOMED: dict[Site, tuple[str, str]] = {
    Site.PANCREAS: ("15776009", "Pancreatic structure"),
    Site.LIVER: ("10200004", "Liver structure"),
    Site.BONE: ("272673000", "Bone structure"),
    Site.PERITONEUM: ("15425007", "Peritoneum (serous membrane) structure"),
    Site.REGIONAL_NODE: ("59441001", "Structure of lymph node"),
    Site.DISTANT_NODE: ("59441001", "Structure of lymph node"),
    Site.LUNG: ("39607008", "Lung structure"),
}

#: A scan's modality as the TumorSize method: the DICOM modality code (EUS is ultrasound) and ours.
MODALITY_DICOM: dict[Modality, tuple[str, str]] = {
    Modality.CT: ("CT", "Computed Tomography"),
    Modality.MRI: ("MR", "Magnetic Resonance"),
    Modality.EUS: ("US", "Ultrasound"),
    Modality.US: ("US", "Ultrasound"),
    Modality.SSTR_PET: ("PT", "Positron emission tomography (PET)"),
    Modality.FDG_PET: ("PT", "Positron emission tomography (PET)"),
}
