"""iCalendar (RFC 5545) export of a schedule: one all-day event per due item.

Not pure: reads the clock when no `now` is given; imports `icalendar`. Builds text only, writes
no file and reads no database: what a calendar feed was given before comes in as `previous`
and goes out as the new `Exported` list, for the caller to keep (services.feeds).

Re-importing a later export must update events rather than duplicate them, and each time an
item falls due is its own event, so:
- the UID is derived from the patient label, the item kind, `what` (the analyte code for labs)
  and `counts_from`, the date the occurrence counts from (the completed scan, visit or result it
  is scheduled after, or the protocol start for the first one), never from the due date. An item
  done is no longer in the feed (its event is cancelled, below) and the next one is a new event
  with SEQUENCE 0; an item brought forward by a flag, or moved with its imaging, counts from the
  same record and keeps its event. Should one export hold several items with the same key, the
  n-th of them in date order gets "-n";
- SEQUENCE goes up by one when an event's content (date, summary, description, status) differs
  from what the feed was given last, and stays as it was otherwise; LAST-MODIFIED is when it
  last changed, DTSTAMP the export time (UTC). Without a previous export every SEQUENCE is 0;
- an event the feed was given before that is no longer in it (an item done, a patient who left
  surveillance, a lab no longer due, an item now outside a worklist) is exported again with
  STATUS:CANCELLED under its UID, so calendars that imported it remove it (a feed last given
  events under the UIDs of before `counts_from` sees each of them cancelled once, and its items
  again as new events);
- an item overdue at the export says "OVERDUE:" at the start of its summary;
- nothing about the patient but the label the user chose goes into an event.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from icalendar import Calendar, Event

from tracker.domain.model import DueItem, DueStatus

PRODID = "-//pnet-tracker//surveillance schedule//EN"
UID_DOMAIN = "pnet-tracker"
CONFIRMED, CANCELLED = "CONFIRMED", "CANCELLED"


@dataclass(frozen=True)
class Exported:
    """What a calendar feed was last given for one event."""

    uid: str
    sequence: int
    digest: str  # of the event's content
    dtstart: date
    summary: str
    status: str  # CONFIRMED or CANCELLED
    modified: datetime  # when its content last changed (UTC)


def item_uid(item: DueItem, occurrence: int = 0) -> str:
    """Stable UID of an item's occurrence: patient + kind + what + counts_from, not the due date."""
    key = "\x1f".join((item.patient, item.kind.value, item.what, item.counts_from.isoformat()))
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    suffix = f"-{occurrence}" if occurrence else ""
    return f"{digest}{suffix}@{UID_DOMAIN}"


def schedule_to_ics(items: Sequence[DueItem], *, now: datetime | None = None,
                    name: str = "pNET surveillance") -> str:
    """The items as an iCalendar document, for a feed with no previous export."""
    return calendar(items, now=now, name=name)[0]


def calendar(items: Sequence[DueItem], previous: Mapping[str, Exported] | None = None, *,
             now: datetime | None = None, name: str = "pNET surveillance") -> tuple[str, list[Exported]]:
    """The items as an iCalendar document (one all-day VEVENT each, on the due date), with the
    events of `previous` no longer among them cancelled; and what the feed was given now."""
    stamp = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    before = previous or {}
    contents: dict[str, dict[str, Any]] = {}
    seen: Counter[str] = Counter()
    for item in sorted(items, key=lambda i: (i.due_date, i.patient, i.kind.value, i.what)):
        base = item_uid(item)
        contents[item_uid(item, seen[base])] = _content(item)
        seen[base] += 1
    for uid in sorted(set(before) - set(contents)):
        contents[uid] = _cancelled(before[uid])
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    given = []
    for uid, content in contents.items():
        digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:32]
        last = before.get(uid)
        if last is not None and last.digest == digest:
            sequence, modified = last.sequence, last.modified
        else:
            sequence, modified = (last.sequence + 1 if last is not None else 0), stamp
        cal.add_component(_event(uid, content, stamp, sequence, modified))
        given.append(Exported(uid, sequence, digest, content["dtstart"], content["summary"], content["status"],
                              modified))
    return cal.to_ical().decode("utf-8"), given


def _content(item: DueItem) -> dict[str, Any]:
    text = f"{item.patient}: {item.what}" if item.patient else item.what
    return {"dtstart": item.due_date, "summary": f"OVERDUE: {text}" if item.status is DueStatus.OVERDUE else text,
            "description": _description(item), "categories": [item.kind.value], "status": CONFIRMED}


def _cancelled(last: Exported) -> dict[str, Any]:
    summary = last.summary.removeprefix("OVERDUE: ")
    return {"dtstart": last.dtstart, "summary": summary, "categories": [],
            "description": "No longer due in this calendar: done, moved outside it, or the patient left "
                           "surveillance. See tracker schedule for what is due next.",
            "status": CANCELLED}


def _event(uid: str, content: dict[str, Any], stamp: datetime, sequence: int, modified: datetime) -> Event:
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", stamp)
    event.add("last-modified", modified)
    event.add("sequence", sequence)
    event.add("dtstart", content["dtstart"])
    event.add("dtend", content["dtstart"] + timedelta(days=1))
    event.add("summary", content["summary"])
    event.add("description", content["description"])
    if content["categories"]:
        event.add("categories", content["categories"])
    event.add("transp", "TRANSPARENT")
    event.add("status", content["status"])
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
