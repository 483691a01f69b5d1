"""Entry checks shared by the `log` commands and the importers: one list of problems, each with
the field it concerns, so that every error in a file can be reported at once.

Pure: standard library only. `today` is passed in, never read from the clock here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from tracker.domain.model import (
    NODE_SITES,
    SIZING_MODALITIES,
    Analyte,
    ImagingStudy,
    LabResult,
    Pathology,
    Patient,
    Record,
    Site,
    Visit,
)
from tracker.domain.units import (
    MAX_DUCT_MM,
    MAX_LESION_MM,
    MAX_PANCREATIC_LESION_MM,
    MAX_WEIGHT_KG,
    SIZE_JUMP_FACTOR,
    UNITS,
    analyte_name,
    implausible_lab,
    is_size_jump,
    who_grade,
)
from tracker.text import quoted

Problems = list[tuple[str, str]]

#: The dates the tool works with: as-of dates and every stored date lie within these years.
EARLIEST = date(1900, 1, 1)
LATEST = date(2199, 12, 31)
#: How far ahead a date may lie even when the future is allowed (a protocol start planned for the
#: next baseline scan, a report dated ahead by a clock in another time zone): about a year.
FUTURE_LIMIT_DAYS = 366
#: Patient labels: what schemas/patient.schema.json allows, and never all digits (a number names
#: a patient by its internal id).
LABEL_MAX = 64
_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")  # the schema's label pattern
#: Upper bounds of a lab value or upper reference limit in any accepted unit: far above anything
#: measured (chromogranin A above 100,000 ng/mL is reported in rare carcinoid crises), low enough
#: to catch a value typed with its unit's prefix wrong by a thousand.
MAX_LAB_VALUE = Decimal(10) ** 7
MAX_MITOSES = Decimal(1000)


def check_label(label: str, field: str = "label") -> Problems:
    """A patient label: 1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit,
    not all digits."""
    if not label:
        return [(field, "a patient label is required; pick a short label such as P-014 (no real name needed)")]
    if len(label) > LABEL_MAX:
        return [(field, f"a patient label is at most {LABEL_MAX} characters, this one has {len(label)}")]
    if not _LABEL.fullmatch(label):
        return [(field, "a patient label uses letters, digits, '_', '.' and '-' only, starting with a letter "
                        "or digit (no spaces); for example P-014")]
    if label.isdigit():
        return [(field, f"a patient label cannot be only digits ('{label}' would read as an internal id); "
                        "add a letter, such as P-" + label)]
    return []


def check_date(d: date, field: str, patient: Patient | None, *, today: date, allow_future: bool) -> Problems:
    """A record date may not lie in the future (unless allowed, and then at most about a year
    ahead) or before the birth year."""
    out: Problems = []
    if d > today and not allow_future:
        out.append((field, f"{d.isoformat()} is in the future (today is {today.isoformat()}); "
                           "check the date or pass --allow-future"))
    elif (d - today).days > FUTURE_LIMIT_DAYS:
        out.append((field, f"{d.isoformat()} is more than a year after today ({today.isoformat()}); check the date"))
    elif d < EARLIEST:
        out.append((field, f"{d.isoformat()} is before {EARLIEST.year}; check the date"))
    if patient is not None and d.year < patient.birth_year:
        out.append((field, f"{d.isoformat()} is before the patient's birth year"))
    return out


def check_patient(p: Patient, *, today: date, prefix: str = "patient") -> Problems:
    out: Problems = check_label(p.label, f"{prefix}.label")
    if not 1900 <= p.birth_year <= today.year:
        out.append((f"{prefix}.birth_year", f"{p.birth_year} is not a plausible birth year"))
    for name in ("diagnosis_date", "protocol_start"):
        out += check_date(getattr(p, name), f"{prefix}.{name}", p, today=today, allow_future=name == "protocol_start")
    if p.left_on is not None:
        if p.left_on < p.protocol_start:
            out.append((f"{prefix}.left_surveillance.date",
                        f"leaving date {p.left_on} is before the protocol start {p.protocol_start}"))
        out += check_date(p.left_on, f"{prefix}.left_surveillance.date", p, today=today, allow_future=False)
    if p.t_stage is not None and (len(p.t_stage) < 2 or p.t_stage[0] != "T" or p.t_stage[1] not in "1234"):
        out.append((f"{prefix}.t_stage", f"{quoted(p.t_stage)} is not a T stage; use T1, T2, T3 or T4"))
    return out


def _positive(value: Decimal | None, field: str, limit: Decimal, what: str) -> Problems:
    if value is None:
        return []
    if value <= 0:
        return [(field, f"{what} must be above 0, got {value}")]
    if value > limit:
        return [(field, f"{value} is not a plausible {what} (above {limit}); check the unit")]
    return []


def check_record(r: Record, patient: Patient | None, *, today: date, allow_future: bool = False,
                 prefix: str = "") -> Problems:
    """Every problem of one record, fields named under `prefix` (e.g. "visits[3]")."""
    p = f"{prefix}." if prefix else ""
    out = check_date(r.date, f"{p}date", patient, today=today, allow_future=allow_future)
    if isinstance(r, Visit):
        out += _positive(r.weight_kg, f"{p}weight_kg", MAX_WEIGHT_KG, "weight in kg")
        if r.performance_status is not None and not 0 <= r.performance_status <= 4:
            out.append((f"{p}performance_status", "performance status is ECOG 0 to 4"))
    elif isinstance(r, LabResult):
        out += _check_lab(r, p)
    elif isinstance(r, ImagingStudy):
        out += _check_scan(r, p)
    elif isinstance(r, Pathology):
        out += _check_pathology(r, p)
    return out


def _check_lab(r: LabResult, p: str) -> Problems:
    out: Problems = []
    if r.value < 0:
        out.append((f"{p}value", f"a lab value cannot be negative, got {r.value}"))
    elif r.value > MAX_LAB_VALUE:
        out.append((f"{p}value", f"{r.value} is not a plausible lab value (above {MAX_LAB_VALUE:,}); check the value "
                                 "and its unit"))
    if r.upper_limit is not None and r.upper_limit <= 0:
        out.append((f"{p}upper_limit", f"an upper reference limit must be above 0, got {r.upper_limit}"))
    elif r.upper_limit is not None and r.upper_limit > MAX_LAB_VALUE:
        out.append((f"{p}upper_limit", f"{r.upper_limit} is not a plausible upper reference limit (above "
                                       f"{MAX_LAB_VALUE:,}); check the value and its unit"))
    allowed = UNITS[r.analyte]
    if r.analyte is not Analyte.OTHER and r.unit not in allowed:
        out.append((f"{p}unit", f"unit {quoted(r.unit)} does not fit {r.analyte.value}; use one of "
                                f"{', '.join(allowed)}"))
    if r.analyte is Analyte.OTHER and not r.analyte_other:
        out.append((f"{p}analyte_other", "name the analyte when it is 'other'"))
    return out


def _check_scan(r: ImagingStudy, p: str) -> Problems:
    out: Problems = []
    out += _positive(r.mpd_mm, f"{p}mpd_mm", MAX_DUCT_MM, "duct diameter in mm")
    out += _positive(r.cbd_mm, f"{p}cbd_mm", MAX_DUCT_MM, "duct diameter in mm")
    seen: set[str] = set()
    for i, x in enumerate(r.lesions):
        f = f"{p}lesions[{i}]"
        if x.lesion in seen:
            out.append((f"{f}.lesion", f"lesion {x.lesion} is listed twice on this scan"))
        seen.add(x.lesion)
        limit = MAX_PANCREATIC_LESION_MM if x.site is Site.PANCREAS else MAX_LESION_MM
        disappeared = x.longest_mm == 0 and x.site not in NODE_SITES and not x.is_new  # RECIST: 0 mm, gone
        out += [] if disappeared else _positive(x.longest_mm, f"{f}.longest_mm", limit, "lesion size in mm")
        out += _positive(x.short_axis_mm, f"{f}.short_axis_mm", limit, "short axis in mm")
        for j, o in enumerate(x.other_dims_mm):
            out += _positive(o, f"{f}.other_dims_mm[{j}]", limit, "dimension in mm")
        if x.longest_mm is None and x.short_axis_mm is None and not x.is_new and x.pet_avid is None:
            out.append((f"{f}.longest_mm",
                        f"lesion {x.lesion} has no size; give longest_mm (or short_axis_mm for a node)"))
        if x.site in NODE_SITES and x.longest_mm is not None and x.short_axis_mm is None:
            out.append((f"{f}.short_axis_mm",
                        f"lymph node {x.lesion} is measured by its short axis; give short_axis_mm"))
        if x.short_axis_mm is not None and x.longest_mm is not None and x.short_axis_mm > x.longest_mm:
            out.append((f"{f}.short_axis_mm", "the short axis cannot exceed the longest diameter"))
    return out


def _check_pathology(r: Pathology, p: str) -> Problems:
    out: Problems = []
    if r.ki67_pct is not None and not 0 <= r.ki67_pct <= 100:
        out.append((f"{p}ki67_pct", f"Ki-67 is a percentage from 0 to 100, got {r.ki67_pct}"))
    if r.mitoses_per_2mm2 is not None and not 0 <= r.mitoses_per_2mm2 <= MAX_MITOSES:
        out.append((f"{p}mitoses_per_2mm2",
                    f"a mitotic count is 0 to {MAX_MITOSES} per 2 mm², got {r.mitoses_per_2mm2}"))
    if r.ki67_pct is None and r.mitoses_per_2mm2 is None and r.grade is None:
        out.append((f"{p}ki67_pct", "give Ki-67 %, a mitotic count or a grade"))
    if out or r.grade is None:
        return out
    derived = who_grade(r.ki67_pct, r.mitoses_per_2mm2)
    # WHO 2019: the grade is the higher of the Ki-67 and mitotic grades. A stated grade below the
    # derived one contradicts the values; with both values given it must equal the derived one.
    # A higher stated grade with one value is allowed (the other, unrecorded, may set it).
    both = r.ki67_pct is not None and r.mitoses_per_2mm2 is not None
    if derived is not None and (r.grade.value < derived.value or (both and r.grade is not derived)):
        out.append((f"{p}grade", f"grade {r.grade.value} contradicts {_grade_basis(r)} ({derived.value} per WHO "
                                 "2019); check the values or leave the grade out to derive it"))
    return out


def _grade_basis(r: Pathology) -> str:
    parts = []
    if r.ki67_pct is not None:
        parts.append(f"Ki-67 {r.ki67_pct} %")
    if r.mitoses_per_2mm2 is not None:
        parts.append(f"{r.mitoses_per_2mm2} mitoses per 2 mm²")
    return " and ".join(parts)


# ----------------------------------------------------------------------------- entries to confirm


def entry_questions(r: Record, scans: Sequence[ImagingStudy]) -> Problems:
    """What to ask a person before storing `r`: a lab value outside the analyte's
    plausible range, or a lesion size ≥ 5 × or ≤ 1/5 of its previous CT/MRI/EUS size among the
    patient's other active `scans`. Each is (field, question); empty: nothing looks wrong."""
    if isinstance(r, LabResult):
        span = implausible_lab(r.analyte, r.unit, r.value)
        if span is None:
            return []
        name = analyte_name(r.analyte, r.analyte_other)
        return [("value", f"{name} {r.value} {r.unit} is far outside what this test gives ({span[0]} to {span[1]} "
                          f"{r.unit}): check the digits and the unit. Is {r.value} {r.unit} right?")]
    if not isinstance(r, ImagingStudy) or r.modality not in SIZING_MODALITIES:
        return []
    out: Problems = []
    for x in r.lesions:
        now = x.short_axis_mm if x.site in NODE_SITES else x.longest_mm
        before = _previous_size(x.lesion, r, scans)
        if now is None or before is None or not is_size_jump(before[0], now, SIZE_JUMP_FACTOR):
            continue
        size, scan_id = before
        times = (size / now) if now < size else (now / size)
        way, guess = ("smaller", now * 10) if now < size else ("larger", now / 10)
        out.append((f"the size of {x.lesion}",
                    f"{x.lesion} {now} mm is {_times(times)} {way} than at the last scan (scan #{scan_id}). "
                    f"Was it {guess.normalize():f} mm?"))
    return out


def unseen_disappeared(r: Record, scans: Sequence[ImagingStudy]) -> Problems:
    """A lesion entered as 0 mm (disappeared) that no earlier scan of the patient shows: 0 mm
    means "gone", so it is refused for a lesion never seen before. Each is (field, sentence)."""
    if not isinstance(r, ImagingStudy):
        return []
    return [(f"the size of {x.lesion}",
             f"0 mm means {x.lesion} has disappeared, but no earlier scan shows {x.lesion}; give its size, "
             "or leave it out")
            for x in r.lesions if x.longest_mm == 0 and x.site not in NODE_SITES
            and not any(m.lesion == x.lesion for s in scans if s.id != r.id and s.date <= r.date for m in s.lesions)]


def _previous_size(lesion: str, r: ImagingStudy, scans: Sequence[ImagingStudy]) -> tuple[Decimal, int | None] | None:
    """The lesion's latest CT/MRI/EUS size before `r` (its date, then its id), and that scan's id."""
    best: tuple[Decimal, int | None] | None = None
    for s in sorted(scans, key=lambda s: (s.date, s.id or 0)):
        if s.id == r.id or s.modality not in SIZING_MODALITIES or s.date > r.date or (s.date == r.date and (
                r.id is None or (s.id or 0) > r.id)):
            continue
        for x in s.lesions:
            size = x.short_axis_mm if x.site in NODE_SITES else x.longest_mm
            if x.lesion == lesion and size is not None:
                best = (size, s.id)
    return best


def _times(ratio: Decimal) -> str:
    words = {5: "five", 6: "six", 7: "seven", 8: "eight", 9: "nine", 10: "ten"}
    n = int(ratio.to_integral_value())
    return f"{words[n]} times" if n in words and ratio == n else f"about {words.get(n, str(n))} times"
