"""The surveillance schedule (rules.md §3 "Scheduling semantics", §4 "Scheduling")."""

from __future__ import annotations

import json
from datetime import date, timedelta
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.factories import history, lab, metastatic_patient, patient, scan, visit
from tracker.domain.model import DueItem, DueStatus, Flag, ItemKind, Modality, Severity
from tracker.domain.protocol import SurveillanceProtocol, protocol_from_dict
from tracker.domain.schedule import (
    DUE_ITEM_FIELDS,
    compute_schedule,
    due_rows,
    item_status,
    overdue_flags,
    preview_schedule,
)

PROTOCOLS = Path(__file__).resolve().parents[2] / "tracker" / "protocols"
D = date.fromisoformat


@cache
def proto(pid: str) -> SurveillanceProtocol:
    return protocol_from_dict(json.loads((PROTOCOLS / f"{pid}.json").read_text(encoding="utf-8")))


SMALL = "pnet-small-nf"
META = "pnet-metastatic-ww"


def flag(rule_id: str, when: str, severity: Severity = Severity.WATCH) -> Flag:
    return Flag(rule_id=rule_id, severity=severity, patient="SYN-001", date=D(when), message="m",
                evidence=("scan:1",), threshold=None, source="s", rule_version="t")


def schedule(*records: object, as_of: str, pid: str = SMALL, flags: tuple[Flag, ...] = (),
             p: object = None) -> dict[str, DueItem]:
    """The schedule keyed by kind, or by analyte for labs."""
    h = history(p or (patient() if pid == SMALL else metastatic_patient()), *records)
    items = compute_schedule(h, proto(pid), list(flags), as_of=D(as_of))
    return {i.what if i.kind is ItemKind.LAB else i.kind.value: i for i in items}


def normal_cga(when: str = "2025-01-10") -> object:
    return lab(when, 50, uln=102)


# --------------------------------------------------------------------------- windows

DUE = D("2025-07-10")


@pytest.mark.parametrize(("offset", "status"), [
    (-31, DueStatus.NOT_DUE), (-30, DueStatus.DUE_SOON), (-1, DueStatus.DUE_SOON), (0, DueStatus.DUE),
    (30, DueStatus.DUE), (31, DueStatus.OVERDUE),
])
def test_window_boundaries(offset: int, status: DueStatus) -> None:
    """Due soon from due − 30 days, due through due + 30 days, overdue from due + 31 days."""
    assert status == item_status(DUE, DUE + timedelta(days=offset), proto(SMALL))


def test_item_window_dates() -> None:
    """An item's window runs from due − 30 days to due + 30 days."""
    item = schedule(scan("2025-01-10"), normal_cga(), as_of="2025-03-01")["imaging"]
    assert (D("2025-06-10"), D("2025-07-10"), D("2025-08-09")) == (
        item.window_start, item.due_date, item.window_end)


# --------------------------------------------------------------------------- imaging anchor and phases


def test_first_imaging_counts_from_start() -> None:
    """The first imaging is due one interval (6 months) after the protocol start."""
    item = schedule(normal_cga(), as_of="2025-02-01")["imaging"]
    assert (D("2025-07-10"), "6 months after the protocol start 2025-01-10") == (item.due_date, item.reason)
    assert item.status is DueStatus.NOT_DUE and item.escalated_by is None


def test_baseline_scan_on_start_date_is_the_start() -> None:
    """A study on the start date is the baseline: the first item is still start + 6 months."""
    item = schedule(scan("2025-01-10"), normal_cga(), as_of="2025-02-01")["imaging"]
    assert (D("2025-07-10"), "6 months after the protocol start 2025-01-10") == (item.due_date, item.reason)


def test_missed_imaging_stays_due_from_original_date() -> None:
    """A missed 6-month MRI stays due from its original date, not from today."""
    item = schedule(scan("2025-01-10"), normal_cga(), as_of="2025-12-01")["imaging"]
    assert (D("2025-07-10"), DueStatus.OVERDUE) == (item.due_date, item.status)


@pytest.mark.parametrize(("done", "due", "reason"), [
    ("2025-06-01", "2025-12-01", "6 months after the MRI of 2025-06-01"),
    ("2025-09-15", "2026-03-15", "6 months after the MRI of 2025-09-15"),
])
def test_imaging_reanchors_on_completion(done: str, due: str, reason: str) -> None:
    """Imaging done early or late re-anchors the next one on the day it was done."""
    item = schedule(scan("2025-01-10"), scan(done), normal_cga(), as_of=done)["imaging"]
    assert (D(due), reason) == (item.due_date, item.reason)


@pytest.mark.parametrize("modality", [Modality.CT, Modality.EUS])
def test_ct_and_eus_complete_imaging(modality: Modality) -> None:
    """A CT or EUS study completes the imaging item as an MRI does."""
    item = schedule(scan("2025-07-01", modality=modality), normal_cga(), as_of="2025-07-02")["imaging"]
    assert (D("2026-01-01"), f"6 months after the {modality.value} of 2025-07-01") == (
        item.due_date, item.reason)


@pytest.mark.parametrize("modality", [Modality.SSTR_PET, Modality.FDG_PET, Modality.US])
def test_pet_and_ultrasound_do_not_complete_imaging(modality: Modality) -> None:
    """PET and ultrasound do not complete the imaging item."""
    item = schedule(scan("2025-07-01", modality=modality), normal_cga(), as_of="2025-07-02")["imaging"]
    assert D("2025-07-10") == item.due_date


def test_records_after_as_of_are_not_counted() -> None:
    """A study dated after the as-of date does not complete anything yet."""
    item = schedule(scan("2025-07-10"), normal_cga(), as_of="2025-07-09")["imaging"]
    assert D("2025-07-10") == item.due_date


@pytest.mark.parametrize(("done", "due", "months"), [
    ("2025-12-10", "2026-06-10", 6),  # month 11: still 6-monthly
    ("2026-01-10", "2027-01-10", 12),  # month 12
    ("2029-12-10", "2030-12-10", 12),  # month 59
    ("2030-01-10", "2032-01-10", 24),  # month 60
])
def test_small_protocol_phases(done: str, due: str, months: int) -> None:
    """Small protocol: 6-monthly before month 12, 12-monthly to month 60, then 24-monthly."""
    item = schedule(scan(done), normal_cga(), as_of=done)["imaging"]
    assert (D(due), f"{months} months after the MRI of {done}") == (item.due_date, item.reason)


def test_open_flag_keeps_yearly_imaging_after_year_5() -> None:
    """After month 60 an open watch flag keeps the interval at 12 months instead of 24."""
    flags = (flag("marker.rise", "2029-06-01"),)
    item = schedule(scan("2030-01-10"), normal_cga(), as_of="2030-01-10", flags=flags)["imaging"]
    assert (D("2031-01-10"), "12 months after the MRI of 2030-01-10", None) == (
        item.due_date, item.reason, item.escalated_by)


@pytest.mark.parametrize(("done", "due"), [
    ("2025-12-10", "2026-03-10"),  # month 11: 3-monthly
    ("2026-01-10", "2026-07-10"),  # month 12: 6-monthly
])
def test_metastatic_phases(done: str, due: str) -> None:
    """Metastatic protocol: 3-monthly before month 12, then 6-monthly."""
    assert D(due) == schedule(scan(done, modality="CT"), as_of=done, pid=META)["imaging"].due_date


def test_metastatic_first_imaging_at_3_months() -> None:
    """Metastatic protocol: the first imaging is 3 months after the start."""
    item = schedule(as_of="2025-01-10", pid=META)["imaging"]
    assert (D("2025-04-10"), "3 months after the protocol start 2025-01-10") == (item.due_date, item.reason)


# --------------------------------------------------------------------------- month ends and leap days


def test_month_end_clipping() -> None:
    """2025-08-31 plus 6 months is 2026-02-28."""
    p = patient(protocol_start="2025-08-31")
    assert D("2026-02-28") == schedule(normal_cga("2025-08-31"), as_of="2025-09-01", p=p)["imaging"].due_date


def test_leap_day_plus_12_months() -> None:
    """An MRI on 2024-02-29 in the yearly phase makes the next due on 2025-02-28."""
    p = patient(protocol_start="2023-02-28")
    item = schedule(scan("2024-02-29"), normal_cga("2023-02-28"), as_of="2024-03-01", p=p)["imaging"]
    assert D("2025-02-28") == item.due_date


# --------------------------------------------------------------------------- escalation


def test_watch_flag_brings_imaging_forward() -> None:
    """An open watch flag brings the next imaging to 3 months after its evidence and says so."""
    records = (scan("2025-01-10"), scan("2025-07-10"), scan("2026-01-08"), normal_cga())
    items = schedule(*records, as_of="2026-01-20", flags=(flag("growth.relative", "2026-01-08"),))
    img = items["imaging"]
    assert (D("2026-04-08"), "brought forward to 3 months after growth.relative evidence of 2026-01-08",
            "growth.relative") == (img.due_date, img.reason, img.escalated_by)


def test_visit_follows_escalated_imaging() -> None:
    """The visit with each imaging falls on the escalated imaging date."""
    records = (scan("2025-01-10"), scan("2026-01-08"), visit("2026-01-08"), normal_cga())
    item = schedule(*records, as_of="2026-01-20", flags=(flag("growth.relative", "2026-01-08"),))["visit"]
    assert (D("2026-04-08"), "with the imaging due 2026-04-08", "growth.relative") == (
        item.due_date, item.reason, item.escalated_by)


def test_action_flag_escalates() -> None:
    """An action flag escalates as a watch flag does."""
    flags = (flag("size.threshold", "2025-02-01", Severity.ACTION),)
    item = schedule(scan("2025-01-10"), normal_cga(), as_of="2025-02-02", flags=flags)["imaging"]
    assert (D("2025-05-01"), "size.threshold") == (item.due_date, item.escalated_by)


def test_flag_before_last_imaging_does_not_escalate() -> None:
    """A flag dated before the last completed imaging does not bring the next one forward."""
    flags = (flag("growth.relative", "2025-06-30"),)
    item = schedule(scan("2025-07-01"), normal_cga(), as_of="2025-07-02", flags=flags)["imaging"]
    assert (D("2026-01-01"), None) == (item.due_date, item.escalated_by)


@pytest.mark.parametrize("f", [
    flag("data.modality_change", "2025-07-01", Severity.INFO),
    flag("schedule.overdue", "2025-07-01", Severity.WATCH),
])
def test_info_and_overdue_flags_never_escalate(f: Flag) -> None:
    """Info flags and schedule.overdue never bring imaging forward."""
    item = schedule(scan("2025-07-01"), normal_cga(), as_of="2025-07-02", flags=(f,))["imaging"]
    assert (D("2026-01-01"), None) == (item.due_date, item.escalated_by)


def test_escalation_never_delays() -> None:
    """Escalation brings imaging to at most 3 months after the evidence: an earlier regular date stays."""
    flags = (flag("growth.rate", "2025-05-01"),)
    item = schedule(scan("2025-01-10"), normal_cga(), as_of="2025-05-02", flags=flags)["imaging"]
    assert (D("2025-07-10"), None) == (item.due_date, item.escalated_by)


def test_earliest_escalation_wins() -> None:
    """With several escalating flags the earliest resulting date is used."""
    flags = (flag("marker.rise", "2025-03-01"), flag("growth.relative", "2025-02-01"))
    item = schedule(scan("2025-01-10"), normal_cga(), as_of="2025-03-02", flags=flags)["imaging"]
    assert (D("2025-05-01"), "growth.relative") == (item.due_date, item.escalated_by)


def test_risk_flag_keeps_metastatic_imaging_3_monthly() -> None:
    """A persisting risk.gao flag dated at each scan keeps metastatic imaging 3-monthly after year 1."""
    flags = (flag("risk.gao", "2026-02-01"),)
    item = schedule(scan("2026-02-01", modality="CT"), as_of="2026-02-01", pid=META, flags=flags)["imaging"]
    assert (D("2026-05-01"), "risk.gao") == (item.due_date, item.escalated_by)


# --------------------------------------------------------------------------- items with each imaging


def test_visit_done_with_imaging_moves_to_next_imaging() -> None:
    """A visit done with the last imaging makes the next visit due with the next imaging."""
    items = schedule(scan("2025-07-01"), visit("2025-07-02"), normal_cga(), as_of="2025-07-03")
    assert (D("2026-01-01"), "with the imaging due 2026-01-01") == (
        items["visit"].due_date, items["visit"].reason)


def test_visit_missed_with_last_imaging_is_due_at_that_imaging() -> None:
    """A visit not done with the last imaging is due on that imaging's date."""
    item = schedule(scan("2025-07-01"), visit("2025-01-10"), normal_cga(), as_of="2025-08-15")["visit"]
    assert (D("2025-07-01"), "with the imaging of 2025-07-01", DueStatus.OVERDUE) == (
        item.due_date, item.reason, item.status)


@pytest.mark.parametrize(("visit_on", "due"), [("2025-05-31", "2025-07-01"), ("2025-06-01", "2026-01-01")])
def test_visit_window_start_of_last_imaging(visit_on: str, due: str) -> None:
    """A visit on or after the last imaging's window start (its date − 30 days) goes with that imaging."""
    item = schedule(scan("2025-07-01"), visit(visit_on), normal_cga(), as_of="2025-07-02")["visit"]
    assert D(due) == item.due_date


def test_visit_done_early_in_next_window_serves_next_imaging() -> None:
    """A visit done in the next imaging's window counts for it: the visit is due with the one after."""
    records = (scan("2025-07-01"), visit("2025-07-01"), visit("2025-12-15"), normal_cga())
    item = schedule(*records, as_of="2025-12-16")["visit"]
    assert (D("2026-07-01"), "with the imaging planned for 2026-07-01") == (item.due_date, item.reason)


def test_first_visit_due_with_first_imaging() -> None:
    """The baseline asks for no visit: the first visit is due with the first imaging."""
    assert D("2025-07-10") == schedule(normal_cga(), as_of="2025-01-10")["visit"].due_date


# --------------------------------------------------------------------------- chromogranin A


def test_cga_due_at_start_without_baseline() -> None:
    """Small protocol: no chromogranin A result means one is due at the protocol start."""
    item = schedule(as_of="2025-03-01")["chromogranin_a"]
    assert (D("2025-01-10"), DueStatus.OVERDUE) == (item.due_date, item.status)
    assert "protocol start 2025-01-10" in item.reason


def test_normal_baseline_cga_means_no_cga_item() -> None:
    """Small protocol: a baseline chromogranin A within its upper limit means no further CgA item."""
    assert "chromogranin_a" not in schedule(lab("2024-11-01", 102, uln=102), as_of="2025-03-01")


def test_raised_baseline_cga_is_due_with_each_imaging() -> None:
    """Small protocol: a baseline above its own upper limit makes CgA due with each imaging."""
    item = schedule(lab("2025-01-12", 103, uln=102), as_of="2025-03-01")["chromogranin_a"]
    assert D("2025-07-10") == item.due_date and item.reason.startswith("with the imaging due 2025-07-10")


@pytest.mark.parametrize(("raised_on", "item_expected"), [("2025-02-09", True), ("2025-02-10", False)])
def test_cga_baseline_is_latest_until_start_plus_30_days(raised_on: str, item_expected: bool) -> None:
    """The baseline is the latest result on or before start + 30 days; a later one is not the baseline."""
    records = (lab("2025-01-01", 50), lab(raised_on, 300))
    assert item_expected == ("chromogranin_a" in schedule(*records, as_of="2025-03-01"))


def test_late_first_cga_completes_the_start_item() -> None:
    """A first chromogranin A after the baseline window completes the start item and its value decides."""
    assert "chromogranin_a" not in schedule(lab("2025-04-01", 50), as_of="2025-04-02")
    assert "chromogranin_a" in schedule(lab("2025-04-01", 500), as_of="2025-04-02")


def test_result_without_upper_limit_is_not_raised() -> None:
    """A baseline result without an upper limit is not above it."""
    assert "chromogranin_a" not in schedule(lab("2025-01-10", 500, uln=None), as_of="2025-03-01")


def test_metastatic_cga_with_each_imaging() -> None:
    """Metastatic protocol: chromogranin A is due with each imaging whatever its value."""
    items = schedule(scan("2025-04-10", modality="CT"), lab("2025-04-10", 50), as_of="2025-04-11", pid=META)
    assert D("2025-07-10") == items["chromogranin_a"].due_date == items["imaging"].due_date


def test_metastatic_raised_marker_with_each_imaging() -> None:
    """Metastatic protocol: a marker above its upper limit at baseline is due with each imaging."""
    records = (lab("2025-01-10", 300, analyte="pancreastatin", unit="pg/mL", uln=135),
               lab("2025-01-10", 30, analyte="gastrin", unit="pg/mL", uln=100),
               lab("2025-01-10", 40, analyte="bilirubin", unit="umol/L", uln=21))
    items = schedule(*records, as_of="2025-02-01", pid=META)
    assert {"imaging", "visit", "chromogranin_a", "pancreastatin"} == set(items)
    assert D("2025-04-10") == items["pancreastatin"].due_date


# --------------------------------------------------------------------------- leaving and protocol change


@pytest.mark.parametrize("left_on", ["2025-05-01", "2025-06-01"])
def test_nothing_due_after_leaving(left_on: str) -> None:
    """From the leaving date (inclusive) nothing is due."""
    p = patient(left_on=left_on, leave_reason="treatment")
    assert schedule(scan("2025-01-10"), as_of="2025-06-01", p=p) == {}


@pytest.mark.parametrize("as_of", ["2025-06-01", "2025-07-09"])
def test_before_the_leaving_date_the_schedule_is_that_of_a_patient_under_surveillance(as_of: str) -> None:
    """As of a date, only what is dated on or before it exists, the leaving event too: before the
    leaving date of 2025-07-10 the items due on or after it are still due, as if no leaving was known."""
    p = patient(left_on="2025-07-10", leave_reason="patient_choice")
    staying = patient()
    assert schedule(scan("2025-01-10"), as_of=as_of, p=p) == schedule(scan("2025-01-10"), as_of=as_of, p=staying)
    assert set(schedule(scan("2025-01-10"), as_of=as_of, p=p)) == {"imaging", "visit", "chromogranin_a"}
    assert schedule(scan("2025-01-10"), as_of="2025-07-10", p=p) == {}


def test_protocol_change_counts_from_new_start() -> None:
    """After a protocol change, records before the new start do not anchor it: the first item is start + interval."""
    p = metastatic_patient(protocol_start="2026-03-01")
    records = (scan("2025-01-10"), scan("2026-02-20", modality="CT"), lab("2026-02-20", 50), visit("2026-02-20"))
    items = schedule(*records, as_of="2026-03-02", pid=META, p=p)
    assert (D("2026-06-01"), "3 months after the protocol start 2026-03-01") == (
        items["imaging"].due_date, items["imaging"].reason)
    assert D("2026-06-01") == items["visit"].due_date == items["chromogranin_a"].due_date


def test_protocol_change_keeps_lab_baseline_from_before() -> None:
    """A lab result before a new protocol start is still its baseline."""
    p = patient(protocol_start="2026-03-01")
    assert "chromogranin_a" in schedule(lab("2026-02-01", 400), as_of="2026-03-02", p=p)


# --------------------------------------------------------------------------- overdue flags


def test_overdue_flag_per_overdue_item() -> None:
    """One schedule.overdue watch flag per overdue item, dated at the item's due date."""
    items = compute_schedule(history(patient(), scan("2025-01-10")), proto(SMALL), [], as_of=D("2025-09-01"))
    flags = overdue_flags(items, proto(SMALL), as_of=D("2025-09-01"))
    assert [(i.due_date, f"due:{i.kind.value}/{i.what}@{i.due_date}") for i in items] == [
        (f.date, f.evidence[0]) for f in flags]
    assert [i.kind for i in items] == [ItemKind.IMAGING, ItemKind.VISIT, ItemKind.LAB]
    assert {("schedule.overdue", Severity.WATCH)} == {(f.rule_id, f.severity) for f in flags}


def test_overdue_message_names_item_date_days_and_grace() -> None:
    """The overdue message names the item, the due date, the days overdue and the grace period with its source."""
    items = compute_schedule(history(patient(), scan("2025-01-10"), normal_cga()), proto(SMALL), [],
                             as_of=D("2025-08-19"))
    (f, _) = overdue_flags(items, proto(SMALL), as_of=D("2025-08-19"))
    assert "imaging (MRI preferred; CT or EUS accepted) was due on 2025-07-10 and is 40 days overdue" in f.message
    assert "(grace period 30 days: a design default of the protocol)" in f.message
    assert f.threshold == "30 days"


def test_overdue_without_as_of_states_minimum() -> None:
    """Without an as-of date the message gives the least number of days overdue."""
    items = compute_schedule(history(patient(), normal_cga()), proto(SMALL), [], as_of=D("2025-09-01"))
    assert "at least 31 days overdue" in overdue_flags(items, proto(SMALL))[0].message


def test_no_overdue_flag_for_items_in_window() -> None:
    """An item still within its grace period raises no flag."""
    items = compute_schedule(history(patient(), normal_cga()), proto(SMALL), [], as_of=D("2025-08-09"))
    assert overdue_flags(items, proto(SMALL)) == []


# --------------------------------------------------------------------------- occurrences (counts_from)


def test_an_item_counts_from_its_last_completed_record_or_the_start() -> None:
    """counts_from is the completed record an item is scheduled after, or the protocol start for the
    first one: a scan or visit on or before the start is the start."""
    first = schedule(scan("2025-01-10"), visit("2025-01-05"), normal_cga(), as_of="2025-02-01")
    assert {D("2025-01-10")} == {first["imaging"].counts_from, first["visit"].counts_from}
    later = schedule(scan("2025-01-10"), scan("2025-07-01"), visit("2025-07-02"), normal_cga(), as_of="2025-07-03")
    assert (D("2025-07-01"), D("2025-07-02")) == (later["imaging"].counts_from, later["visit"].counts_from)


def test_an_item_brought_forward_keeps_its_counts_from() -> None:
    """Escalation moves the due date, not the occurrence: the imaging still counts from the last
    MRI, and the visit that follows it from the last visit."""
    records = (scan("2025-01-10"), scan("2026-01-08"), visit("2026-01-08"), normal_cga())
    plain = schedule(*records, as_of="2026-01-20")
    brought = schedule(*records, as_of="2026-01-20", flags=(flag("growth.relative", "2026-01-08"),))
    for kind in ("imaging", "visit"):
        assert plain[kind].due_date != brought[kind].due_date and brought[kind].escalated_by == "growth.relative"
        assert plain[kind].counts_from == brought[kind].counts_from == D("2026-01-08")


def test_a_missed_visit_is_the_same_occurrence_until_it_is_done() -> None:
    """A visit missed with its imaging stays the occurrence counting from the last visit while
    scans go on (its date moves to the latest scan); the visit done makes a new one."""
    missed = schedule(scan("2025-07-01"), visit("2025-01-20"), normal_cga(), as_of="2025-08-15")["visit"]
    still = schedule(scan("2025-07-01"), scan("2026-01-02"), visit("2025-01-20"), normal_cga(),
                     as_of="2026-01-03")["visit"]
    done = schedule(scan("2025-07-01"), scan("2026-01-02"), visit("2025-01-20"), visit("2026-01-02"), normal_cga(),
                    as_of="2026-01-03")["visit"]
    assert (missed.due_date, still.due_date) == (D("2025-07-01"), D("2026-01-02"))
    assert missed.counts_from == still.counts_from == D("2025-01-20") != done.counts_from == D("2026-01-02")


def test_a_late_raised_baseline_starts_a_new_lab_occurrence() -> None:
    """The chromogranin A due at the start counts from the start; a late first result above the
    limit completes it, and the CgA with each imaging counts from that result."""
    assert D("2025-01-10") == schedule(as_of="2025-03-01")["chromogranin_a"].counts_from
    assert D("2025-04-01") == schedule(lab("2025-04-01", 500), as_of="2025-04-02")["chromogranin_a"].counts_from


def test_preview_occurrences_count_from_the_one_before() -> None:
    """In a preview each planned item counts from the planned date of the one before it (the start
    for the first), as if each were done on its due date."""
    items = [i for i in preview_schedule(proto(META), D("2025-01-10"), years=1) if i.kind is ItemKind.VISIT]
    assert [(i.counts_from.isoformat(), i.due_date.isoformat()) for i in items] == [
        ("2025-01-10", "2025-04-10"), ("2025-04-10", "2025-07-10"), ("2025-07-10", "2025-10-10"),
        ("2025-10-10", "2026-01-10")]


# --------------------------------------------------------------------------- preview and rows


def test_preview_small_protocol() -> None:
    """The small protocol preview: month 6, 12, yearly to year 5, then every 24 months; CgA at the start."""
    items = preview_schedule(proto(SMALL), D("2025-01-10"), years=10)
    imaging = [i.due_date.isoformat() for i in items if i.kind is ItemKind.IMAGING]
    assert imaging == ["2025-07-10", "2026-01-10", "2027-01-10", "2028-01-10", "2029-01-10", "2030-01-10",
            "2032-01-10", "2034-01-10"]
    assert [D("2025-01-10")] == [i.due_date for i in items if i.kind is ItemKind.LAB]
    assert {DueStatus.NOT_DUE} == {i.status for i in items}
    assert imaging == [i.due_date.isoformat() for i in items if i.kind is ItemKind.VISIT]


def test_preview_metastatic_protocol() -> None:
    """The metastatic preview: 3-monthly in year 1, then 6-monthly, visit and CgA with each imaging."""
    items = preview_schedule(proto(META), D("2025-01-10"), years=2)
    imaging = [i.due_date.isoformat() for i in items if i.kind is ItemKind.IMAGING]
    assert imaging == ["2025-04-10", "2025-07-10", "2025-10-10", "2026-01-10", "2026-07-10", "2027-01-10"]
    assert imaging == [i.due_date.isoformat() for i in items if i.what == "chromogranin_a"]
    assert items[0].reason == "3 months after the protocol start 2025-01-10"


def test_due_rows_are_text_columns() -> None:
    """Schedule rows have the documented columns as text, with "" for no escalation."""
    (row, *_) = due_rows(preview_schedule(proto(SMALL), D("2025-01-10"), years=1))
    assert list(DUE_ITEM_FIELDS) == list(row) and row["escalated_by"] == ""


# --------------------------------------------------------------------------- properties

dates = st.dates(min_value=date(2015, 1, 1), max_value=date(2035, 12, 31))
pids = st.sampled_from([SMALL, META])
modalities = st.sampled_from(list(Modality))


@st.composite
def scenario(draw: st.DrawFn) -> tuple[str, object, list[Flag]]:
    start = draw(dates)
    offsets = st.integers(min_value=-400, max_value=3000)
    when = st.builds(lambda o: start + timedelta(days=o), offsets)
    records = [scan(w, modality=m) for w, m in draw(st.lists(st.tuples(when, modalities), max_size=8))]
    records += [visit(w) for w in draw(st.lists(when, max_size=5))]
    records += [lab(w, v) for w, v in draw(st.lists(st.tuples(when, st.integers(1, 400)), max_size=4))]
    flags = [flag(r, w.isoformat(), s) for r, w, s in draw(st.lists(st.tuples(
        st.sampled_from(["growth.relative", "schedule.overdue", "data.within_noise"]), when,
        st.sampled_from(list(Severity))), max_size=3))]
    pid = draw(pids)
    base = patient if pid == SMALL else metastatic_patient
    return pid, history(base(protocol_start=start), *records), flags


@settings(max_examples=150, deadline=None)
@given(scenario(), st.integers(min_value=0, max_value=4000))
def test_no_due_date_before_start(sc: tuple[str, object, list[Flag]], days: int) -> None:
    """No item is ever due before the protocol start."""
    pid, h, flags = sc
    as_of = h.patient.protocol_start + timedelta(days=days)
    for item in compute_schedule(h, proto(pid), flags, as_of=as_of):
        assert item.due_date >= h.patient.protocol_start


ORDER = [DueStatus.NOT_DUE, DueStatus.DUE_SOON, DueStatus.DUE, DueStatus.OVERDUE]


@settings(max_examples=150, deadline=None)
@given(scenario(), st.integers(min_value=0, max_value=3000), st.integers(min_value=1, max_value=800))
def test_status_only_moves_forward(sc: tuple[str, object, list[Flag]], days: int, step: int) -> None:
    """With no new records, an item's status only moves forward as the as-of date advances."""
    pid, h, flags = sc
    latest = max([r.date for r in (*h.scans, *h.visits, *h.labs)] + [f.date for f in flags]
                 + [h.patient.protocol_start])
    first = latest + timedelta(days=days)
    before = compute_schedule(h, proto(pid), flags, as_of=first)
    after = compute_schedule(h, proto(pid), flags, as_of=first + timedelta(days=step))
    assert [(i.kind, i.what, i.due_date) for i in before] == [(i.kind, i.what, i.due_date) for i in after]
    for b, a in zip(before, after, strict=True):
        assert ORDER.index(b.status) <= ORDER.index(a.status)


@settings(max_examples=100, deadline=None)
@given(pids, dates, st.integers(min_value=1, max_value=15))
def test_preview_dates_strictly_increase_per_kind(pid: str, start: date, years: int) -> None:
    """In a preview, the due dates of each item strictly increase, and no two occurrences of one
    item count from the same date (each has its own calendar event)."""
    seen: dict[tuple[ItemKind, str], date] = {}
    occurrences = set()
    for item in preview_schedule(proto(pid), start, years=years):
        key = (item.kind, item.what)
        assert key not in seen or seen[key] < item.due_date
        seen[key] = item.due_date
        assert item.due_date >= start and start <= item.counts_from <= item.due_date
        assert (key, item.counts_from) not in occurrences
        occurrences.add((key, item.counts_from))


def test_dates_beyond_the_calendar_clip_instead_of_crashing() -> None:
    """Month and day arithmetic past year 9999 clips to the calendar's end (a worklist never crashes)."""
    from tracker.domain.dates import add_days, add_months
    assert add_months(date(9999, 11, 30), 6) == date.max
    assert add_months(date(1, 3, 1), -6) == date.min
    assert add_days(date(9999, 12, 1), 60) == date.max
    assert add_days(date(1, 1, 5), -10) == date.min
    assert add_months(date(2025, 8, 31), 6) == date(2026, 2, 28)
