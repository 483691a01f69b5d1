"""Patient pages, in plain words: home (next appointments, what the team should discuss, latest
values), the log forms (blood result, scan, visit), the confirmation of what was stored, and the
trends (size, marker and timeline plots as SVG, the one-page report as PDF)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from tracker.domain import model as dm
from tracker.domain.units import UNITS, analyte_name
from tracker.errors import NeedsConfirmation, NotFoundError, ValidationError
from tracker.text import quoted
from tracker.web import forms, words

if TYPE_CHECKING:
    from tracker.services.surveillance import PatientView
    from tracker.web.app import Web

#: the analytes offered first on the blood test form (the rest follow)
COMMON_ANALYTES = (dm.Analyte.CHROMOGRANIN_A, dm.Analyte.PANCREATIC_POLYPEPTIDE, dm.Analyte.GASTRIN,
                   dm.Analyte.INSULIN, dm.Analyte.GLUCOSE, dm.Analyte.BILIRUBIN)
PLOT_KINDS = ("size", "markers", "timeline")


def view(web: Web, label: str, *, record: bool = False) -> PatientView:
    """One patient as of today (flags marked seen only when `record`)."""
    from tracker.services.surveillance import views

    return views(web.settings, label, as_of=web.today(), record=record)[0]


def latest_values(h: dm.PatientHistory) -> list[tuple[str, str, str]]:
    """(what, value, date) of the latest result of each analyte, each lesion and the weight."""
    out: list[tuple[str, str, str]] = []
    if h.scans:
        latest: dict[str, tuple[dm.ImagingStudy, dm.LesionMeasurement]] = {}
        for s in h.scans:
            for x in s.lesions:
                if x.longest_mm is not None or x.short_axis_mm is not None:
                    latest[x.lesion] = (s, x)
        for name, (s, x) in sorted(latest.items()):
            size = x.longest_mm if x.longest_mm is not None else x.short_axis_mm
            out.append((f"Size of {name} ({x.site.value.replace('_', ' ')}, {s.modality.value})", f"{size} mm",
                        s.date.isoformat()))
    labs: dict[str, dm.LabResult] = {}
    for r in h.labs:
        labs[r.series_name] = r
    for r in sorted(labs.values(), key=lambda r: r.series_name):
        uln = f" (normal up to {r.upper_limit} {r.unit})" if r.upper_limit is not None else ""
        out.append((analyte_name(r.analyte, r.analyte_other), f"{r.value} {r.unit}{uln}", r.date.isoformat()))
    weights = [v for v in h.visits if v.weight_kg is not None]
    if weights:
        out.append(("Weight", f"{weights[-1].weight_kg} kg", weights[-1].date.isoformat()))
    return out


async def home(web: Web, request: Request) -> Response:
    label = request.path_params["label"]
    v = view(web, label)
    items = [it for it in v.schedule if it.status is not dm.DueStatus.CLOSED]
    discuss = [fv.flag for fv in v.flags if fv.flag.severity in (dm.Severity.ACTION, dm.Severity.WATCH)
               and fv.flag.rule_id != "schedule.overdue"]
    groups = _grouped(discuss, v)
    return web.page(request, "home.html", label=v.label, patient=v.patient, items=items,
                    discuss=[g for g in groups if g[1][0].severity is dm.Severity.ACTION],
                    watch=[g for g in groups if g[1][0].severity is not dm.Severity.ACTION],
                    values=latest_values(v.history))


def _grouped(flags: list[dm.Flag], v: PatientView) -> list[tuple[str, list[dm.Flag]]]:
    """One plain sentence per thing to discuss, with the clinical wording of every flag behind it:
    growth over the nadir in mm, in % and as a rate read the same to a patient, so they are one
    sentence, said where the most urgent of them is (an action flag's: for the team to discuss)."""
    out: dict[str, list[dm.Flag]] = {}
    for f in sorted(flags, key=lambda f: f.severity is not dm.Severity.ACTION):
        out.setdefault(words.flag(f, v.history), []).append(f)
    return list(out.items())


LOG_FORMS = {"lab": ("log_lab.html", forms.log_lab), "scan": ("log_scan.html", forms.log_scan),
             "visit": ("log_visit.html", forms.log_visit)}


def _form_context(kind: str) -> dict[str, Any]:
    if kind == "lab":
        rest = [a for a in dm.Analyte if a not in COMMON_ANALYTES and a is not dm.Analyte.OTHER]
        return {"analytes": [(a.value, analyte_name(a)) for a in (*COMMON_ANALYTES, *rest)],
                "units": {a.value: UNITS[a] for a in dm.Analyte}}
    if kind == "scan":
        return {"modalities": [m.value for m in dm.Modality], "sites": [s.value for s in dm.Site],
                "rows": range(forms.LESION_ROWS)}
    return {"symptoms": list(words.SYMPTOMS.items())}


async def log(web: Web, request: Request) -> Response:
    label, kind = request.path_params["label"], request.path_params["kind"]
    if kind not in LOG_FORMS:
        raise NotFoundError(f"there is no {quoted(kind)} form; log a lab, scan or visit")
    template, submit = LOG_FORMS[kind]
    from tracker.services.records import get_patient

    p = get_patient(web.settings, label)
    values: dict[str, Any] = {"date": request.query_params.get("date") or web.today().isoformat()}
    if kind == "scan" and request.query_params.get("modality"):  # from an imaging report to enter by hand
        values["modality"] = request.query_params["modality"]
    errors: dict[str, list[str]] = {}
    other: list[str] = []
    asking = False
    if request.method == "POST":
        form = await request.form()
        values = {k: form.getlist(k) if k == "symptom" else v for k, v in form.multi_items()}
        values.pop(forms.CONFIRM_FIELD, None)  # a changed entry is asked about again
        try:
            stored = submit(web.settings, p.label, form, today=web.today())
        except ValidationError as exc:
            errors, other = forms.problems_by_field(exc, _fields(kind))
        except NeedsConfirmation as exc:
            errors, other = forms.questions_by_field(exc, _fields(kind))
            asking = True
        else:
            return RedirectResponse(f"/p/{p.label}/saved/{dm.kind_of(stored)}/{stored.id}", status_code=303)
    return web.page(request, template, status=422 if errors or other else 200, label=p.label, values=values,
                    errors=errors, other_errors=other, asking=asking, **_form_context(kind))


def _fields(kind: str) -> list[str]:
    if kind == "lab":
        return ["date", "analyte", "value", "unit", "uln", "lab", "assay"]
    if kind == "scan":
        return ["date", "modality", *[f"{f}{i}" for i in range(forms.LESION_ROWS)
                                      for f in ("lesion", "site", "size", "unit")]]
    return ["date", "symptom", "other", "weight", "ppi"]


async def saved(web: Web, request: Request) -> Response:
    from tracker.services.records import get_record

    label, kind = request.path_params["label"], request.path_params["kind"]
    if kind not in LOG_FORMS:
        raise NotFoundError(f"there is no {quoted(kind)} record kind; use lab, scan or visit")
    owner, stored = get_record(web.settings, label, kind, int(request.path_params["id"]))
    return web.page(request, "saved.html", label=owner.label, text=words.record(stored.record), kind=kind,
                    verified=stored.record.provenance.verified)


async def trends(web: Web, request: Request) -> Response:
    v = view(web, request.path_params["label"])
    return web.page(request, "trends.html", label=v.label, kinds=PLOT_KINDS,
                    has={"size": bool(v.history.scans), "markers": bool(v.history.labs), "timeline": True})


async def plot(web: Web, request: Request) -> Response:
    """A plot as SVG, drawn by the plot service into a private temporary file."""
    from tracker.services.plots import plot_patient

    label, kind = request.path_params["label"], request.path_params["kind"]
    if kind not in PLOT_KINDS:
        raise NotFoundError(f"there is no {quoted(kind)} plot; use size, markers or timeline")
    with tempfile.TemporaryDirectory(prefix="tracker-web-") as folder:
        path = plot_patient(web.settings, label, kind, Path(folder) / f"{kind}.svg", as_of=web.today(),
                            phone=request.query_params.get("fit") == "phone")
        data = path.read_bytes()
    # an SVG shown as an image runs no script; its own <style> must apply
    return Response(data, media_type="image/svg+xml",
                    headers={"content-security-policy": "default-src 'none'; style-src 'unsafe-inline'"})


async def report(web: Web, request: Request) -> Response:
    from tracker.services.plots import write_report

    label = request.path_params["label"]
    with tempfile.TemporaryDirectory(prefix="tracker-web-") as folder:
        path = write_report(web.settings, label, Path(folder) / "report.pdf", as_of=web.today())
        data = path.read_bytes()
    return Response(data, media_type="application/pdf",
                    headers={"content-disposition": f'inline; filename="{label}-report-{web.today()}.pdf"'})


ROUTES = [
    ("/p/{label}", home, ["GET"]),
    ("/p/{label}/log/{kind}", log, ["GET", "POST"]),
    ("/p/{label}/saved/{kind}/{id:int}", saved, ["GET"]),
    ("/p/{label}/trends", trends, ["GET"]),
    ("/p/{label}/plot/{kind}.svg", plot, ["GET"]),
    ("/p/{label}/report.pdf", report, ["GET"]),
]
