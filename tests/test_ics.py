"""iCalendar export of schedules (tracker/ics.py) and calendar feeds (services/feeds.py)."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from icalendar import Calendar

from tests.conftest import EXAMPLES, Cli
from tests.factories import history, patient, scan, visit
from tracker.domain.model import DueItem, Flag, Severity
from tracker.domain.protocol import protocol_from_dict
from tracker.domain.schedule import compute_schedule, preview_schedule
from tracker.ics import calendar, item_uid, schedule_to_ics

PROTOCOL = protocol_from_dict(json.loads(
    (Path(__file__).resolve().parents[1] / "tracker" / "protocols" / "pnet-small-nf.json").read_text("utf-8")))
T1 = datetime(2025, 3, 1, 9, 0, tzinfo=timezone.utc)
T2 = datetime(2025, 8, 1, 9, 0, tzinfo=timezone.utc)
AS_OF = "2026-11-22"


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


def uids(due: list[DueItem]) -> dict[str, str]:
    """The UIDs of a schedule's items by item kind (one item of each kind in these schedules)."""
    return {i.kind.value: item_uid(i) for i in due}


def test_a_done_item_is_cancelled_and_its_next_occurrence_is_a_new_event() -> None:
    """Each occurrence is its own event (UID of patient, kind, what and the date it counts from):
    after the 6-month MRI and its visit are done, their events are cancelled under their old UIDs
    and the next MRI and visit are new events with SEQUENCE 0; the baseline lab, still missing,
    keeps its event and its SEQUENCE."""
    first = items(scan("2025-01-10"), as_of=date(2025, 3, 1))
    _, given = calendar(first, now=T1)
    later = items(scan("2025-01-10"), scan("2025-07-20"), visit("2025-07-20"), as_of=date(2025, 7, 21))
    text, now_given = calendar(later, {e.uid: e for e in given}, now=T2)
    old, new, was = uids(first), {e.uid: e for e in now_given}, {e.uid: e for e in given}
    for kind in ("imaging", "visit"):
        assert (new[old[kind]].status, new[old[kind]].sequence) == ("CANCELLED", 1)
        next_uid = uids(later)[kind]
        assert next_uid not in was
        assert (new[next_uid].dtstart, new[next_uid].sequence, new[next_uid].status) == (
            date(2026, 1, 20), 0, "CONFIRMED")
    assert {i.counts_from for i in later if i.kind.value != "lab"} == {date(2025, 7, 20)}
    assert uids(later)["lab"] == old["lab"] and new[old["lab"]] == was[old["lab"]]
    assert len(events(text)) == 5


def test_a_companion_moved_with_its_imaging_keeps_its_event() -> None:
    """The MRI done without the visit: the visit still counts from the protocol start, so it keeps
    its UID; it moved to the MRI's date, so its SEQUENCE goes up by one."""
    first = items(scan("2025-01-10"), as_of=date(2025, 3, 1))
    _, given = calendar(first, now=T1)
    later = items(scan("2025-01-10"), scan("2025-07-20"), as_of=date(2025, 7, 21))
    _, now_given = calendar(later, {e.uid: e for e in given}, now=T2)
    uid = uids(first)["visit"]
    assert uids(later)["visit"] == uid
    before, after = {e.uid: e for e in given}[uid], {e.uid: e for e in now_given}[uid]
    assert (before.dtstart, after.dtstart) == (date(2025, 7, 10), date(2025, 7, 20))
    assert (after.status, after.sequence, after.modified) == ("CONFIRMED", 1, T2)


def test_an_item_brought_forward_keeps_its_uid_and_raises_sequence() -> None:
    """A flag brings the MRI forward: it still counts from the last MRI, so it keeps its UID; its
    date changed, so its SEQUENCE goes up (its visit moves with it); the lab, unchanged, keeps its
    SEQUENCE and LAST-MODIFIED, and an export after that with nothing changed changes nothing."""
    records = (scan("2025-01-10"), scan("2025-07-10"), visit("2025-07-10"))
    first = items(*records, as_of=date(2025, 7, 11))
    _, given = calendar(first, now=T1)
    growth = Flag(rule_id="growth.relative", severity=Severity.WATCH, patient="SYN-001", date=date(2025, 8, 1),
                  message="m", evidence=("scan:2",), threshold=None, source="s", rule_version="t")
    later = compute_schedule(history(patient(), *records), PROTOCOL, [growth], as_of=date(2025, 8, 2))
    text, moved = calendar(later, {e.uid: e for e in given}, now=T2)
    imaging = next(i for i in later if i.kind.value == "imaging")
    assert (imaging.due_date, imaging.escalated_by, imaging.counts_from) == (
        date(2025, 11, 1), "growth.relative", date(2025, 7, 10))
    assert {e.uid for e in moved} == {e.uid for e in given}
    lab = item_uid(next(i for i in later if i.kind.value == "lab"))
    assert {(e.uid == lab, e.sequence, e.modified) for e in moved} == {(True, 0, T1), (False, 1, T2)}
    assert "LAST-MODIFIED:20250801T090000Z" in text
    _, still = calendar(later, {e.uid: e for e in moved}, now=T2 + (T2 - T1))
    assert still == moved


def test_description_has_reason_and_window_and_no_patient_data() -> None:
    """An event states its reason and window, and names the patient by label only."""
    evs = events(schedule_to_ics(items(scan("2025-01-10"), as_of=date(2025, 3, 1)), now=T1))
    (ev,) = [e for e in evs if "imaging" in e.get("categories").cats]
    text = str(ev["description"])
    assert "6 months after the protocol start 2025-01-10" in text
    assert "due soon from 2025-06-10, overdue after 2025-08-09" in text
    assert str(ev["summary"]).startswith("SYN-001: ") and "1965" not in ev.to_ical().decode()


def test_preview_events_have_distinct_uids() -> None:
    """A preview with several items of one kind still gives each event its own UID: each planned
    occurrence counts from the one before it, so none needs the "-n" of a repeated key."""
    preview = preview_schedule(PROTOCOL, date(2025, 1, 10), years=5)
    uids = [str(e["uid"]) for e in events(schedule_to_ics(preview, now=T1))]
    assert len(uids) == len(set(uids)) == len(preview)
    assert not [u for u in uids if "-" in u.split("@")[0]]


def test_the_same_export_again_keeps_sequence_and_last_modified() -> None:
    """SEQUENCE goes up only when an event changed: an export identical to the last one keeps
    every SEQUENCE and LAST-MODIFIED, so calendars see nothing new."""
    due = items(scan("2025-01-10"), as_of=date(2025, 3, 1))
    _, given = calendar(due, now=T1)
    text, again = calendar(due, {e.uid: e for e in given}, now=T2)
    assert again == given
    assert {e.decoded("last-modified") for e in events(text)} == {T1}


def test_an_item_no_longer_in_the_feed_is_cancelled_under_its_uid() -> None:
    """An event the feed had that is gone now (done, moved out of a worklist, left) is exported
    as STATUS:CANCELLED with the same UID and a higher SEQUENCE, once; then it stays as it is."""
    due = items(scan("2025-01-10"), as_of=date(2025, 3, 1))
    _, given = calendar(due, now=T1)
    imaging = next(i for i in due if i.kind.value == "imaging")
    rest = [i for i in due if i is not imaging]
    text, now_given = calendar(rest, {e.uid: e for e in given}, now=T2)
    (gone,) = [e for e in events(text) if str(e["uid"]) == item_uid(imaging)]
    assert str(gone["status"]) == "CANCELLED" and gone["sequence"] == 1
    assert {str(e["status"]) for e in events(text)} == {"CANCELLED", "CONFIRMED"}
    text2, _ = calendar(rest, {e.uid: e for e in now_given}, now=T2)
    (again,) = [e for e in events(text2) if str(e["uid"]) == item_uid(imaging)]
    assert str(again["status"]) == "CANCELLED" and again["sequence"] == 1


def test_an_overdue_item_says_overdue_in_its_summary() -> None:
    """An item past its window at the export is 'OVERDUE: …' in the calendar; one not yet due is not."""
    late = items(scan("2025-01-10"), as_of=date(2025, 9, 1))
    summaries = {str(e["summary"]) for e in events(schedule_to_ics(late, now=T1))}
    assert "OVERDUE: SYN-001: imaging (MRI preferred; CT or EUS accepted)" in summaries
    early = items(scan("2025-01-10"), as_of=date(2025, 3, 1))
    evs = events(schedule_to_ics(early, now=T1))
    assert {str(e["summary"]).startswith("OVERDUE: ") for e in evs} == {True, False}  # the baseline lab is late
    assert all(str(e["summary"]).startswith("OVERDUE: ") == ("Status at export: overdue" in str(e["description"]))
               for e in evs)


def test_the_worklist_calendar_cancels_a_done_item_and_keeps_the_rest(cli: Cli) -> None:
    """On SQLite and PostgreSQL: exporting the worklist calendar twice changes no SEQUENCE; after
    the overdue MRI is done, its event comes back CANCELLED under its UID, and the other patients'
    events keep their SEQUENCE; the next MRI, once within the worklist, is a new event."""
    for f in [*sorted(EXAMPLES.glob("syn-*.json")), EXAMPLES / "labs.csv"]:
        assert cli("import", str(f), "--as-of", AS_OF).exit_code == 0

    def export(*within: str) -> dict[str, Any]:
        r = cli("worklist", "--as-of", AS_OF, *within, "--format", "ics")
        assert r.exit_code == 0, r.output
        return {str(e["uid"]): e for e in events(r.stdout)}

    first, second = export(), export()
    assert {u: e["sequence"] for u, e in first.items()} == {u: e["sequence"] for u, e in second.items()}
    (mri,) = [u for u, e in first.items() if str(e["summary"]).startswith("OVERDUE: SYN-GROWING: imaging")]
    r = cli("log", "scan", "SYN-GROWING", "--date", "2026-11-20", "--modality", "MRI", "--lesion", "P1:pancreas:17mm")
    assert r.exit_code == 0, r.output
    third = export()
    assert str(third[mri]["status"]) == "CANCELLED" and third[mri]["sequence"] == first[mri]["sequence"] + 1
    others = [u for u, e in first.items() if "SYN-GROWING" not in str(e["summary"])]
    assert others and all(third[u]["sequence"] == first[u]["sequence"] for u in others)
    (nxt,) = [e for u, e in export("--within", "400").items()
              if str(e["summary"]).startswith("SYN-GROWING: imaging") and u not in first]
    assert (str(nxt["status"]), nxt["sequence"], nxt.decoded("dtstart")) == ("CONFIRMED", 0, date(2027, 2, 20))
