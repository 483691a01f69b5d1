"""iCalendar (RFC 5545) export of a schedule: one all-day event per due item.

Not pure: reads the clock when no `now` is given; imports `icalendar`. Builds text only, writes
no file.

Re-importing a later export must update events rather than duplicate them, so:
- the UID is derived from the patient label, the item kind and `what` (the analyte code for
  labs), never from the date: a moved due date keeps its event. When one export holds several
  items with the same key (a protocol preview), the n-th of them in date order gets "-n";
- SEQUENCE rises with every export (minutes since 2020-01-01 UTC of the export time, unless the
  caller gives one), and DTSTAMP / LAST-MODIFIED are the export time in UTC, so calendar
  programs take the newer copy;
- nothing about the patient but the label the user chose goes into an event.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone

from icalendar import Calendar, Event

from tracker.domain.model import DueItem

PRODID = "-//pnet-tracker//surveillance schedule//EN"
UID_DOMAIN = "pnet-tracker"
_SEQUENCE_EPOCH = datetime(2020, 1, 1, tzinfo=timezone.utc)


def item_uid(item: DueItem, occurrence: int = 0) -> str:
    """Stable UID of an item: patient + kind + what, not the date."""
    key = "\x1f".join((item.patient, item.kind.value, item.what))
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    suffix = f"-{occurrence}" if occurrence else ""
    return f"{digest}{suffix}@{UID_DOMAIN}"


def default_sequence(now: datetime) -> int:
    """A SEQUENCE that grows with the export time: whole minutes since 2020-01-01 UTC."""
    return max(0, int((now - _SEQUENCE_EPOCH).total_seconds() // 60))


def schedule_to_ics(items: Sequence[DueItem], *, now: datetime | None = None, sequence: int | None = None,
                    name: str = "pNET surveillance") -> str:
    """The items as an iCalendar document (one all-day VEVENT each, on the due date)."""
    stamp = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    seq = default_sequence(stamp) if sequence is None else sequence
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    seen: Counter[str] = Counter()
    for item in sorted(items, key=lambda i: (i.due_date, i.patient, i.kind.value, i.what)):
        base = item_uid(item)
        cal.add_component(_event(item, item_uid(item, seen[base]), stamp, seq))
        seen[base] += 1
    return cal.to_ical().decode("utf-8")


def _event(item: DueItem, uid: str, stamp: datetime, sequence: int) -> Event:
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", stamp)
    event.add("last-modified", stamp)
    event.add("sequence", sequence)
    event.add("dtstart", item.due_date)
    event.add("dtend", item.due_date + timedelta(days=1))
    event.add("summary", f"{item.patient}: {item.what}" if item.patient else item.what)
    event.add("description", _description(item))
    event.add("categories", [item.kind.value])
    event.add("transp", "TRANSPARENT")
    event.add("status", "CONFIRMED")
    return event


def _description(item: DueItem) -> str:
    lines = [
        f"Due {item.due_date}: {item.reason}.",
        f"Window: due soon from {item.window_start}, overdue after {item.window_end}.",
        f"Status at export: {item.status.value}.",
    ]
    if item.escalated_by:
        lines.append(f"Brought forward by the open flag {item.escalated_by}.")
    return "\n".join(lines)
