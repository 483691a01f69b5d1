"""iCalendar export of schedules (tracker/calendar.py)."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path

from icalendar import Calendar

from tests.factories import history, patient, scan
from tracker.calendar import schedule_to_ics
from tracker.domain.model import DueItem
from tracker.domain.protocol import protocol_from_dict
from tracker.domain.schedule import compute_schedule, preview_schedule

PROTOCOL = protocol_from_dict(json.loads(
    (Path(__file__).resolve().parents[1] / "tracker" / "protocols" / "pnet-small-nf.json").read_text("utf-8")))
T1 = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)
T2 = datetime(2025, 8, 1, 9, 0, tzinfo=timezone.utc)


def events(ics: str) -> list:
    return [c for c in Calendar.from_ical(ics).walk() if c.name == "VEVENT"]


def items(*records: object, as_of: date) -> list[DueItem]:
    return compute_schedule(history(patient(), *records), PROTOCOL, [], as_of=as_of)


def test_one_all_day_event_per_item_on_due_date() -> None:
    """Each due item becomes one all-day event on its due date."""
    due = items(scan("2025-01-10"), as_of=date(2025, 3, 1))
    evs = events(schedule_to_ics(due, now=T1))
    assert len(evs) == len(due) == 3
    assert sorted(i.due_date for i in due) == sorted(e.decoded("dtstart") for e in evs)
    assert all(type(e.decoded("dtstart")) is date for e in evs)


def test_uids_stable_when_due_dates_move() -> None:
    """Re-exporting after the due dates moved keeps the UIDs and raises SEQUENCE, so events update."""
    first = items(scan("2025-01-10"), as_of=date(2025, 3, 1))
    second = items(scan("2025-01-10"), scan("2025-07-20"), as_of=date(2025, 7, 21))
    e1 = {str(e["uid"]): e for e in events(schedule_to_ics(first, now=T1))}
    e2 = {str(e["uid"]): e for e in events(schedule_to_ics(second, now=T2))}
    imaging = {i.kind.value: i.due_date for i in second}["imaging"]
    assert set(e1) == set(e2) and len(e2) == 3
    assert imaging in {e.decoded("dtstart") for e in e2.values()}
    assert all(e2[u]["sequence"] > e1[u]["sequence"] for u in e2)
    assert {e.decoded("dtstart") for e in e1.values()} != {e.decoded("dtstart") for e in e2.values()}


def test_description_has_reason_and_window_and_no_patient_data() -> None:
    """An event states its reason and window, and names the patient by label only."""
    evs = events(schedule_to_ics(items(scan("2025-01-10"), as_of=date(2025, 3, 1)), now=T1))
    (ev,) = [e for e in evs if "imaging" in e.get("categories").cats]
    text = str(ev["description"])
    assert "6 months after the protocol start 2025-01-10" in text
    assert "due soon from 2025-06-10, overdue after 2025-08-09" in text
    assert str(ev["summary"]).startswith("SYN-001: ") and "1965" not in ev.to_ical().decode()


def test_preview_events_have_distinct_uids() -> None:
    """A preview with several items of one kind still gives each event its own UID."""
    preview = preview_schedule(PROTOCOL, date(2025, 1, 10), years=5)
    uids = [str(e["uid"]) for e in events(schedule_to_ics(preview, now=T1))]
    assert len(uids) == len(set(uids)) == len(preview)
