"""The controlled lists of the domain: str-Enums for what a record may say (symptoms, analytes,
modalities, sites, grades, severities, statuses) and the constants derived from them.

Pure: imports only the standard library.
"""

from __future__ import annotations

from enum import Enum


class Source(str, Enum):
    """Who entered a value."""

    PATIENT = "patient"
    CLINICIAN = "clinician"
    IMPORT = "import"


class Sex(str, Enum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


class Setting(str, Enum):
    """Tumour setting at enrolment."""

    SMALL_NF = "small_nf"
    FUNCTIONING = "functioning"
    METASTATIC = "metastatic"


class Syndrome(str, Enum):
    """Hereditary syndrome."""

    NONE = "none"
    MEN1 = "MEN1"
    VHL = "VHL"
    OTHER = "other"


class LeaveReason(str, Enum):
    TREATMENT = "treatment"
    PATIENT_CHOICE = "patient_choice"
    DEATH = "death"
    LOST_TO_FOLLOW_UP = "lost_to_follow_up"


class Symptom(str, Enum):
    """Controlled list of symptoms recorded at a visit."""

    ABDOMINAL_PAIN = "abdominal_pain"
    BACK_PAIN = "back_pain"
    JAUNDICE = "jaundice"
    WEIGHT_LOSS = "weight_loss"
    PANCREATITIS = "pancreatitis"
    GI_BLEEDING = "gi_bleeding"
    PALPABLE_MASS = "palpable_mass"
    HYPOGLYCAEMIA = "hypoglycaemia"
    PEPTIC_ULCER = "peptic_ulcer"
    DIARRHOEA = "diarrhoea"
    WATERY_DIARRHOEA = "watery_diarrhoea"
    FLUSHING = "flushing"
    MIGRATORY_RASH = "migratory_rash"
    NEW_DIABETES = "new_diabetes"
    CUSHINGOID = "cushingoid"
    OTHER = "other"


class Analyte(str, Enum):
    """Controlled list of lab analytes; LOINC codes and allowed UCUM units live in `units.py`."""

    CHROMOGRANIN_A = "chromogranin_a"
    PANCREASTATIN = "pancreastatin"
    PANCREATIC_POLYPEPTIDE = "pancreatic_polypeptide"
    HIAA_5 = "5_hiaa"
    GASTRIN = "gastrin"
    INSULIN = "insulin"
    C_PEPTIDE = "c_peptide"
    PROINSULIN = "proinsulin"
    GLUCAGON = "glucagon"
    VIP = "vip"
    GLUCOSE = "glucose"
    BILIRUBIN = "bilirubin"
    CREATININE = "creatinine"
    EGFR = "egfr"
    NSE = "nse"
    OTHER = "other"


#: Units that are one unit for every rule (1 µg/L = 1 ng/mL): a series switching between them is
#: one series, keyed by the unit given here.
SAME_UNIT = {"ug/L": "ng/mL"}

#: How a lab result may qualify its number: "< 5" is below 5, "> 1000" above 1000 (the assay's
#: limit of detection or of its range); "" is the number itself.
COMPARATORS = ("<", "<=", ">", ">=")


class Specimen(str, Enum):
    SERUM = "serum"
    PLASMA = "plasma"
    URINE_24H = "urine_24h"
    WHOLE_BLOOD = "whole_blood"


class Modality(str, Enum):
    CT = "CT"
    MRI = "MRI"
    EUS = "EUS"
    US = "US"
    SSTR_PET = "SSTR-PET"
    FDG_PET = "FDG-PET"


#: Modalities whose sizes may be compared for growth.
SIZING_MODALITIES = frozenset({Modality.CT, Modality.MRI, Modality.EUS})
#: Modalities that count for avidity and new lesions only.
PET_MODALITIES = frozenset({Modality.SSTR_PET, Modality.FDG_PET})


class Site(str, Enum):
    """Where a lesion is. `regional_node` is judged by `spread.node`; the distant sites by
    `spread.distant`."""

    PANCREAS = "pancreas"
    REGIONAL_NODE = "regional_node"
    LIVER = "liver"
    BONE = "bone"
    PERITONEUM = "peritoneum"
    DISTANT_NODE = "distant_node"
    LUNG = "lung"
    OTHER = "other"


DISTANT_SITES = frozenset(
    {Site.LIVER, Site.BONE, Site.PERITONEUM, Site.DISTANT_NODE, Site.LUNG, Site.OTHER}
)
NODE_SITES = frozenset({Site.REGIONAL_NODE, Site.DISTANT_NODE})


class Grade(str, Enum):
    G1 = "G1"
    G2 = "G2"
    G3 = "G3"


class Severity(str, Enum):
    ACTION = "action"
    WATCH = "watch"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 for the most urgent."""
        return {"action": 0, "watch": 1, "info": 2}[self.value]


class DueStatus(str, Enum):
    """Window of a due item on the as-of date, in the order it moves."""

    NOT_DUE = "not_due"
    DUE_SOON = "due_soon"
    DUE = "due"
    OVERDUE = "overdue"
    CLOSED = "closed"

    @property
    def rank(self) -> int:
        """Urgency order: overdue first."""
        return {"overdue": 0, "due": 1, "due_soon": 2, "not_due": 3, "closed": 4}[self.value]


class ItemKind(str, Enum):
    IMAGING = "imaging"
    VISIT = "visit"
    LAB = "lab"


# The members of the enums read in bulk, by value: a dict lookup is ten times faster than
# `Enum(value)`. The importer's readers (jsonio), the store's loaders and the state cache share these tables.
SYMPTOM_OF: dict[str, Symptom] = {e.value: e for e in Symptom}
ANALYTE_OF: dict[str, Analyte] = {e.value: e for e in Analyte}
SPECIMEN_OF: dict[str, Specimen] = {e.value: e for e in Specimen}
MODALITY_OF: dict[str, Modality] = {e.value: e for e in Modality}
SITE_OF: dict[str, Site] = {e.value: e for e in Site}
GRADE_OF: dict[str, Grade] = {e.value: e for e in Grade}
SEX_OF: dict[str, Sex] = {e.value: e for e in Sex}
SETTING_OF: dict[str, Setting] = {e.value: e for e in Setting}
SYNDROME_OF: dict[str, Syndrome] = {e.value: e for e in Syndrome}
LEAVE_REASON_OF: dict[str, LeaveReason] = {e.value: e for e in LeaveReason}
SEVERITY_OF: dict[str, Severity] = {e.value: e for e in Severity}
ITEM_KIND_OF: dict[str, ItemKind] = {e.value: e for e in ItemKind}
DUE_STATUS_OF: dict[str, DueStatus] = {e.value: e for e in DueStatus}
