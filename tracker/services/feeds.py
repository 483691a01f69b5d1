"""Calendar feeds: an iCalendar export that remembers what the same feed was given last, so that
SEQUENCE rises only for changed events and events no longer due are cancelled (tracker/ics.py)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from datetime import datetime, timezone

from tracker.config import Settings
from tracker.db import transaction
from tracker.domain.model import DueItem
from tracker.store import Store


def export_ics(settings: Settings, feed: str, items: Sequence[DueItem], *, now: datetime | None = None) -> str:
    """The feed's calendar for these items, in one transaction with the stored state of the feed
    ("worklist", or "schedule:<patient id>")."""
    from tracker.ics import Exported, calendar

    with transaction(settings) as s:
        st = Store(s)
        previous = {}
        for row in st.calendar_events(feed):
            e = Exported(**row)
            if e.modified.tzinfo is None:  # SQLite keeps no time zone: it was stored in UTC
                e = Exported(**{**row, "modified": e.modified.replace(tzinfo=timezone.utc)})
            previous[e.uid] = e
        text, given = calendar(items, previous, now=now)
        st.put_calendar_events(feed, [asdict(e) for e in given])
    return text
