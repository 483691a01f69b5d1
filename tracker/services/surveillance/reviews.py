"""Flag reviews: acknowledge or snooze a current flag, find the flag a person named, and the
history of every flag shown with its reviews."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

from tracker.config import Settings
from tracker.db import transaction
from tracker.domain.model import Flag, Severity
from tracker.domain.schedule import OVERDUE_RULE
from tracker.errors import ConflictError, NotFoundError, ValidationError
from tracker.services.surveillance.evaluation import FlagView
from tracker.services.surveillance.viewer import _log_row, views
from tracker.store import Store, now_utc
from tracker.text import quoted

#: The longest snooze a user may set (a snooze needs a maximum length and a reason).
MAX_SNOOZE_DAYS = 183


def flag_history(settings: Settings, ref: str | None) -> list[dict[str, Any]]:
    """Every flag ever shown, as stored when first evaluated."""
    with transaction(settings, read_only=True) as s:
        st = Store(s)
        patients = {p.id: p.label for p in ([st.patient(ref)] if ref else st.patients())}
        ids = [pid for pid in patients if pid is not None]
        rows = st.flag_rows(ids) if ref else st.flag_rows()
        reviews = st.reviews(ids) if ref else st.reviews()
    by_key: dict[tuple[int, str], list[Any]] = defaultdict(list)
    for r in reviews:
        by_key[(r.patient_id, r.flag_key)].append(r)
    return [
        {"patient": patients.get(r.patient_id, str(r.patient_id)), "rule_id": r.rule_id, "severity": r.severity,
         "date": r.date.isoformat(), "message": r.message, "evidence": r.evidence.split(",") if r.evidence else [],
         "threshold": r.threshold, "source": r.source, "rule_version": r.rule_version,
         "first_seen_at": r.first_seen_at.isoformat(timespec="seconds"),
         "first_seen_as_of": r.first_seen_as_of.isoformat(), "key": r.flag_key,
         "reviews": [f"{x.action} by {x.user} at {x.at.isoformat(timespec='seconds')}"
                     f"{' until ' + x.until.isoformat() if x.until else ''}: {x.reason}"
                     for x in by_key[(r.patient_id, r.flag_key)]]}
        for r in rows
    ]


def review_flag(settings: Settings, ref: str, key: str, *, action: str, reason: str, as_of: date,
                until: date | None = None) -> FlagView:
    """Acknowledge a current flag, or snooze a watch flag until a date (at most 183 days ahead)."""
    if not reason.strip():
        raise ValidationError(f"to {action} a flag, give a reason", "--reason")
    if action == "snooze" and (until is None or until <= as_of or until > as_of + timedelta(days=MAX_SNOOZE_DAYS)):
        raise ValidationError(f"--until must be after {as_of} and at most {MAX_SNOOZE_DAYS} days later", "--until")
    # Read without marking anything seen: a refused review leaves the flag log as it was.
    current = views(settings, ref, as_of=as_of, record=False)[0]
    target = find_flag([*current.flags, *current.snoozed], key, ref, as_of)
    if action == "snooze" and target.flag.severity is not Severity.WATCH:
        raise ConflictError(f"only watch flags can be snoozed; {target.flag.rule_id} is "
                            f"{target.flag.severity.value} — acknowledge it instead")
    with transaction(settings) as s:
        st = Store(s)
        p = st.patient_for_update(ref)
        assert p.id is not None
        if target.is_new:  # the user has seen the flag they reviewed
            st.add_flag_rows([_log_row(p.id, target.flag, now_utc(), as_of)])
        st.add_review({"patient_id": p.id, "flag_key": target.flag.key, "action": action, "until": until,
                       "severity_at_review": target.flag.severity.value, "reason": reason, "user": settings.user,
                       "at": now_utc()})
        st.audit(user=settings.user, action=action, entity="flag", entity_id=None, patient_id=p.id, reason=reason,
                 after={"key": target.flag.key, "rule_id": target.flag.rule_id, "until": until})
    return target


def find_flag(candidates: Sequence[FlagView], handle: str, ref: str, as_of: date) -> FlagView:
    """The flag a person named: by its number in `tracker flags` / `worklist`, its key, its rule
    id, or 'overdue KIND' ('overdue imaging', 'overdue chromogranin_a') for an overdue item."""
    text = " ".join(handle.split())
    words = text.split(" ")
    if text.isdigit():
        matches = [v for v in candidates if v.handle == int(text)]
    elif len(words) == 2 and words[0] == "overdue":
        matches = [v for v in candidates if (item := overdue_item(v.flag)) is not None and words[1] in item]
    else:
        matches = [v for v in candidates if v.flag.key == text] or [v for v in candidates if v.flag.rule_id == text]
    if not matches:
        raise NotFoundError(f"no current flag {quoted(text)} for {ref} as of {as_of}; run `tracker flags {ref}` "
                            "and give the flag's number (#), rule id or key")
    if len(matches) > 1:
        raise ValidationError(f"{quoted(text)} matches {len(matches)} flags; give the flag's number (#) from "
                              f"`tracker flags {ref}`", "FLAG")
    return matches[0]


def overdue_item(f: Flag) -> tuple[str, str] | None:
    """(kind, what) of the due item a `schedule.overdue` flag is about; None for other flags."""
    if f.rule_id != OVERDUE_RULE or not f.evidence or not f.evidence[0].startswith("due:"):
        return None
    kind, _, rest = f.evidence[0][len("due:"):].partition("/")
    return kind, rest.rpartition("@")[0]
