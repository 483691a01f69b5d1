"""Worklist rows: open action flags (for the tumour board) merged with due items, most urgent first."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from tracker.domain.model import DueStatus, Severity
from tracker.domain.schedule import OVERDUE_RULE
from tracker.services import no_cycle_collection
from tracker.services.surveillance.evaluation import FlagView, PatientView

#: Urgency of worklist rows: tumour-board flags first, then overdue, due, due soon, not due.
_URGENCY = {"tumour_board": 0, **{s.value: 1 + s.rank for s in DueStatus}}


@no_cycle_collection()
def worklist_rows(all_views: Sequence[PatientView], *, as_of: date, within_days: int,
                  statuses: Sequence[str] | None) -> list[dict[str, Any]]:
    """Open action flags (for the tumour board) merged with due items, most urgent first."""
    horizon = as_of + timedelta(days=within_days)
    return ordered([row for v in all_views for row in patient_rows(v, horizon)], statuses)


def patient_rows(v: PatientView, horizon: date) -> list[dict[str, Any]]:
    """One patient's worklist rows: their open action flags, and their items not closed and due
    by `horizon` (or already in their window)."""
    rows: list[dict[str, Any]] = []
    for fv in v.flags:
        if fv.flag.severity is Severity.ACTION:
            rows.append({"patient": v.label, "status": "tumour_board", "kind": "flag", "what": fv.flag.rule_id,
                         "due_date": fv.flag.date.isoformat(), "window_start": None, "window_end": None,
                         "reason": fv.flag.message, "escalated_by": None, "counts_from": None, **_row_review(fv),
                         "_item": None})
    overdue = {fv.flag.evidence[0]: fv for fv in [*v.flags, *v.snoozed]
               if fv.flag.rule_id == OVERDUE_RULE and fv.flag.evidence}
    for it in v.schedule:
        if it.status is DueStatus.CLOSED or (it.due_date > horizon and it.status is DueStatus.NOT_DUE):
            continue
        late = overdue.get(f"due:{it.kind.value}/{it.what}@{it.due_date}")
        rows.append({**it.to_json(), **_row_review(late), "_item": it})
    return rows


def ordered(rows: list[dict[str, Any]], statuses: Sequence[str] | None) -> list[dict[str, Any]]:
    """The rows of these statuses (all when none are given), most urgent first."""
    if statuses:
        rows = [r for r in rows if r["status"] in statuses]
    rows.sort(key=lambda r: (_URGENCY[r["status"]], r["due_date"], r["patient"], r["kind"], r["what"]))
    return rows


#: What a worklist row says about its flag (the tumour-board flag, or an overdue item's
#: `schedule.overdue` flag): all null for an item that has none.
WORKLIST_REVIEW_FIELDS = ("handle", "key", "new", "acknowledged", "acknowledged_by", "acknowledged_at",
                          "snoozed_until")


def _row_review(fv: FlagView | None) -> dict[str, Any]:
    if fv is None:
        return dict.fromkeys(WORKLIST_REVIEW_FIELDS)
    return {"handle": fv.handle, "key": fv.flag.key, **fv.review_json()}
