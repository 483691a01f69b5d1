"""The worklist of `tracker serve`, kept between requests while the database does not change.

A worklist of every patient costs about half a second to derive from the cached states of 10,000
patients (docs/performance.md), and a nurse asks for it again at every page, filter and review.
`cached_worklist` keeps the rows of the last few (as-of date, within, statuses) asked for in this
process, with one fingerprint of everything those rows are made from, read in one transaction:

- every patient's label, protocol and leave date, which the rows use themselves (the rest of a
  patient row reaches the rows through the patient's state, which any change to the row empties);
- every cached state (`patient_state`: patient, cache key with the protocol's content hash, the
  flags and items computed, valid from). The database empties a patient's state on every write
  to their records, their patient row or their flag reviews (migration 0003), so a write shows
  here as a missing state, and then as the new one;
- the number and the last id of the flag reviews (append-only, migration 0002) and of the flag
  log (only ever appended to): what was acknowledged or snoozed, and which flags are new;
- the key of every installed protocol (`cache_key`).

Rows are kept only when they are a function of that fingerprint alone: every patient on the
worklist date was served from a cached state that the fingerprint read before holds (or has
left), none was evaluated from their history, nothing new was logged, and the fingerprint read
before and after making them is the same. Any other request makes its rows afresh, as the CLI
does, and the next one keeps them. A request that reads another fingerprint drops what was
kept. A write by this process or any other therefore shows at the next request.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa

from tracker.config import Settings
from tracker.db import transaction
from tracker.services import no_cycle_collection
from tracker.services.protocols import all_protocols
from tracker.services.surveillance.cache import cache_key
from tracker.services.surveillance.viewer import views
from tracker.services.surveillance.worklist import worklist_rows

#: how many worklists (as-of date, within, statuses) one process keeps of one database, and of
#: how many databases (the last used)
KEEP, DATABASES = 8, 2

_QUERIES = (
    "SELECT id, label, protocol_id, left_on FROM patient ORDER BY id",
    "SELECT patient_id, cache_key, computed, valid_from FROM patient_state ORDER BY patient_id",
    "SELECT COUNT(*), MAX(id) FROM flag_review",
    "SELECT COUNT(*), MAX(id) FROM flag_log",
)

Rows = tuple[dict[str, Any], ...]

#: database URL -> (the fingerprint its kept worklists were made from, those worklists by slot)
_kept: OrderedDict[str, tuple[tuple[Any, ...], OrderedDict[tuple[Any, ...], Rows]]] = OrderedDict()


def fingerprint(settings: Settings) -> tuple[Any, ...]:
    """Everything the worklist rows are made from when every state was cached (see above), as
    read in one read-only transaction."""
    keys = tuple(sorted((pid, cache_key(p)) for pid, p in all_protocols().items()))
    with transaction(settings, read_only=True) as conn:
        return (keys, *(tuple(tuple(r) for r in conn.execute(sa.text(q))) for q in _QUERIES))


@no_cycle_collection()  # the views are dropped before the collector runs again
def cached_worklist(settings: Settings, *, as_of: date, within_days: int,
                    statuses: Sequence[str] | None) -> tuple[dict[str, Any], ...]:
    """`worklist_rows` of every patient's views as of a date, kept while the database is as it was
    (the rows are shared: callers read them and change nothing). Flags shown for the first time
    are stored in the flag log, as the web pages do."""
    slot = (as_of, within_days, tuple(statuses or ()))
    before = fingerprint(settings)
    db = _kept.get(settings.db_url)
    if db is not None and db[0] != before:  # the database changed: what was kept of it is of no use
        del _kept[settings.db_url]
        db = None
    if db is not None and slot in db[1]:
        _kept.move_to_end(settings.db_url)
        db[1].move_to_end(slot)
        return db[1][slot]
    served: list[tuple[int, int]] = []
    all_views = views(settings, None, as_of=as_of, progress=lambda done, total: served.append((done, total)))
    rows = tuple(worklist_rows(all_views, as_of=as_of, within_days=within_days, statuses=statuses))
    # the first report counts the patients served without evaluating their history
    stated = {row[0] for row in before[2]}
    from_states = (bool(served) and served[0][0] == served[0][1]
                   and all(v.patient.id in stated for v in all_views if not v.patient.has_left(as_of)))
    if from_states and fingerprint(settings) == before:
        if db is None:
            db = _kept[settings.db_url] = (before, OrderedDict())
        db[1][slot] = rows
        while len(db[1]) > KEEP:
            db[1].popitem(last=False)
        while len(_kept) > DATABASES:
            _kept.popitem(last=False)
    return rows


def forget() -> None:
    """Drop every kept worklist (tests; a process that replaced its database file)."""
    _kept.clear()
