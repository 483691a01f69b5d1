"""Units, codes and plausibility limits: parse what people type into exact values.

Sizes are stored in millimetres ("1.4 cm" -> 14 mm). Lab units are UCUM codes; each analyte
accepts only the units that fit it, with the common spellings people type ("µg/L", "ug/l")
mapped to one UCUM code. Pure: standard library only.
"""

from __future__ import annotations

import difflib
import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from tracker.domain.model import Analyte, Grade, LesionMeasurement, Site
from tracker.errors import ValidationError
from tracker.text import quoted

#: LOINC codes. None where the code was not verified.
LOINC: dict[Analyte, str | None] = {
    Analyte.CHROMOGRANIN_A: "9811-1",
    Analyte.PANCREASTATIN: None,
    Analyte.PANCREATIC_POLYPEPTIDE: None,
    Analyte.HIAA_5: "1695-6",
    Analyte.GASTRIN: "2333-3",
    Analyte.INSULIN: "20448-7",
    Analyte.C_PEPTIDE: "1986-9",
    Analyte.PROINSULIN: "2793-8",
    Analyte.GLUCAGON: "2338-2",
    Analyte.VIP: "3125-2",
    Analyte.GLUCOSE: "2345-7",
    Analyte.BILIRUBIN: "1975-2",
    Analyte.CREATININE: "2160-0",
    Analyte.EGFR: "33914-3",
    Analyte.NSE: None,
    Analyte.OTHER: None,
}

#: UCUM units each analyte accepts.
UNITS: dict[Analyte, tuple[str, ...]] = {
    Analyte.CHROMOGRANIN_A: ("ng/mL", "ug/L", "U/L", "nmol/L"),
    Analyte.PANCREASTATIN: ("pg/mL", "pmol/L"),
    Analyte.PANCREATIC_POLYPEPTIDE: ("pmol/L", "pg/mL"),
    Analyte.HIAA_5: ("mg/(24.h)", "umol/(24.h)", "mg/L", "umol/L"),
    Analyte.GASTRIN: ("pmol/L", "pg/mL", "ng/L"),
    Analyte.INSULIN: ("pmol/L", "mU/L", "uU/mL"),
    Analyte.C_PEPTIDE: ("pmol/L", "nmol/L", "ng/mL"),
    Analyte.PROINSULIN: ("pmol/L",),
    Analyte.GLUCAGON: ("pmol/L", "pg/mL", "ng/L"),
    Analyte.VIP: ("pmol/L", "pg/mL", "ng/L"),
    Analyte.GLUCOSE: ("mmol/L", "mg/dL"),
    Analyte.BILIRUBIN: ("umol/L", "mg/dL"),
    Analyte.CREATININE: ("umol/L", "mg/dL"),
    Analyte.EGFR: ("mL/min/{1.73_m2}",),
    Analyte.NSE: ("ng/mL", "ug/L"),
    Analyte.OTHER: (),
}

#: Spellings people type, folded to UCUM. Keys are lower case without spaces.
_UNIT_ALIASES = {
    "µg/l": "ug/L", "μg/l": "ug/L", "mcg/l": "ug/L", "ug/l": "ug/L",
    "ng/ml": "ng/mL", "u/l": "U/L", "iu/l": "U/L", "nmol/l": "nmol/L", "pmol/l": "pmol/L",
    "pg/ml": "pg/mL", "ng/l": "ng/L", "mmol/l": "mmol/L", "mg/dl": "mg/dL",
    "µmol/l": "umol/L", "μmol/l": "umol/L", "umol/l": "umol/L", "mu/l": "mU/L", "µu/ml": "uU/mL",
    "uu/ml": "uU/mL", "mg/24h": "mg/(24.h)", "mg/(24.h)": "mg/(24.h)", "mg/d": "mg/(24.h)",
    "µmol/24h": "umol/(24.h)", "umol/24h": "umol/(24.h)", "umol/(24.h)": "umol/(24.h)",
    "mg/l": "mg/L", "ml/min/1.73m2": "mL/min/{1.73_m2}", "ml/min/{1.73_m2}": "mL/min/{1.73_m2}",
    "ml/min": "mL/min/{1.73_m2}",
}

#: Units in which the 100 ng/mL floor of marker.rise applies as is (ng/mL equals µg/L).
NG_PER_ML_EQUIVALENT = frozenset({"ng/mL", "ug/L"})

#: Plausible lab values (low, high) by analyte and unit: a person's entry outside them is asked
#: ("check the entry"), a stored one unverified raises `data.implausible`. They are
#: wide on purpose, to catch a slipped unit or extra zeros, never a real extreme result:
#: - tumour markers and hormones: 0 up to about 1000 × a typical upper reference limit (ours).
#:   Upper limits (assay inserts): chromogranin A 88–187 ng/mL (Kryptor; = µg/L),
#:   gastrin < 40 pmol/L and glucagon < 50 pmol/L (one UK laboratory); the others from the same
#:   laboratory handbooks' ranges (pancreatic polypeptide < 300 pmol/L, VIP < 30 pmol/L, insulin
#:   < 200 pmol/L, C-peptide < 1.5 nmol/L, proinsulin < 10 pmol/L, NSE < 17 ng/mL, urinary 5-HIAA
#:   < 10 mg/24 h), converted between units by their molar masses;
#: - context labs (glucose, bilirubin, creatinine, eGFR): what a living patient can show, in each
#:   unit (glucose 0.5–60 mmol/L, bilirubin to 1000 µmol/L, creatinine 10–3000 µmol/L, eGFR 1–200).
#: An analyte or unit not listed (an "other" test) has no plausible range.
_ZERO = Decimal(0)
PLAUSIBLE: dict[tuple[Analyte, str], tuple[Decimal, Decimal]] = {
    (a, u): (Decimal(lo), Decimal(hi)) for a, u, lo, hi in (
        (Analyte.CHROMOGRANIN_A, "ng/mL", 0, 200_000), (Analyte.CHROMOGRANIN_A, "ug/L", 0, 200_000),
        (Analyte.CHROMOGRANIN_A, "U/L", 0, 50_000), (Analyte.CHROMOGRANIN_A, "nmol/L", 0, 5_000),
        (Analyte.PANCREASTATIN, "pg/mL", 0, 500_000), (Analyte.PANCREASTATIN, "pmol/L", 0, 100_000),
        (Analyte.PANCREATIC_POLYPEPTIDE, "pmol/L", 0, 300_000),
        (Analyte.PANCREATIC_POLYPEPTIDE, "pg/mL", 0, 1_300_000),
        (Analyte.HIAA_5, "mg/(24.h)", 0, 10_000), (Analyte.HIAA_5, "umol/(24.h)", 0, 50_000),
        (Analyte.HIAA_5, "mg/L", 0, 5_000), (Analyte.HIAA_5, "umol/L", 0, 25_000),
        (Analyte.GASTRIN, "pmol/L", 0, 40_000), (Analyte.GASTRIN, "pg/mL", 0, 85_000),
        (Analyte.GASTRIN, "ng/L", 0, 85_000),
        (Analyte.INSULIN, "pmol/L", 0, 200_000), (Analyte.INSULIN, "mU/L", 0, 30_000),
        (Analyte.INSULIN, "uU/mL", 0, 30_000),
        (Analyte.C_PEPTIDE, "pmol/L", 0, 1_500_000), (Analyte.C_PEPTIDE, "nmol/L", 0, 1_500),
        (Analyte.C_PEPTIDE, "ng/mL", 0, 4_500),
        (Analyte.PROINSULIN, "pmol/L", 0, 10_000),
        (Analyte.GLUCAGON, "pmol/L", 0, 50_000), (Analyte.GLUCAGON, "pg/mL", 0, 175_000),
        (Analyte.GLUCAGON, "ng/L", 0, 175_000),
        (Analyte.VIP, "pmol/L", 0, 30_000), (Analyte.VIP, "pg/mL", 0, 100_000), (Analyte.VIP, "ng/L", 0, 100_000),
        (Analyte.NSE, "ng/mL", 0, 17_000), (Analyte.NSE, "ug/L", 0, 17_000),
        (Analyte.GLUCOSE, "mmol/L", "0.5", 60), (Analyte.GLUCOSE, "mg/dL", 9, 1_100),
        (Analyte.BILIRUBIN, "umol/L", 0, 1_000), (Analyte.BILIRUBIN, "mg/dL", 0, 60),
        (Analyte.CREATININE, "umol/L", 10, 3_000), (Analyte.CREATININE, "mg/dL", "0.1", 35),
        (Analyte.EGFR, "mL/min/{1.73_m2}", 1, 200),
    )
}


def plausible_range(analyte: Analyte, unit: str) -> tuple[Decimal, Decimal] | None:
    """The plausible (low, high) of a result in `unit`, None when the table has none."""
    return PLAUSIBLE.get((analyte, unit))


def implausible_lab(analyte: Analyte, unit: str, value: Decimal) -> tuple[Decimal, Decimal] | None:
    """The plausible range when `value` lies outside it, else None."""
    span = plausible_range(analyte, unit)
    return span if span is not None and not span[0] <= value <= span[1] else None


#: A size ≥ 5 × or ≤ 1/5 of the lesion's previous one looks like an entry error (a
#: centimetre value typed as millimetres, a dropped or extra digit).
SIZE_JUMP_FACTOR = Decimal(5)


def is_size_jump(before: Decimal, after: Decimal, factor: Decimal = SIZE_JUMP_FACTOR) -> bool:
    """Two sizes of a lesion whose ratio is `factor` or more, either way (0 mm is no ratio)."""
    return before > 0 and after > 0 and max(before, after) >= factor * min(before, after)


#: Largest plausible sizes (mm) by what is measured; beyond these a value is an entry error.
MAX_LESION_MM = Decimal(150)
MAX_PANCREATIC_LESION_MM = Decimal(100)
MAX_DUCT_MM = Decimal(30)
MAX_WEIGHT_KG = Decimal(350)
#: Numbers accepted anywhere: at most 15 significant digits, between 1e-9 and 1e13 in size.
MAX_DIGITS = 15
MIN_ADJUSTED, MAX_ADJUSTED = -9, 12

_SIZE_RE = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)\s*(mm|cm)?\s*$", re.IGNORECASE)


def comma_problem(text: str) -> str | None:
    """The sentence refusing a number written with a comma ("1,400" is 1400 to some, 1.4 to
    others), or None when `text` has no comma. It shows both readings."""
    if "," not in text:
        return None
    shown = text.strip()
    m = _COMMA_NUMBER.search(shown)
    if m is None:
        return f"{quoted(shown)} has a comma; write the number with a point for decimals and no comma"
    number = m.group(0)
    whole = shown.replace(number, number.replace(",", ""))
    if number.count(",") == 1 and "." not in number:
        point = shown.replace(number, number.replace(",", ".").rstrip("0").rstrip("."))
        return f"{quoted(shown)} can be read two ways: write {whole} or {point} (no comma in a number)"
    return f"{quoted(shown)} has a comma: write {whole} (no comma in a number; a point for decimals)"


_COMMA_NUMBER = re.compile(r"\d[\d,.]*,[\d,.]*")


def parse_decimal(text: str | int | float | Decimal, field: str) -> Decimal:
    """An exact decimal from what a person or a file wrote. The one number parser of the
    tracker (options, prompts, CSV cells, JSON strings, amend --set): a comma is refused, never
    guessed as a thousands separator or a decimal point."""
    if isinstance(text, Decimal):
        value = text
    else:
        problem = comma_problem(str(text))
        if problem:
            raise ValidationError(problem, field)
        try:
            value = Decimal(str(text).strip())
        except InvalidOperation:
            raise ValidationError(f"{quoted(text)} is not a number; write it like 12.5", field) from None
    if not value.is_finite():
        raise ValidationError(f"{quoted(text)} is not a finite number", field)
    # Measurements carry few digits. Bounding them keeps every stored value exact through the
    # database and a JSON export (a double holds 15 significant digits exactly).
    if value and not MIN_ADJUSTED <= value.adjusted() <= MAX_ADJUSTED:
        raise ValidationError(f"{quoted(text)} is out of range for a measurement; check the value", field)
    if len(str(value)) > MAX_DIGITS and len(value.normalize().as_tuple().digits) > MAX_DIGITS:  # str: the quick test
        raise ValidationError(f"{quoted(text)} has more than {MAX_DIGITS} significant digits; round it as the report "
                              "does", field)
    return value


_ONE = Decimal(1)


def without_trailing_zeros(d: Decimal) -> Decimal:
    """The same number with no trailing zeros and no exponent for an integer: 12.50 -> 12.5,
    1E+2 -> 100, 0.0 -> 0. Raises decimal.InvalidOperation for an integer of more digits than
    the decimal context holds (1E+999)."""
    return d.quantize(_ONE) if d == d.to_integral_value() else d.normalize()


_COMPARATOR_RE = re.compile(r"^\s*(<=|>=|≤|≥|<|>)?\s*(.*?)\s*$", re.DOTALL)
_COMPARATOR_SIGNS = {"≤": "<=", "≥": ">="}


def parse_lab_value(text: str | int | Decimal, field: str = "value") -> tuple[str, Decimal]:
    """A lab result as a report writes it: "64", or "< 5" (below the assay's limit), "<= 5",
    "> 1000", ">= 1000" ("≤" and "≥" too); the comparator ("" for none) and the exact number."""
    if not isinstance(text, str):
        return "", parse_decimal(text, field)
    m = _COMPARATOR_RE.match(text)
    sign, number = (m.group(1) or "", m.group(2)) if m else ("", text)
    if sign and not number:
        raise ValidationError(f"{quoted(text)} gives a comparator without a number; write it like '< 5'", field)
    return _COMPARATOR_SIGNS.get(sign, sign), parse_decimal(number, field)


def parse_size_mm(text: str | int | float | Decimal, field: str, *, max_mm: Decimal = MAX_LESION_MM,
                  unit_required: bool = False, zero: bool = False) -> Decimal:
    """Parse a size such as "14", "14 mm" or "1.4 cm" into millimetres (plain numbers are mm,
    unless `unit_required`: a person typing a size says mm or cm).

    Raises ValidationError for negative or absurd sizes, and for zero unless `zero` (a lesion
    recorded as 0 mm has disappeared, RECIST 1.1)."""
    if isinstance(text, (int, float, Decimal)):
        value, unit = parse_decimal(text, field), "mm"
    else:
        problem = comma_problem(str(text))
        if problem:
            raise ValidationError(problem, field)
        m = _SIZE_RE.match(str(text))
        if not m:
            raise ValidationError(f"{quoted(text)} is not a size; write it like '14 mm' or '1.4 cm'", field)
        value = parse_decimal(m.group(1), field)
        if unit_required and not m.group(2):
            raise ValidationError(f"{quoted(text)} has no unit; write {value} mm or {value} cm", field)
        unit = (m.group(2) or "mm").lower()
    mm = value * 10 if unit == "cm" else value
    mm = without_trailing_zeros(mm)
    if mm < 0 or (mm == 0 and not zero):
        raise ValidationError(f"a size must be above 0 mm, got {text}", field)
    if mm > max_mm:
        raise ValidationError(
            f"{mm} mm is not a plausible size (above {max_mm} mm); check whether it was cm, not mm", field
        )
    return Decimal(mm)


@lru_cache(maxsize=512)  # an import meets the same few names a hundred thousand times
def parse_analyte(name: str, field: str = "analyte") -> Analyte:
    """The analyte for a name; an unknown one suggests the nearest known name."""
    key = name.strip().lower().replace("-", "_").replace(" ", "_")
    aliases = {"cga": "chromogranin_a", "chromogranin": "chromogranin_a", "5hiaa": "5_hiaa",
               "hiaa": "5_hiaa", "pp": "pancreatic_polypeptide", "bili": "bilirubin",
               "creat": "creatinine", "cpeptide": "c_peptide"}
    key = aliases.get(key, key)
    try:
        return Analyte(key)
    except ValueError:
        names = [a.value for a in Analyte]
        near = difflib.get_close_matches(key, names, n=1)
        hint = f"; did you mean {quoted(near[0])}?" if near else f"; known analytes: {', '.join(names)}"
        raise ValidationError(f"unknown analyte {quoted(name)}{hint}", field) from None


@lru_cache(maxsize=512)
def normalize_unit(analyte: Analyte, unit: str, field: str = "unit") -> str:
    """The UCUM code for `unit`, checked against what `analyte` accepts."""
    raw = unit.strip()
    ucum = _UNIT_ALIASES.get(raw.lower().replace(" ", ""), raw)
    allowed = UNITS[analyte]
    if analyte is Analyte.OTHER:
        if not ucum:
            raise ValidationError("a unit is required", field)
        return ucum
    if ucum not in allowed:
        raise ValidationError(
            f"unit {quoted(unit)} does not fit {analyte.value}; use one of {', '.join(allowed)}", field
        )
    return ucum


def who_grade(ki67_pct: Decimal | None, mitoses: Decimal | None) -> Grade | None:
    """WHO 2019 grade: the higher of the Ki-67 grade (<3 %, 3–20 %, >20 %) and the mitotic
    grade (<2, 2–20, >20 per 2 mm²)."""
    grades = []
    if ki67_pct is not None:
        grades.append(Grade.G1 if ki67_pct < 3 else Grade.G3 if ki67_pct > 20 else Grade.G2)
    if mitoses is not None:
        grades.append(Grade.G1 if mitoses < 2 else Grade.G3 if mitoses > 20 else Grade.G2)
    return max(grades, key=lambda g: g.value) if grades else None


def parse_lesion_spec(spec: str, field: str = "--lesion") -> LesionMeasurement:
    """A lesion typed on the command line: LABEL:SITE:SIZE[:new][:avid][:not-avid].

    SIZE is the longest diameter ("14", "14mm", "1.4 cm", or "14x11x9 mm" with the other
    dimensions); for a lymph node site it is the short axis. A PET-only lesion may give "-" as
    size. Examples: P1:pancreas:1.4cm  N1:regional_node:11mm:avid  L1:liver:8mm:new
    """
    parts = [p.strip() for p in spec.split(":")]
    if len(parts) < 3:
        raise ValidationError(
            f"{quoted(spec)} is not a lesion; write LABEL:SITE:SIZE such as P1:pancreas:14mm", field
        )
    label, site_text, size_text, *flags = parts
    if not label or len(label) > 16:
        raise ValidationError(f"lesion label {quoted(label)} must be 1 to 16 characters, such as P1", field)
    try:
        site = Site(site_text.lower())
    except ValueError:
        names = [s.value for s in Site]
        near = difflib.get_close_matches(site_text.lower(), names, n=1)
        hint = f"did you mean {quoted(near[0])}?" if near else f"use one of {', '.join(names)}"
        raise ValidationError(f"unknown site {quoted(site_text)}; {hint}", field) from None
    unknown = [f for f in flags if f.lower() not in ("new", "avid", "not-avid")]
    if unknown:
        raise ValidationError(f"unknown lesion flag {quoted(unknown[0])}; use new, avid or not-avid", field)
    low = [f.lower() for f in flags]
    avid = True if "avid" in low else False if "not-avid" in low else None
    longest: Decimal | None = None
    others: tuple[Decimal, ...] = ()
    if size_text not in ("", "-"):
        unit = "cm" if size_text.lower().rstrip().endswith("cm") else "mm"
        dims = [d for d in re.split(r"\s*[x×]\s*", re.sub(r"(?i)\s*(mm|cm)\s*$", "", size_text)) if d]
        limit = MAX_PANCREATIC_LESION_MM if site is Site.PANCREAS else MAX_LESION_MM
        # one dimension of 0 mm: a lesion (not a node, not new) that has disappeared
        gone = len(dims) == 1 and site not in (Site.REGIONAL_NODE, Site.DISTANT_NODE) and "new" not in low
        sizes = [parse_size_mm(f"{d} {unit}", field, max_mm=limit, zero=gone) for d in dims]
        if not sizes:
            raise ValidationError(f"{quoted(size_text)} is not a size; write it like 14mm or 1.4cm", field)
        longest, others = sizes[0], tuple(sizes[1:])
    if site in (Site.REGIONAL_NODE, Site.DISTANT_NODE):
        return LesionMeasurement(lesion=label, site=site, short_axis_mm=longest, is_new="new" in low, pet_avid=avid)
    return LesionMeasurement(lesion=label, site=site, longest_mm=longest, other_dims_mm=others,
                             is_new="new" in low, pet_avid=avid)


#: How analytes are written for people (in flag messages and reports).
_ANALYTE_NAMES = {
    Analyte.CHROMOGRANIN_A: "chromogranin A", Analyte.HIAA_5: "5-HIAA", Analyte.C_PEPTIDE: "C-peptide",
    Analyte.VIP: "VIP", Analyte.NSE: "NSE", Analyte.EGFR: "eGFR",
    Analyte.PANCREATIC_POLYPEPTIDE: "pancreatic polypeptide",
}


def analyte_name(analyte: Analyte, other: str = "") -> str:
    """The analyte as people write it ("chromogranin A"); the typed name for 'other'."""
    if analyte is Analyte.OTHER and other:
        return other
    return _ANALYTE_NAMES.get(analyte, analyte.value.replace("_", " "))
