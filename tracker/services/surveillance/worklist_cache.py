"""The worklist of `tracker serve`: kept between requests, and brought up to date patient by patient.

Deriving every patient's rows from the cached states of 10,000 patients costs about half a
second (docs/performance.md), and a nurse asks for the worklist again at every page, filter and
review. So the server keeps each patient's rows, per as-of date and horizon, with what they were
made from, and at each request reads what could change them (in one read-only transaction: one
snapshot on SQLite; on PostgreSQL each query sees the latest commits, and whatever lands between
them only makes more rows again, never fewer):

- every patient's label, protocol and leaving date (the rest of the patient row reaches the rows
  through the patient's state, which any change to the row empties);
- every cached state that holds on the date (`patient_state`): the database empties a patient's
  state on every write to their records, their patient row or their flag reviews (migration
  0003), so a write shows as a state gone, then as a new one;
- the flag reviews and flag-log rows added since (both tables are append-only): what was
  acknowledged or snoozed, and which flags are no longer new; a count that does not add up (on
  PostgreSQL a row can commit after one with a larger id) makes every row again;
- the key of every installed protocol.

A patient whose part of that changed, who is new, or who has no state that holds (their rows
are made from their records each time, as the CLI makes them) gets their rows made again from
their own view. Every patient's rows are made again when the protocols changed, on a new date or
horizon, and when more than `REBUILD` patients changed. The rows are then filtered and ordered as
the CLI's. A write by this process or by any other therefore shows at the next request. (The
request after one that made every row makes again the rows of the patients it evaluated or
showed a flag to for the first time: their states and flag-log rows are new.)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from tracker.config import Settings
from tracker.db import transaction
from tracker.errors import NotFoundError
from tracker.services import no_cycle_collection
from tracker.services.protocols import all_protocols
from tracker.services.surveillance.cache import cache_key
from tracker.services.surveillance.viewer import views
from tracker.services.surveillance.worklist import ordered, patient_rows
from tracker.store import Store

#: more patients changed than this: every patient's rows are made again (one bulk evaluation is
#: then cheaper than one evaluation each)
REBUILD = 50
#: how many (database, as-of date, horizon) a server keeps, the last used
KEEP = 4

Rows = list[dict[str, Any]]


@dataclass
class _Seen:
    """What the database held when a worklist's rows were made (see above)."""

    protocols: tuple[tuple[str, str], ...] = ()
    patients: dict[int, tuple[Any, ...]] = field(default_factory=dict)  # id -> (label, protocol, left on)
    states: dict[int, tuple[str, int]] = field(default_factory=dict)  # id -> (cache key, hash of the state)
    counts: tuple[int, int] = (0, 0)  # rows of flag_review, flag_log
    last_ids: tuple[int, int] = (0, 0)  # the largest id of each


@dataclass
class _Kept:
    seen: _Seen
    rows: dict[int, Rows]  # by patient id, before the status filter and the order


_kept: OrderedDict[tuple[str, date, int], _Kept] = OrderedDict()


def _read(settings: Settings, as_of: date, before: _Seen | None) -> tuple[_Seen, set[int] | None]:
    """What the database holds now, and the patients whose rows may differ from `before`'s (None:
    every patient's)."""
    protocols = tuple(sorted((pid, cache_key(p)) for pid, p in all_protocols().items()))
    after = before.last_ids if before is not None else (0, 0)
    with transaction(settings, read_only=True) as conn:
        st = Store(conn)
        patients = {r[0]: r[1:] for r in st.patient_keys()}
        states = {pid: (key, hash(computed)) for pid, key, computed in st.states(as_of)}
        reviews = st.appended("flag_review", after[0])
        logged = st.appended("flag_log", after[1])
    now = _Seen(protocols, patients, states, (reviews[0], logged[0]),
                (max([after[0], *(i for i, _ in reviews[1])]), max([after[1], *(i for i, _ in logged[1])])))
    if before is None or before.protocols != protocols or now.counts != (
            before.counts[0] + len(reviews[1]), before.counts[1] + len(logged[1])):
        return now, None
    changed = {pid for pid, part in patients.items() if before.patients.get(pid) != part}
    changed |= {pid for pid, part in states.items() if before.states.get(pid) != part}
    changed |= before.states.keys() - states.keys()
    changed |= {pid for _, pid in (*reviews[1], *logged[1])}
    changed |= {pid for pid, part in patients.items() if pid not in states and not _left(part, as_of)}
    return now, changed & patients.keys()


def _left(part: tuple[Any, ...], as_of: date) -> bool:
    left_on = part[2]
    return left_on is not None and left_on <= as_of


@no_cycle_collection()  # the views are dropped before the collector runs again
def cached_worklist(settings: Settings, *, as_of: date, within_days: int,
                    statuses: Sequence[str] | None) -> Rows:
    """The worklist of every patient as of a date (`worklist_rows`), its rows kept between calls
    and made again for the patients whose data changed (the rows are shared: callers read them
    and change nothing). Flags shown for the first time are stored in the flag log, as the web
    pages do."""
    slot = (settings.db_url, as_of, within_days)
    horizon = as_of + timedelta(days=within_days)
    kept = _kept.get(slot)
    seen, changed = _read(settings, as_of, kept.seen if kept is not None else None)
    if kept is not None and changed is not None and len(changed) <= REBUILD:
        rows = {pid: r for pid, r in kept.rows.items() if pid in seen.patients}
        try:
            for pid in changed:
                (v,) = views(settings, seen.patients[pid][0], as_of=as_of)
                if v.patient.id != pid:  # labels changed hands meanwhile
                    raise NotFoundError(seen.patients[pid][0])
                rows[pid] = patient_rows(v, horizon)
        except NotFoundError:  # relabelled meanwhile: every row is made again, from the labels as they are
            changed = None
    if kept is None or changed is None or len(changed) > REBUILD:
        rows = {v.patient.id or -1: patient_rows(v, horizon) for v in views(settings, None, as_of=as_of)}
    _kept[slot] = _Kept(seen, rows)
    _kept.move_to_end(slot)
    while len(_kept) > KEEP:
        _kept.popitem(last=False)
    return ordered([r for patient in rows.values() for r in patient], statuses)
