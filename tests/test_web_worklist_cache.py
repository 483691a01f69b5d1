"""The worklist `tracker serve` keeps between requests (services.surveillance.worklist_cache): kept
while nothing is written, and every kind of write, by any code path, shows at the next page."""

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
def evaluations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per time the worklist was made afresh from the views of every patient."""
    from tracker.services.surveillance import worklist_cache

    calls: list[int] = []
    real = worklist_cache.views

    def counting(*args: Any, **kw: Any) -> Any:
        calls.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(worklist_cache, "views", counting)
    return calls


def rows_of(html: str, patient: str) -> list[str]:
    return [r for r in re.findall(r'<li class="row .*?</li>', html, re.S) if f'href="/nurse/p/{patient}"' in r]


def test_the_worklist_is_kept_while_nothing_is_written(loaded: Settings, evaluations: list[int]) -> None:
    from tracker.services.surveillance import views, worklist_rows

    web = client(loaded)
    first = web.get("/nurse/worklist").text  # flags seen for the first time: logged, so not kept yet
    second = web.get("/nurse/worklist").text
    assert len(evaluations) == 2
    assert web.get("/nurse/worklist").text == second
    assert web.get("/nurse/worklist.csv").status_code == 200
    assert len(evaluations) == 2  # the same rows, not made again
    assert 'badge new' in first and 'badge new' not in second
    rows = worklist_rows(views(loaded, None, as_of=TODAY, record=False), as_of=TODAY, within_days=30, statuses=None)
    assert second.count('<li class="row ') == len(rows)  # what the CLI's worklist lists
    web.get("/nurse/worklist?status=overdue")
    assert len(evaluations) == 3  # another filter is another worklist


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
