"""Flags, schedules and the worklist: the domain engines run over stored histories.

One evaluation per patient: the clinical flags as of the date; the schedule, tightened by the
open watch/action flags (snoozed ones excepted, acknowledged ones still count); then one
`schedule.overdue` flag per overdue item. Flags are stored in the flag log when evaluated
(first seen), so a later reader sees what was shown and why; a flag whose key was not in the
log before is marked new. Acknowledgements and snoozes are append-only reviews by flag key: a
snoozed watch flag is hidden until the snooze ends, and comes back at once when newer
evidence gives the rule a new key.

The package: `evaluation` (one patient's evaluation and its views), `cache` (the state cache),
`viewer` (the views of one patient or all, served from the cache, and the flag log), `reviews` (acknowledge,
snooze, find a flag, the flag history) and `worklist` (the worklist rows).
"""

from tracker.services.surveillance.cache import CACHE_FORMAT, cache_key, rules_digest, store_states, valid_from
from tracker.services.surveillance.evaluation import (
    Ack,
    FlagView,
    PatientView,
    ReviewState,
    evaluate,
    protocol_for,
    review_state,
)
from tracker.services.surveillance.reviews import (
    MAX_SNOOZE_DAYS,
    find_flag,
    flag_history,
    overdue_item,
    review_flag,
)
from tracker.services.surveillance.viewer import Progress, mark_seen, views
from tracker.services.surveillance.worklist import WORKLIST_REVIEW_FIELDS, worklist_rows

__all__ = [
    "CACHE_FORMAT", "MAX_SNOOZE_DAYS", "WORKLIST_REVIEW_FIELDS", "Ack", "FlagView", "PatientView", "Progress",
    "ReviewState", "cache_key", "evaluate", "find_flag", "flag_history", "mark_seen", "overdue_item",
    "protocol_for", "review_flag", "review_state", "rules_digest", "store_states", "valid_from", "views",
    "worklist_rows",
]
