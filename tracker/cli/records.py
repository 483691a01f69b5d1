"""Commands for patients and their records: patient add|list|show|edit|leave, log visit|lab|scan|pathology,
history, amend, void, audit."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from functools import partial
from typing import Annotated, Any, TypeVar

import typer

from tracker.cli.app import app
from tracker.cli.common import (
    AsOfOption,
    Format,
    FormatOption,
    as_of,
    ask,
    choice,
    emit,
    interactive,
    need,
    note,
    parse_date,
    settings,
    yes_no,
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
from tracker.errors import NeedsConfirmation, ValidationError
from tracker.jsonio.documents import LIST_KEYS, exact
from tracker.text import quoted

patient_app = typer.Typer(no_args_is_help=True, help="Add, list, show, edit patients; record leaving surveillance.")
log_app = typer.Typer(no_args_is_help=True, help="Log a visit, lab result, scan or pathology report.")
app.add_typer(patient_app, name="patient")
app.add_typer(log_app, name="log")

PatientArg = Annotated[str, typer.Argument(help="Patient label (or internal id).")]
SourceOpt = Annotated[dm.Source | None, typer.Option(
    "--source", case_sensitive=False,
    help="Who reports the value: patient, clinician or import. Default: the TRACKER_SOURCE setting; else asked "
         "in a terminal; else clinician.")]
VerifiedOpt = Annotated[bool, typer.Option("--verified/--unverified", help="Checked against the source document.")]
NotesOpt = Annotated[str, typer.Option("--notes", help="Free-text notes.")]
FutureOpt = Annotated[bool, typer.Option("--allow-future", help="Accept a date after today (planned entries).")]
ConfirmOpt = Annotated[bool, typer.Option(
    "--confirm", help="The value is right although it looks like an entry error (stored verified).")]
DateOpt = Annotated[str | None, typer.Option("--date", help="Date (YYYY-MM-DD).")]

PATIENT_COLUMNS = ["id", "label", "birth_year", "sex", "setting", "syndrome", "protocol", "protocol_start",
                   "left_on", "leave_reason"]


def _svc() -> Any:
    """The service module, imported on first use so that `--help` stays fast."""
    from tracker.services import records

    return records


def _patient_row(p: dm.Patient) -> dict[str, Any]:
    return {"id": p.id, "label": p.label, "birth_year": p.birth_year, "sex": p.sex.value, "setting": p.setting.value,
            "syndrome": p.syndrome.value, "protocol": p.protocol_id, "protocol_start": p.protocol_start.isoformat(),
            "left_on": p.left_on.isoformat() if p.left_on else None,
            "leave_reason": p.leave_reason.value if p.leave_reason else None,
            "diagnosis_date": p.diagnosis_date.isoformat(), "primary_resected": p.primary_resected,
            "t_stage": p.t_stage}


def _prov(source: dm.Source, verified: bool, notes: str) -> dm.Provenance:
    return dm.Provenance(source=source, verified=verified, notes=notes)


def _source(ctx: typer.Context, given: dm.Source | None) -> dm.Source:
    """Who enters this command's values, decided once per command: --source, then the
    TRACKER_SOURCE setting, then (in a terminal) the person's answer, else clinician (scripts)."""
    if given is not None:
        return given
    setting = settings(ctx).source
    if setting:
        return choice(dm.Source)(setting) if setting in {s.value for s in dm.Source} else _bad_setting(setting)
    if interactive():
        return ask("Who is entering this: the patient or a clinician? (patient, clinician)",
                   lambda t: choice(dm.Source)(t.strip().removeprefix("a ").removeprefix("the ")))
    return dm.Source.CLINICIAN


def _bad_setting(value: str) -> dm.Source:
    raise ValidationError(f"{quoted(value)} is not patient, clinician or import; fix TRACKER_SOURCE", "TRACKER_SOURCE")


# ------------------------------------------------------------------ patient


@patient_app.command("add")
def patient_add(
    ctx: typer.Context,
    label: Annotated[str, typer.Argument(help="A short label you pick (no real name needed), e.g. P-014.")],
    birth_year: Annotated[int | None, typer.Option("--birth-year", help="Year of birth.")] = None,
    sex: Annotated[dm.Sex | None, typer.Option("--sex")] = None,
    diagnosis: Annotated[str | None, typer.Option("--diagnosis-date", help="Date of diagnosis.")] = None,
    setting: Annotated[dm.Setting | None, typer.Option("--setting", help="Tumour setting.")] = None,
    protocol: Annotated[str | None, typer.Option("--protocol", help="Protocol id (tracker protocol list).")] = None,
    start: Annotated[str | None, typer.Option("--start", help="Protocol start = baseline imaging date.")] = None,
    syndrome: Annotated[dm.Syndrome, typer.Option("--syndrome", help="Hereditary syndrome.")] = dm.Syndrome.NONE,
    resected: Annotated[bool, typer.Option("--primary-resected/--primary-in-place")] = False,
    t_stage: Annotated[str | None, typer.Option("--t-stage", help="T1..T4 if known.")] = None,
    source: SourceOpt = None,
    verified: VerifiedOpt = False,
    notes: NotesOpt = "",
    today: AsOfOption = None,
) -> None:
    """Add a patient. Asks for what is missing when run in a terminal.

    Example: tracker patient add P-014 --birth-year 1961 --sex female --diagnosis-date 2025-03-01
    --setting small_nf --protocol pnet-small-nf --start 2025-03-10
    """
    src = _source(ctx, source)
    setting_v = need(setting.value if setting else None, "--setting", "Setting (small_nf, functioning, metastatic)",
                     choice(dm.Setting))
    default_protocol = "pnet-metastatic-ww" if setting_v is dm.Setting.METASTATIC else "pnet-small-nf"
    p = dm.Patient(
        label=label,
        birth_year=need(birth_year, "--birth-year", "Birth year", int),
        sex=need(sex.value if sex else None, "--sex", "Sex (female, male, other, unknown)", choice(dm.Sex)),
        diagnosis_date=need(diagnosis, "--diagnosis-date", "Date of diagnosis (YYYY-MM-DD)",
                            _date("the diagnosis date")),
        setting=setting_v,
        protocol_id=protocol or default_protocol,
        protocol_start=need(start, "--start", "Protocol start, the baseline imaging date (YYYY-MM-DD)",
                            _date("the protocol start")),
        syndrome=syndrome, primary_resected=resected, t_stage=t_stage.upper() if t_stage else None,
        provenance=_prov(src, verified, notes),
    )
    stored = _svc().add_patient(settings(ctx), p, today=as_of(today))
    typer.echo(stored.label)
    note(f"Added patient {stored.label} (#{stored.id}) on {stored.protocol_id} from {stored.protocol_start}.")


def _date(option: str) -> Any:
    return lambda text: parse_date(text, option)


@patient_app.command("list")
def patient_list(ctx: typer.Context, fmt: FormatOption = Format.table) -> None:
    """List patients.

    Example: tracker patient list --format csv
    """
    rows = [_patient_row(p) for p in _svc().list_patients(settings(ctx))]
    emit(rows, PATIENT_COLUMNS, fmt, empty="no patients yet; add one with `tracker patient add` or run `tracker demo`")


@patient_app.command("show")
def patient_show(ctx: typer.Context, patient: PatientArg, fmt: FormatOption = Format.table) -> None:
    """Show one patient's details.

    Example: tracker patient show SYN-GROWING
    """
    p = _svc().get_patient(settings(ctx), patient)
    row = _patient_row(p)
    if fmt is Format.table:
        for k, v in row.items():
            typer.echo(f"{k:16} {'' if v is None else v}")
        return
    emit([row], list(row), fmt)


@patient_app.command("edit")
def patient_edit(
    ctx: typer.Context,
    patient: PatientArg,
    sets: Annotated[list[str], typer.Option("--set", help="FIELD=VALUE; repeat. Fields as in `patient show`.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit trail).")],
    today: AsOfOption = None,
) -> None:
    """Amend patient details; the audit trail keeps the values before and after.
    A protocol change applies from its new start date.

    Example: tracker patient edit SYN-GROWING --set protocol.id=pnet-metastatic-ww --set protocol.start=2026-02-01
    --reason "liver metastases found"
    """
    after, changed = _svc().edit_patient_fields(settings(ctx), patient, sets, reason=reason, today=as_of(today))
    note(f"Amended patient {after.label}: {', '.join(changed) or 'nothing'}.")


@patient_app.command("leave")
def patient_leave(
    ctx: typer.Context,
    patient: PatientArg,
    reason: Annotated[dm.LeaveReason, typer.Option("--reason", help="Why the patient left surveillance.")],
    on: DateOpt = None,
    notes: NotesOpt = "",
    today: AsOfOption = None,
) -> None:
    """Record that a patient left surveillance (treatment, patient choice, death, lost to follow-up).
    From that date nothing falls due and no current flags are shown.

    Example: tracker patient leave SYN-STABLE --date 2026-03-01 --reason treatment
    """
    when = need(on, "--date", "Date of leaving (YYYY-MM-DD)", _date("the date"))
    p = _svc().leave_surveillance(settings(ctx), patient, when, reason, note=notes, today=as_of(today))
    note(f"Patient {p.label} left surveillance on {when} ({reason.value}).")


# ------------------------------------------------------------------ log


def _stored(r: dm.Record) -> None:
    typer.echo(f"{dm.kind_of(r)} {r.id}")
    note(f"Logged {dm.kind_of(r)} #{r.id} of {r.date}.")


T = TypeVar("T")


def _confirmed(write: Callable[[bool], T], confirm: bool) -> T:
    """`write(confirm)`; when a value looks like an entry error, a terminal asks each question
    (default no) and writes it confirmed on yes; a script gets the questions and --confirm."""
    try:
        return write(confirm)
    except NeedsConfirmation as exc:
        if not interactive():
            raise
        for _, question in exc.questions:
            if not typer.confirm(question, default=False, err=True):
                note("Nothing was written; enter the value again as it should be.")
                raise typer.Exit(1) from None
        return write(True)


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
    src = _source(ctx, source)
    when = need(on, "--date", "Date of the visit (YYYY-MM-DD)", _date("the date"))
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
        wants_to_leave=wants_to_leave, provenance=_prov(src, verified, notes),
    )
    _stored(_svc().log_record(settings(ctx), patient, r, today=as_of(today), allow_future=allow_future))


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
    src = _source(ctx, source)
    when = need(on, "--date", "Date the blood (or urine) was taken (YYYY-MM-DD)", _date("the date"))
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
        provenance=_prov(src, verified, notes),
    )
    _stored(_confirmed(lambda yes: _svc().log_record(settings(ctx), patient, r, today=as_of(today),
                                                     allow_future=allow_future, confirm=yes), confirm))


def _ask_lesions(ctx: typer.Context, patient: str) -> list[dm.LesionMeasurement]:
    """Lesions asked one by one in plain words: the patient's known labels are offered, a size
    needs its unit (mm or cm), and an empty label ends the list."""
    _, recs = _svc().history(settings(ctx), patient)
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

    src = _source(ctx, source)
    when = need(on, "--date", "Date of the scan (YYYY-MM-DD)", _date("the date"))
    kind = need(modality.value if modality else None, "--modality",
                "Which scan? (CT, MRI, EUS, US, SSTR-PET, FDG-PET)", choice(dm.Modality))
    lesions = [parse_lesion_spec(x) for x in lesion or []]
    if not lesions and interactive():
        lesions = _ask_lesions(ctx, patient)
    r = dm.ImagingStudy(
        date=when, modality=kind, lesions=tuple(sorted(lesions, key=lambda x: x.lesion)),
        mpd_mm=parse_size_mm(mpd, "--mpd", max_mm=MAX_DUCT_MM) if mpd else None,
        cbd_mm=parse_size_mm(cbd, "--cbd", max_mm=MAX_DUCT_MM) if cbd else None,
        provenance=_prov(src, verified, notes),
    )
    _stored(_confirmed(lambda yes: _svc().log_record(settings(ctx), patient, r, today=as_of(today),
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
        date=need(on, "--date", "Date of the pathology report (YYYY-MM-DD)", _date("the date")), ki67_pct=k,
        mitoses_per_2mm2=mi,
        grade=grade or who_grade(k, mi), provenance=_prov(_source(ctx, source), verified, notes),
    )
    _stored(_svc().log_record(settings(ctx), patient, r, today=as_of(today), allow_future=allow_future))


# ------------------------------------------------------------------ history, amend, void, audit

KindArg = Annotated[str, typer.Argument(help="visit, lab, scan or pathology.")]
IdArg = Annotated[int, typer.Argument(help="Record id (see tracker history).")]


def _kind(kind: str) -> str:
    if kind not in LIST_KEYS:
        raise ValidationError(f"unknown record kind {quoted(kind)}; use visit, lab, scan or pathology", "KIND")
    return kind


@app.command("history")
def history(
    ctx: typer.Context,
    patient: PatientArg,
    voided: Annotated[bool, typer.Option("--voided", help="Include voided records.")] = False,
    fmt: FormatOption = Format.table,
) -> None:
    """A patient's records in date order, with their ids (for amend and void).

    Example: tracker history SYN-GROWING --format json
    """
    p, recs = _svc().history(settings(ctx), patient, include_voided=voided)
    cols = ["kind", "id", "date", "summary", "source", "verified"] + (["voided_reason"] if voided else [])
    emit(_svc().stored_rows(p, recs), cols, fmt, empty=f"no records for {p.label} yet")


YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before writing (for scripts).")]


def _go_ahead(question: str, yes: bool) -> None:
    """In a terminal, ask before a correction is written (unless --yes); scripts go ahead."""
    if yes or not interactive():
        return
    if not typer.confirm(question, default=False, err=True):
        note("Nothing was written.")
        raise typer.Exit(1)


def _record_line(kind: str, r: dm.Record, owner: dm.Patient) -> str:
    return f"{kind} #{r.id} of {owner.label}, {r.date.isoformat()}: {_svc().summarize(r)}"


@app.command("amend")
def amend(
    ctx: typer.Context,
    patient: PatientArg,
    kind: KindArg,
    record_id: IdArg,
    sets: Annotated[list[str], typer.Option(
        "--set", help="FIELD=VALUE; repeat. lesions.P1.longest_mm=15 for a lesion.")],
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit trail).")],
    yes: YesOpt = False,
    allow_future: FutureOpt = False,
    confirm: ConfirmOpt = False,
    today: AsOfOption = None,
) -> None:
    """Correct a record of a patient. The old values stay in the audit trail; nothing is
    overwritten silently. In a terminal it shows the record and asks first.

    Example: tracker amend SYN-GROWING scan 3 --set lesions.P1.longest_mm=15 --reason "radiology addendum"
    """
    st = settings(ctx)
    when = as_of(today)
    owner, old, changes = _svc().preview_amend(st, patient, _kind(kind), record_id, sets)
    _go_ahead(f"{_record_line(kind, old, owner)}\nChange {changes or 'nothing'}?", yes)
    _confirmed(lambda sure: _svc().amend_fields(st, patient, kind, record_id, sets, reason=reason, today=when,
                                                allow_future=allow_future, confirm=sure), confirm)
    note(f"Amended {kind} #{record_id} of {owner.label} ({old.date.isoformat()}).")


@app.command("void")
def void(
    ctx: typer.Context,
    patient: PatientArg,
    kind: KindArg,
    record_id: IdArg,
    reason: Annotated[str, typer.Option("--reason", help="Why (kept in the audit trail).")],
    yes: YesOpt = False,
) -> None:
    """Void a record of a patient entered in error. It is never deleted: history --voided and the
    audit show it. In a terminal it shows the record and asks first.

    Example: tracker void SYN-GROWING lab 2 --reason "entered for the wrong patient"
    """
    st = settings(ctx)
    owner, old = _svc().get_record(st, patient, _kind(kind), record_id)
    _go_ahead(f"{_record_line(kind, old.record, owner)}\nVoid it?", yes)
    _svc().void_record(st, patient, kind, record_id, reason=reason)
    note(f"Voided {kind} #{record_id} of {owner.label} ({old.record.date.isoformat()}).")


@app.command("verify")
def verify(
    ctx: typer.Context,
    patient: PatientArg,
    kind: KindArg,
    record_id: IdArg,
    reason: Annotated[str, typer.Option("--reason", help="What it was checked against (audit trail).")] =
    "checked against the source document",
    yes: YesOpt = False,
    today: AsOfOption = None,
) -> None:
    """Mark a record of a patient verified: checked against its source document (the report, the
    lab print-out). An entry that looked implausible stops being flagged. Audited as an amendment.

    Example: tracker verify SYN-STABLE lab 11 --reason "lab print-out of 2024-03-18" --yes
    """
    st = settings(ctx)
    owner, old = _svc().get_record(st, patient, _kind(kind), record_id)
    _go_ahead(f"{_record_line(kind, old.record, owner)}\nMark it verified?", yes)
    _svc().verify_record(st, patient, kind, record_id, reason=reason, today=as_of(today))
    note(f"Verified {kind} #{record_id} of {owner.label} ({old.record.date.isoformat()}).")


@app.command("audit")
def audit(
    ctx: typer.Context,
    patient: Annotated[str | None, typer.Argument(help="Patient label; all when left out.")] = None,
    fmt: FormatOption = Format.table,
) -> None:
    """The audit trail: who changed what, when (UTC), with the values before and after.

    Example: tracker audit SYN-GROWING --format json
    """
    rows = _svc().audit_trail(settings(ctx), patient)
    cols = ["id", "at", "user", "action", "entity", "entity_id", "reason", "changes"]
    emit(rows, cols + (["before", "after"] if fmt is not Format.table else []), fmt, empty="no changes recorded")
