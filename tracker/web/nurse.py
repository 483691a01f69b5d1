"""Nurse pages: the worklist (filters, pages, acknowledge or snooze a flag from its row, CSV and
iCalendar export), a patient's clinical record (history, flags with their full explanation,
schedule, plots, audit trail; amend or void a record), and the import of a JSON or lab CSV file."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from tracker.errors import NeedsConfirmation, NotFoundError, ValidationError
from tracker.text import quoted
from tracker.web import forms

if TYPE_CHECKING:
    from tracker.web.app import Web

STATUSES = ("tumour_board", "overdue", "due", "due_soon", "not_due")
WITHIN_DAYS = (7, 30, 60, 90, 180, 365)
PAGE_ROWS = 50


def _filters(q: Mapping[str, str]) -> tuple[list[str] | None, int, int]:
    status = q.get("status", "")
    if status and status not in STATUSES:
        raise ValidationError(f"unknown status {quoted(status)}; use {', '.join(STATUSES)}", "status")
    try:
        within = int(q.get("within", "30"))
        page = int(q.get("page", "1"))
    except ValueError:
        raise ValidationError("'within' and 'page' are whole numbers", "within") from None
    if not 0 <= within <= 3660:
        raise ValidationError(f"give between 0 and 3660 days (ten years), not {within}", "within")
    return ([status] if status else None), within, max(page, 1)


def _rows(web: Web, statuses: list[str] | None, within: int) -> Sequence[dict[str, Any]]:
    from tracker.services.surveillance.worklist_cache import cached_worklist

    return cached_worklist(web.settings, as_of=web.today(), within_days=within, statuses=statuses)


def _worklist_page(web: Web, request: Request, q: Mapping[str, str], *, status: int = 200,
                   **extra: Any) -> Response:
    statuses, within, page = _filters(q)
    rows = _rows(web, statuses, within)
    pages = max(1, -(-len(rows) // PAGE_ROWS))
    page = min(page, pages)
    query = {"status": statuses[0] if statuses else "", "within": within}
    context: dict[str, Any] = {"done": "", "error": None, "error_key": None, "typed": {}, **extra}
    return web.page(request, "worklist.html", status=status, rows=rows[(page - 1) * PAGE_ROWS: page * PAGE_ROWS],
                    total=len(rows), page=page, pages=pages, statuses=STATUSES,
                    within_choices=sorted({*WITHIN_DAYS, within}), status_filter=query["status"], within=within,
                    query=urlencode({**query, "page": page}), **context)


async def worklist(web: Web, request: Request) -> Response:
    return _worklist_page(web, request, request.query_params, done=request.query_params.get("done", ""))


async def review(web: Web, request: Request) -> Response:
    """Acknowledge or snooze one flag from its worklist row, then back to the same worklist page."""
    label = request.path_params["label"]
    form = await request.form()
    back = QueryParams(str(form.get("back", "")))
    from_record = form.get("from") == "record"
    try:
        fv = forms.review_flag(web.settings, label, form, today=web.today())
    except ValidationError as exc:
        if from_record:
            return await _record_page(web, request, label, status=422, error=" ".join(m for _, m in exc.problems),
                                      error_key=str(form.get("key", "")))
        return _worklist_page(web, request, back, status=422, error=" ".join(m for _, m in exc.problems),
                              error_key=str(form.get("key", "")),
                              typed={"reason": form.get("reason", ""), "until": form.get("until", "")})
    done = f"{'Acknowledged' if form.get('action') == 'acknowledge' else 'Snoozed'} {fv.flag.rule_id} of {label}"
    if from_record:
        return RedirectResponse(f"/nurse/p/{label}?{urlencode({'done': done})}", status_code=303)
    return RedirectResponse(f"/nurse/worklist?{urlencode({**dict(back), 'done': done})}", status_code=303)


async def export(web: Web, request: Request) -> Response:
    """The worklist as the CLI exports it: CSV with every field, or iCalendar of the due items."""
    from tracker.domain.schedule import DUE_ITEM_FIELDS
    from tracker.jsonio.csvout import to_csv

    fmt = request.path_params["fmt"]
    if fmt not in ("csv", "ics"):
        raise NotFoundError(f"the worklist exports as csv or ics, not {quoted(fmt)}")
    statuses, within, _ = _filters(request.query_params)
    rows = _rows(web, statuses, within)
    stamp = web.today().isoformat()
    if fmt == "ics":
        from tracker.ics import schedule_to_ics

        return Response(schedule_to_ics([r["_item"] for r in rows if r["_item"] is not None]),
                        media_type="text/calendar",
                        headers={"content-disposition": f'attachment; filename="worklist-{stamp}.ics"'})
    from tracker.services.surveillance import WORKLIST_REVIEW_FIELDS

    return Response(to_csv(rows, [*DUE_ITEM_FIELDS, *WORKLIST_REVIEW_FIELDS]), media_type="text/csv",
                    headers={"content-disposition": f'attachment; filename="worklist-{stamp}.csv"'})


async def patient(web: Web, request: Request) -> Response:
    return await _record_page(web, request, request.path_params["label"], done=request.query_params.get("done", ""))


async def _record_page(web: Web, request: Request, label: str, *, status: int = 200, **extra: Any) -> Response:
    from tracker.services import records
    from tracker.services.surveillance import views

    v = views(web.settings, label, as_of=web.today())[0]
    p, recs = records.history(web.settings, label, include_voided=True)
    context: dict[str, Any] = {"done": "", "error": None, "error_key": None, **extra}
    return web.page(request, "nurse_patient.html", status=status, label=p.label, patient=p, view=v,
                    records=records.stored_rows(p, recs), audit=records.audit_trail(web.settings, label), **context)


async def amend(web: Web, request: Request) -> Response:
    """Amend or void one record of the patient named in the path (ids are global: a record of
    another patient is not found)."""
    from tracker.services.records import get_record

    label, kind, record_id = request.path_params["label"], request.path_params["kind"], request.path_params["id"]
    owner, stored = get_record(web.settings, label, _kind(kind), record_id)
    fields = forms.amendable_fields(stored.record)
    names = ["reason", *("f:" + k for k, _ in fields)]
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    other: list[str] = []
    asking = False
    if request.method == "POST":
        form = await request.form()
        values = dict(form.items())
        try:
            if form.get("do") == "void":
                forms.void(web.settings, owner.label, kind, record_id, form)
                done = f"Voided {kind} #{record_id}"
            else:
                forms.amend(web.settings, owner.label, kind, record_id, form, today=web.today())
                done = f"Amended {kind} #{record_id}"
        except ValidationError as exc:
            errors, other = forms.problems_by_field(exc, names)
        except NeedsConfirmation as exc:
            errors, other = forms.questions_by_field(exc, names)
            asking = True
        else:
            return RedirectResponse(f"/nurse/p/{owner.label}?{urlencode({'done': done})}", status_code=303)
    return web.page(request, "amend.html", status=422 if errors or other else 200, label=owner.label, kind=kind,
                    record_id=record_id, fields=fields, values=values, errors=errors, other_errors=other,
                    voided=stored.voided_reason, asking=asking)


async def verify(web: Web, request: Request) -> Response:
    """Mark one record verified from its row of the patient's record, with a reason."""
    label, kind, record_id = request.path_params["label"], request.path_params["kind"], request.path_params["id"]
    form = await request.form()
    try:
        forms.verify(web.settings, label, _kind(kind), record_id, form, today=web.today())
    except ValidationError as exc:
        return await _record_page(web, request, label, status=422, error=" ".join(m for _, m in exc.problems),
                                  error_key=f"{kind}:{record_id}")
    return RedirectResponse(f"/nurse/p/{label}?{urlencode({'done': f'Verified {kind} #{record_id}'})}",
                            status_code=303)


def _kind(kind: str) -> str:
    from tracker.jsonio.documents import LIST_KEYS

    if kind not in LIST_KEYS:
        raise NotFoundError(f"unknown record kind {quoted(kind)}; use visit, lab, scan or pathology")
    return kind


async def import_page(web: Web, request: Request) -> Response:
    from tracker.services.records import list_patients

    summary: Any = None
    problems: list[tuple[str, str]] = []
    name = ""
    patient = ""
    if request.method == "POST":
        async with request.form() as form:  # the upload's temporary file is closed after
            patient = str(form.get("patient", ""))
            upload = form.get("file")
            if upload is None or isinstance(upload, str) or not upload.filename:
                problems = [("file", "choose a JSON history or lab CSV file to import")]
            else:
                name = upload.filename
                data = await upload.read()
        if not problems:
            try:
                summary = forms.import_upload(web.settings, name, data, today=web.today(), patient=patient)
            except ValidationError as exc:
                problems = exc.problems
    return web.page(request, "import.html", status=422 if problems else 200, summary=summary, problems=problems,
                    name=name, patient=patient, labels=[p.label for p in list_patients(web.settings)],
                    reports=[(r, _scan_link(patient, r)) for r in getattr(summary, "reports", [])])


def _scan_link(label: str, report: Any) -> str:
    """The patient's scan form, filled in with the date and kind of scan of an imaging report."""
    query = {"date": report.date.isoformat() if report.date else "",
             "modality": report.modality.value if report.modality else ""}
    return f"/p/{label}/log/scan?{urlencode({k: v for k, v in query.items() if v})}"


ROUTES = [
    ("/nurse/worklist", worklist, ["GET"]),
    ("/nurse/worklist.{fmt:str}", export, ["GET"]),
    ("/nurse/review/{label}", review, ["POST"]),
    ("/nurse/p/{label}", patient, ["GET"]),
    ("/nurse/p/{label}/amend/{kind}/{id:int}", amend, ["GET", "POST"]),
    ("/nurse/p/{label}/verify/{kind}/{id:int}", verify, ["POST"]),
    ("/nurse/import", import_page, ["GET", "POST"]),
]
