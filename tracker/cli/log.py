"""Commands that log a record: log visit|lab|scan|pathology."""

from __future__ import annotations

import difflib
import re
from functools import partial
from typing import Annotated, Any

import typer

from tracker.cli.app import app
from tracker.cli.common import (
    AsOfOption,
    as_of,
    ask,
    choice,
    interactive,
    need,
    note,
    settings,
    yes_no,
)
from tracker.cli.entry import (
    ConfirmOpt,
    DateOpt,
    FutureOpt,
    NotesOpt,
    PatientArg,
    SourceOpt,
    VerifiedOpt,
    confirmed,
    date_parser,
    entry_source,
    provenance,
    service,
)
from tracker.domain import model as dm
from tracker.domain.units import (
    UNITS,
    analyte_name,
    normalize_unit,
    parse_analyte,
    parse_decimal,
    parse_lab_value,
    parse_lesion_spec,
    parse_size_mm,
    who_grade,
)
from tracker.errors import ValidationError
from tracker.jsonio.documents import exact
from tracker.text import quoted

log_app = typer.Typer(no_args_is_help=True, help="Log a visit, lab result, scan or pathology report.")
app.add_typer(log_app, name="log")


# ------------------------------------------------------------------ log


def _stored(r: dm.Record) -> None:
    typer.echo(f"{dm.kind_of(r)} {r.id}")
    note(f"Logged {dm.kind_of(r)} #{r.id} of {r.date}.")


def _symptoms(text: str) -> tuple[dm.Symptom, ...]:
    """Symptoms typed at the prompt, separated by commas ("abdominal pain, jaundice"), or none."""
    if text.strip().lower() in ("none", "no", "nothing"):
        return ()
    out = []
    for word in (w.strip() for w in text.split(",")):
        if not word:
            continue
        key = word.lower().replace(" ", "_").replace("-", "_")
        try:
            out.append(dm.Symptom(key))
        except ValueError:
            names = [x.value for x in dm.Symptom]
            near = difflib.get_close_matches(key, names, n=1)
            hint = f"did you mean {near[0].replace('_', ' ')}?" if near else "for anything else type other"
            raise ValidationError(f"{quoted(word)} is not on the list of symptoms; {hint}", "the symptoms") from None
    if not out:
        raise ValidationError("list the symptoms, or type none", "the symptoms")
    return tuple(sorted(set(out)))


_SYMPTOM_LIST = ", ".join(x.value.replace("_", " ") for x in dm.Symptom)


@log_app.command("visit")
def log_visit(
    ctx: typer.Context,
    patient: PatientArg,
    on: DateOpt = None,
    symptom: Annotated[list[dm.Symptom] | None, typer.Option(
        "--symptom", case_sensitive=False, help="A symptom; repeat for more.")] = None,
    no_symptoms: Annotated[bool, typer.Option("--no-symptoms", help="The patient has no symptoms.")] = False,
    other: Annotated[str, typer.Option("--other", help="Other symptom, in words.")] = "",
    weight: Annotated[str | None, typer.Option("--weight", help="Weight in kg.")] = None,
    ps: Annotated[int | None, typer.Option("--ps", help="ECOG performance status 0-4.")] = None,
    ppi: Annotated[bool | None, typer.Option(
        "--ppi/--no-ppi", help="Taking a proton-pump inhibitor (asked in a terminal; else no).")] = None,
    wants_to_leave: Annotated[bool, typer.Option(
        "--wants-to-leave", help="Patient asks to leave surveillance.")] = False,
    source: SourceOpt = None,
    verified: VerifiedOpt = False,
    notes: NotesOpt = "",
    allow_future: FutureOpt = False,
    today: AsOfOption = None,
) -> None:
    """Log a clinic visit: symptoms, weight, performance status, PPI use, wish to leave. In a
    terminal every field that a rule reads is asked (symptoms or none, PPI yes or no, weight or skip).

    Example: tracker log visit SYN-GROWING --date 2026-03-02 --symptom abdominal_pain --weight 71.5 --ppi
    """
    src = entry_source(ctx, source)
    when = need(on, "--date", "Date of the visit (YYYY-MM-DD)", date_parser("the date"))
    syms = tuple(sorted(set(symptom or [])))
    if not syms and not other and not no_symptoms and interactive():
        syms = ask(f"Any symptoms? List them separated by commas ({_SYMPTOM_LIST}), or type none", _symptoms)
    if other and dm.Symptom.OTHER not in syms:
        syms = tuple(sorted({*syms, dm.Symptom.OTHER}))
    if dm.Symptom.OTHER in syms and not other and interactive():
        other = ask("The other symptom, in words", str.strip)
    if ppi is None and interactive():
        ppi = ask("Taking a stomach-acid medicine (proton-pump inhibitor such as omeprazole)? yes or no", yes_no)
    if weight is None and interactive():
        weight = ask("Weight in kg", lambda t: _weight(t) and t, skippable=True)
    r = dm.Visit(
        date=when, symptoms=syms, symptom_other=other,
        weight_kg=_weight(weight) if weight else None, performance_status=ps, on_ppi=bool(ppi),
        wants_to_leave=wants_to_leave, provenance=provenance(src, verified, notes),
    )
    _stored(service().log_record(settings(ctx), patient, r, today=as_of(today), allow_future=allow_future))


def _weight(text: str) -> Any:
    """A weight in kg: "70.5" or "70.5 kg"."""
    return parse_decimal(re.sub(r"(?i)\s*kg\s*$", "", text), "the weight")


@log_app.command("lab")
def log_lab(
    ctx: typer.Context,
    patient: PatientArg,
    on: DateOpt = None,
    analyte: Annotated[str | None, typer.Option("--analyte", help="e.g. chromogranin_a (or CgA), gastrin.")] = None,
    value: Annotated[str | None, typer.Option(
        "--value", help="The result; '<5' or '>1000' for a result below or above the assay's limit.")] = None,
    unit: Annotated[str | None, typer.Option("--unit", help="UCUM unit, e.g. ng/mL, ug/L, pmol/L.")] = None,
    lab: Annotated[str | None, typer.Option("--lab", help="Laboratory name.")] = None,
    assay: Annotated[str | None, typer.Option(
        "--assay", help="Assay name (results are compared within one assay).")] = None,
    specimen: Annotated[dm.Specimen, typer.Option("--specimen", case_sensitive=False)] = dm.Specimen.SERUM,
    uln: Annotated[str | None, typer.Option("--uln", help="The lab's upper reference limit.")] = None,
    analyte_other: Annotated[str, typer.Option("--analyte-name", help="Name when --analyte other.")] = "",
    source: SourceOpt = None,
    verified: VerifiedOpt = False,
    notes: NotesOpt = "",
    allow_future: FutureOpt = False,
    confirm: ConfirmOpt = False,
    today: AsOfOption = None,
) -> None:
    """Log a lab result (chromogranin A, hormones, bilirubin, ...), with lab, assay and upper limit.
    In a terminal the upper limit, assay and laboratory are asked too (each may be skipped). A
    result below or above the assay's limit keeps its sign: --value '<5'.

    Example: tracker log lab SYN-GROWING --date 2026-03-02 --analyte CgA --value 85 --unit ng/mL --assay "BRAHMS KRYPTOR" --uln 102 ; tracker log lab SYN-GROWING --date 2026-03-02 --analyte gastrin --value '<5' --unit pmol/L
    """  # noqa: E501
    src = entry_source(ctx, source)
    when = need(on, "--date", "Date the blood (or urine) was taken (YYYY-MM-DD)", date_parser("the date"))
    a = need(analyte, "--analyte", "Which test? (for example chromogranin A, CgA, gastrin, insulin)",
             lambda t: parse_analyte(t, "the test"))
    name = analyte_name(a)
    comparator, number = need(value, "--value", f"The {name} result, as a number (or '< 5' for a result below 5)",
                              lambda t: parse_lab_value(t, f"the {name} result"))
    amount = exact(number)
    units = need(unit, "--unit", f"Its unit ({', '.join(UNITS[a]) or 'as printed on the report'})",
                 lambda t: normalize_unit(a, t, f"the unit of {name}"))
    asking = interactive()
    if uln is None and asking:
        uln = ask(f"The laboratory's upper limit of normal for {name}, in {units}",
                  lambda t: parse_decimal(t, "the upper limit") and t, skippable=True)
    if assay is None and asking:
        assay = ask("The assay (test kit) named on the report", str.strip, skippable=True)
    if lab is None and asking:
        lab = ask("The laboratory", str.strip, skippable=True)
    r = dm.LabResult(
        date=when, analyte=a, analyte_other=analyte_other, comparator=comparator, value=amount, unit=units,
        lab=lab or "", assay=assay or "", specimen=specimen,
        upper_limit=exact(parse_decimal(uln, "--uln")) if uln else None,
        provenance=provenance(src, verified, notes),
    )
    _stored(confirmed(lambda yes: service().log_record(settings(ctx), patient, r, today=as_of(today),
                                                     allow_future=allow_future, confirm=yes), confirm))


def _ask_lesions(ctx: typer.Context, patient: str) -> list[dm.LesionMeasurement]:
    """Lesions asked one by one in plain words: the patient's known labels are offered, a size
    needs its unit (mm or cm), and an empty label ends the list."""
    _, recs = service().history(settings(ctx), patient)
    known: dict[str, dm.Site] = {}
    for r in recs:
        if isinstance(r.record, dm.ImagingStudy):
            known.update({x.lesion: x.site for x in r.record.lesions})
    out: list[dm.LesionMeasurement] = []
    while True:
        named = sorted({*known, *(x.lesion for x in out)})
        offer = f" (known: {', '.join(named)}; or a new label)" if named else " (for example P1)"
        label = ask(f"Another lesion{offer}? Its label, or Enter if there is none" if out else f"Lesion{offer}",
                    _another_label if out else _label, skippable=bool(out))
        if label is None:
            return out
        site = known.get(label) or ask(f"Where is {label}? ({', '.join(s.value.replace('_', ' ') for s in dm.Site)})",
                                       lambda t: choice(dm.Site)(t.strip().replace(" ", "_")))
        what = "short axis" if site in dm.NODE_SITES else "size (longest diameter)"
        size = ask(f"The {what} of {label}, with its unit (for example 14 mm or 1.4 cm)",
                   partial(_size, what=f"the size of {label}"))
        out.append(dm.LesionMeasurement(lesion=label, site=site, short_axis_mm=size)
                   if site in dm.NODE_SITES else dm.LesionMeasurement(lesion=label, site=site, longest_mm=size))
        if label in (x.lesion for x in out[:-1]):
            out.pop()
            typer.echo(f"  {label} is already on this scan", err=True)


#: answers to "Another lesion?" that end the list: a person answering the question, not naming a lesion
_NO_MORE = ("n", "no", "none", "done")


def _another_label(text: str) -> str | None:
    return None if text.strip().lower() in _NO_MORE else _label(text)


def _size(text: str, what: str) -> Any:
    return parse_size_mm(text, what, unit_required=True)


def _label(text: str) -> str:
    label = text.strip().upper()
    if not label or len(label) > 16:
        raise ValidationError("a lesion label is 1 to 16 characters, such as P1", "the lesion")
    return label


@log_app.command("scan")
def log_scan(
    ctx: typer.Context,
    patient: PatientArg,
    on: DateOpt = None,
    modality: Annotated[dm.Modality | None, typer.Option(
        "--modality", case_sensitive=False, help="CT, MRI, EUS, US, SSTR-PET, FDG-PET.")] = None,
    lesion: Annotated[list[str] | None, typer.Option(
        "--lesion",
        help="LABEL:SITE:SIZE[:new][:avid], e.g. P1:pancreas:1.4cm or N1:regional_node:11mm; repeat. "
             "A bare number is mm.")] = None,
    mpd: Annotated[str | None, typer.Option(
        "--mpd", help="Main pancreatic duct upstream of the tumour, e.g. 3mm.")] = None,
    cbd: Annotated[str | None, typer.Option("--cbd", help="Common bile duct diameter.")] = None,
    source: SourceOpt = None,
    verified: VerifiedOpt = False,
    notes: NotesOpt = "",
    allow_future: FutureOpt = False,
    confirm: ConfirmOpt = False,
    today: AsOfOption = None,
) -> None:
    """Log an imaging study with per-lesion sizes (cm is converted to mm) and duct diameters. In a
    terminal the lesions are asked one by one, each size with its unit.

    Example: tracker log scan SYN-GROWING --date 2026-03-02 --modality MRI --lesion P1:pancreas:1.4cm --mpd 2mm
    """
    from tracker.domain.units import MAX_DUCT_MM

    src = entry_source(ctx, source)
    when = need(on, "--date", "Date of the scan (YYYY-MM-DD)", date_parser("the date"))
    kind = need(modality.value if modality else None, "--modality",
                "Which scan? (CT, MRI, EUS, US, SSTR-PET, FDG-PET)", choice(dm.Modality))
    lesions = [parse_lesion_spec(x) for x in lesion or []]
    if not lesions and interactive():
        lesions = _ask_lesions(ctx, patient)
    r = dm.ImagingStudy(
        date=when, modality=kind, lesions=tuple(sorted(lesions, key=lambda x: x.lesion)),
        mpd_mm=parse_size_mm(mpd, "--mpd", max_mm=MAX_DUCT_MM) if mpd else None,
        cbd_mm=parse_size_mm(cbd, "--cbd", max_mm=MAX_DUCT_MM) if cbd else None,
        provenance=provenance(src, verified, notes),
    )
    _stored(confirmed(lambda yes: service().log_record(settings(ctx), patient, r, today=as_of(today),
                                                     allow_future=allow_future, confirm=yes), confirm))


@log_app.command("pathology")
def log_pathology(
    ctx: typer.Context,
    patient: PatientArg,
    on: DateOpt = None,
    ki67: Annotated[str | None, typer.Option("--ki67", help="Ki-67 index in %.")] = None,
    mitoses: Annotated[str | None, typer.Option("--mitoses", help="Mitoses per 2 mm².")] = None,
    grade: Annotated[dm.Grade | None, typer.Option("--grade", help="Derived per WHO 2019 when not given.")] = None,
    source: SourceOpt = None,
    verified: VerifiedOpt = False,
    notes: NotesOpt = "",
    allow_future: FutureOpt = False,
    today: AsOfOption = None,
) -> None:
    """Log a pathology report (Ki-67, mitotic count, grade).

    Example: tracker log pathology SYN-GROWING --date 2026-03-02 --ki67 2.5
    """
    asked = ki67 is not None or (mitoses is None and grade is None)  # something to grade by
    k = need(ki67, "--ki67", "Ki-67 %", lambda t: parse_decimal(t, "--ki67")) if asked else None
    mi = parse_decimal(mitoses, "--mitoses") if mitoses else None
    r = dm.Pathology(
        date=need(on, "--date", "Date of the pathology report (YYYY-MM-DD)", date_parser("the date")), ki67_pct=k,
        mitoses_per_2mm2=mi,
        grade=grade or who_grade(k, mi), provenance=provenance(entry_source(ctx, source), verified, notes),
    )
    _stored(service().log_record(settings(ctx), patient, r, today=as_of(today), allow_future=allow_future))
