"""The worklist `tracker serve` keeps between requests (services.surveillance.worklist_cache): kept
while nothing is written, made again for the patients a write changed (by any code path), and
shown at the next page."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import Cli
from tests.webkit import TODAY, client, load_examples
from tracker.config import Settings

pytest.importorskip("starlette")


@pytest.fixture
def loaded(settings: Settings) -> Settings:
    load_examples(settings, ("syn-growing.json", "syn-stable.json"))
    return settings


@pytest.fixture
def evaluations(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """Whose views the worklist was made from, one entry a time: a label, or None for everyone."""
    from tracker.services.surveillance import worklist_cache

    calls: list[str | None] = []
    real = worklist_cache.views

    def counting(settings: Settings, ref: str | None, **kw: Any) -> Any:
        calls.append(ref)
        return real(settings, ref, **kw)

    monkeypatch.setattr(worklist_cache, "views", counting)
    return calls


def rows_of(html: str, patient: str) -> list[str]:
    return [r for r in re.findall(r'<li class="row .*?</li>', html, re.S) if f'href="/nurse/p/{patient}"' in r]


def test_the_worklist_is_kept_while_nothing_is_written(loaded: Settings, evaluations: list[str | None]) -> None:
    from tracker.services.surveillance import views, worklist_rows

    web = client(loaded)
    first = web.get("/nurse/worklist").text  # everyone's views; flags seen for the first time are logged
    second = web.get("/nurse/worklist").text  # made again for the two patients whose flags were logged
    assert evaluations == [None, "SYN-GROWING", "SYN-STABLE"] or evaluations == [None, "SYN-STABLE", "SYN-GROWING"]
    assert web.get("/nurse/worklist").text == second
    assert web.get("/nurse/worklist.csv").status_code == 200
    web.get("/nurse/worklist?status=overdue")  # another filter of the same rows
    assert len(evaluations) == 3  # nothing made again
    assert 'badge new' in first and 'badge new' not in second
    rows = worklist_rows(views(loaded, None, as_of=TODAY, record=False), as_of=TODAY, within_days=30, statuses=None)
    assert second.count('<li class="row ') == len(rows)  # what the CLI's worklist lists
    web.get("/nurse/worklist?within=90")
    assert evaluations[3:] == [None]  # another horizon: everyone's rows


def test_a_write_makes_only_that_patients_rows_again(loaded: Settings, evaluations: list[str | None]) -> None:
    web = client(loaded)
    web.get("/nurse/worklist")
    web.get("/nurse/worklist")
    del evaluations[:]
    r = Cli(loaded.db_url)("log", "lab", "SYN-STABLE", "--date", "2026-11-20", "--analyte", "CgA", "--value", "40",
                           "--unit", "ng/mL", "--assay", "BRAHMS KRYPTOR", "--uln", "102", "--as-of", TODAY.isoformat())
    assert r.exit_code == 0, r.stderr
    web.get("/nurse/worklist")
    assert evaluations == ["SYN-STABLE"]


def test_a_patient_added_by_an_import_shows_at_the_next_page(settings: Settings) -> None:
    load_examples(settings, ("syn-growing.json",))
    web = client(settings)
    page = "/nurse/worklist?within=365"  # the stable patient's next items are months away
    web.get(page)
    assert not rows_of(web.get(page).text, "SYN-STABLE")
    load_examples(settings, ("syn-stable.json",))
    assert rows_of(web.get(page).text, "SYN-STABLE")


def test_rows_follow_the_cli_after_any_sequence_of_writes(loaded: Settings) -> None:
    """After each write the kept worklist is the CLI's worklist, row for row."""
    from tracker.services.surveillance import views, worklist_rows
    from tracker.services.surveillance.worklist_cache import cached_worklist

    cli = Cli(loaded.db_url)
    ack = ("flag", "ack", "SYN-GROWING", "growth.absolute", "--reason", "board", "--as-of", TODAY.isoformat())
    amend = ("amend", "SYN-GROWING", "scan", "3", "--set", "lesions.P1.longest_mm=19", "--reason", "addendum", "--yes")
    visit = ("log", "visit", "SYN-GROWING", "--date", "2026-11-20", "--as-of", TODAY.isoformat())
    restored = ("worklist", "--as-of", TODAY.isoformat())  # another process stores the patient's state again
    leave = ("patient", "leave", "SYN-STABLE", "--date", "2026-11-01", "--reason", "treatment")
    for writes in [(), (ack,), (amend,), (visit, restored), (leave,)]:
        for write in writes:
            assert cli(*write).exit_code == 0, write
        first = cached_worklist(loaded, as_of=TODAY, within_days=365, statuses=None)
        repeated = cached_worklist(loaded, as_of=TODAY, within_days=365, statuses=None)
        fresh = worklist_rows(views(loaded, None, as_of=TODAY, record=False), as_of=TODAY, within_days=365,
                              statuses=None)

        def same(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [{k: v for k, v in r.items() if k not in ("_item", "new")} for r in rows]

        assert same(first) == same(fresh) and same(repeated) == same(fresh), writes


def test_a_review_from_another_process_shows_at_the_next_page(loaded: Settings) -> None:
    web = client(loaded)
    web.get("/nurse/worklist")
    kept = web.get("/nurse/worklist").text
    assert 'badge ack' not in kept
    r = Cli(loaded.db_url)("flag", "ack", "SYN-GROWING", "growth.absolute", "--reason", "on the board list",
                           "--as-of", TODAY.isoformat())
    assert r.exit_code == 0, r.stderr
    assert any('badge ack' in row for row in rows_of(web.get("/nurse/worklist").text, "SYN-GROWING"))


def test_an_amended_record_shows_at_the_next_page(loaded: Settings) -> None:
    web = client(loaded)
    web.get("/nurse/worklist")
    assert "to 17 mm" in "".join(rows_of(web.get("/nurse/worklist").text, "SYN-GROWING"))
    r = Cli(loaded.db_url)("amend", "SYN-GROWING", "scan", "3", "--set", "lesions.P1.longest_mm=19",
                           "--reason", "radiology addendum", "--yes")
    assert r.exit_code == 0, r.stderr
    growing = "".join(rows_of(web.get("/nurse/worklist").text, "SYN-GROWING"))
    assert "to 19 mm" in growing and "to 17 mm" not in growing


def test_a_patient_who_left_is_gone_from_the_next_page(loaded: Settings) -> None:
    web = client(loaded)
    web.get("/nurse/worklist")
    assert rows_of(web.get("/nurse/worklist").text, "SYN-GROWING")
    r = Cli(loaded.db_url)("patient", "leave", "SYN-GROWING", "--date", "2026-11-01", "--reason", "treatment")
    assert r.exit_code == 0, r.stderr
    html = web.get("/nurse/worklist").text
    assert not rows_of(html, "SYN-GROWING")


def test_labels_that_change_hands_while_rows_are_made_again_give_the_clis_rows(
        loaded: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process swaps two patients' labels between the worklist reading them and making a
    changed patient's rows: that patient's rows are not made from the other patient's view."""
    from tracker.services import records
    from tracker.services.surveillance import views, worklist_cache, worklist_rows

    real = worklist_cache.views
    swapped: list[bool] = []

    def swapping(settings: Settings, ref: str | None, **kw: Any) -> Any:
        if ref is not None and not swapped:
            swapped.append(True)
            for old, new in (("SYN-STABLE", "SYN-TMP"), ("SYN-GROWING", "SYN-STABLE"), ("SYN-TMP", "SYN-GROWING")):
                records.edit_patient(settings, old, {"label": new}, reason="labels swapped", today=TODAY)
        return real(settings, ref, **kw)

    worklist_cache.cached_worklist(loaded, as_of=TODAY, within_days=365, statuses=None)
    worklist_cache.cached_worklist(loaded, as_of=TODAY, within_days=365, statuses=None)  # flags now logged as seen
    Cli(loaded.db_url)("log", "visit", "SYN-GROWING", "--date", "2026-11-20", "--as-of", TODAY.isoformat())
    monkeypatch.setattr(worklist_cache, "views", swapping)
    got = worklist_cache.cached_worklist(loaded, as_of=TODAY, within_days=365, statuses=None)
    assert swapped
    fresh = worklist_rows(views(loaded, None, as_of=TODAY, record=False), as_of=TODAY, within_days=365, statuses=None)
    assert [(r["patient"], r["what"], r["due_date"]) for r in got] == [
        (r["patient"], r["what"], r["due_date"]) for r in fresh]
