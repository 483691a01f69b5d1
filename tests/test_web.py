"""Route tests of `tracker serve` (Starlette's TestClient, no browser): every page and form, every
bad input (one sentence by the field, database unchanged), and every security check of issue 17.
Run on SQLite and on PostgreSQL."""

from __future__ import annotations

import html as html_lib
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.webkit import TODAY, client, csrf, load_examples, snapshot
from tracker.config import Settings
from tracker.web import security

pytest.importorskip("starlette")


@pytest.fixture
def loaded(settings: Settings) -> Settings:
    load_examples(settings)
    return settings


@pytest.fixture
def web(loaded: Settings) -> Any:
    return client(loaded)


def field_error(html: str, field: str) -> str:
    """The error sentence shown right under the field `field` ('' when none)."""
    m = re.search(rf'id="{re.escape(field)}"[^>]*>\s*<p class="error" id="{re.escape(field)}-error">([^<]*)</p>',
                  html)
    if m is None:  # a select: the error follows its closing tag
        m = re.search(rf'id="{re.escape(field)}"[^>]*>.*?</select>\s*<p class="error" id="{re.escape(field)}-error">'
                      r"([^<]*)</p>", html, re.S)
    return html_lib.unescape(m.group(1)) if m else ""


def value_of(html: str, field: str) -> str:
    m = re.search(rf'id="{re.escape(field)}" name="{re.escape(field)}"[^>]*value="([^"]*)"', html)
    return html_lib.unescape(m.group(1)) if m else ""


def post(c: Any, path: str, data: dict[str, Any], **kw: Any) -> Any:
    return c.post(path, data={security.CSRF_FIELD: csrf(c), **data}, follow_redirects=False, **kw)


# ------------------------------------------------------------------ security


def test_every_page_needs_the_session_from_the_printed_link(loaded: Settings) -> None:
    c = client(loaded, login=False)
    for path in ("/", "/p/SYN-GROWING", "/nurse/worklist", "/nurse/worklist.csv", "/p/SYN-GROWING/plot/size.svg",
                 "/static/../p/SYN-GROWING",
                 "/p/SYN-GROWING/report.pdf", "/nurse/p/SYN-GROWING", "/nurse/import", "/login/../"):
        r = c.get(path)
        assert r.status_code == 403, path
        assert "Open the link that <code>tracker serve</code> printed" in r.text
    assert c.get("/static/style.css").status_code == 200  # the stylesheet alone, for the 403 page
    before = snapshot(loaded)
    assert c.post("/p/SYN-GROWING/log/lab", data={"date": "2026-11-01"}).status_code == 403
    assert snapshot(loaded) == before


def test_the_link_works_once_and_sets_an_httponly_strict_cookie(loaded: Settings) -> None:
    c = client(loaded, login=False)
    assert c.get("/login?token=wrong", follow_redirects=False).status_code == 403
    r = c.get(f"/login?token={c.login_token}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{security.COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert c.get("/").status_code == 200
    other = client(loaded, login=False)
    other.sessions = c.sessions
    assert other.get(f"/login?token={c.login_token}", follow_redirects=False).status_code == 403  # used up
    assert other.get("/").status_code == 403


def test_a_session_cookie_that_was_not_issued_is_refused(loaded: Settings) -> None:
    c = client(loaded, login=False)
    assert c.get("/", headers={"cookie": f"{security.COOKIE}=made-up"}).status_code == 403


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8765", "127.0.0.1.evil.example", "10.0.0.1",
                                  "[2001:db8::1]:80", ""])
def test_a_host_header_that_is_not_this_computer_is_refused(web: Any, host: str) -> None:
    """DNS rebinding: a page of another site reaching the server by a name that resolves to 127.0.0.1."""
    r = web.get("/", headers={"host": host})
    assert r.status_code == 400
    assert "only to addresses of this computer" in r.text


@pytest.mark.parametrize("host", ["127.0.0.1:8765", "localhost:8765", "[::1]:8765", "127.0.0.2", "localhost"])
def test_loopback_names_and_addresses_are_served(web: Any, host: str) -> None:
    assert web.get("/", headers={"host": host}).status_code == 200


@given(st.from_regex(r"[a-z][a-z0-9-]{0,20}\.(com|org|example|net)(:[0-9]{1,5})?", fullmatch=True))
def test_no_public_name_is_taken_for_this_computer(host: str) -> None:
    assert not security.is_loopback_host(host)


def test_a_post_from_another_origin_or_without_origin_is_refused(web: Any, loaded: Settings) -> None:
    before = snapshot(loaded)
    lab = {"date": "2026-11-01", "analyte": "chromogranin_a", "value": "90", "unit": "ng/mL"}
    for headers in ({"origin": "http://evil.example"}, {"origin": "null"}, {"origin": "http://127.0.0.1:9"}):
        r = post(web, "/p/SYN-GROWING/log/lab", lab, headers=headers)
        assert r.status_code == 403, headers
        assert "not sent from a page of this server" in r.text
    del web.headers["origin"]
    assert post(web, "/p/SYN-GROWING/log/lab", lab).status_code == 403
    assert snapshot(loaded) == before


def test_a_post_without_the_csrf_token_is_refused(web: Any, loaded: Settings) -> None:
    before = snapshot(loaded)
    lab = {"date": "2026-11-01", "analyte": "chromogranin_a", "value": "90", "unit": "ng/mL"}
    assert web.post("/p/SYN-GROWING/log/lab", data=lab).status_code == 403
    r = web.post("/p/SYN-GROWING/log/lab", data={**lab, security.CSRF_FIELD: "forged"})
    assert r.status_code == 403 and "This form has expired" in r.text
    assert web.post("/p/SYN-GROWING/log/lab", content=b"\xff\xfe", headers={
        "content-type": "multipart/form-data; boundary=x"}).status_code == 403
    assert snapshot(loaded) == before


def test_every_response_carries_the_content_security_policy_and_no_cors(web: Any, loaded: Settings) -> None:
    for path in ("/", "/p/SYN-GROWING", "/nurse/worklist", "/static/style.css", "/nowhere"):
        r = web.get(path, headers={"origin": "http://evil.example"})
        assert r.headers["content-security-policy"].startswith("default-src 'self'"), path
        assert "access-control-allow-origin" not in r.headers
        assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"
    r = web.options("/p/SYN-GROWING/log/lab", headers={"origin": "http://evil.example",
                                                      "access-control-request-method": "POST"})
    assert r.status_code in (403, 405) and "access-control-allow-origin" not in r.headers
    refused = client(loaded, login=False).get("/")
    assert refused.headers["content-security-policy"].startswith("default-src 'self'")


def test_an_oversized_upload_is_refused_before_it_is_read(loaded: Settings) -> None:
    c = client(loaded, max_body=4096)
    before = snapshot(loaded)
    big = b'{"schema_version": 1, "patients": [' + b" " * 10_000 + b"]}"
    r = c.post("/nurse/import", data={security.CSRF_FIELD: csrf(c)}, files={"file": ("big.json", big)})
    assert r.status_code == 413
    assert "larger than" in r.text
    assert snapshot(loaded) == before


# ------------------------------------------------------------------ patient pages


def test_the_patient_home_shows_appointments_what_to_discuss_and_latest_values(web: Any) -> None:
    r = web.get("/p/SYN-GROWING")
    assert r.status_code == 200
    html = r.text
    assert "2026-04-08 (Wednesday)" in html  # ISO with the weekday
    assert "A scan" in html and "Brought forward because the tumour has grown" in html
    assert "Your team should discuss:</strong> The tumour has grown from 12 mm to 17 mm since January 2025." in html
    assert "Chromogranin A" in html or "chromogranin A" in html
    for clinical in ("nadir", "analyte", "scan:1/P1", "growth.absolute"):
        assert clinical not in html.split("<details>")[0], clinical  # only behind "the clinical wording"
    assert "<summary>The clinical wording</summary>" in html


def test_the_patient_home_says_when_the_patient_has_left_surveillance(web: Any, loaded: Settings) -> None:
    """From the leaving date on, the home page says nothing more is planned; not before it."""
    from datetime import date

    from tracker.domain import model as dm
    from tracker.services import records

    assert "You left surveillance" not in web.get("/p/SYN-GROWING").text
    records.leave_surveillance(loaded, "SYN-GROWING", date(2026, 11, 23), dm.LeaveReason.PATIENT_CHOICE, note="",
                               today=date(2026, 11, 23))
    assert "You left surveillance" not in web.get("/p/SYN-GROWING").text  # the page's today is 2026-11-22
    records.edit_patient(loaded, "SYN-GROWING", {"left_on": TODAY}, reason="left a day earlier", today=TODAY)
    assert "You left surveillance on 2026-11-22" in web.get("/p/SYN-GROWING").text


def test_the_patient_home_says_once_that_the_tumour_grew(web: Any) -> None:
    """Growth over the nadir in mm (action), in % and as mm/year (watch) are one sentence for the
    team to discuss, with the three clinical wordings behind it."""
    html = web.get("/p/SYN-GROWING").text
    items = re.findall(r'<li class="to-(?:discuss|watch)">(.*?)</li>', html, re.S)
    growth = [x for x in items if re.search(r"has grown|growing", x.split("<details>")[0])]
    assert len(growth) == 1 and "Your team should discuss:</strong> The tumour has grown from 12 mm" in growth[0]
    assert growth[0].count("Lesion P1 grew") == 2 and growth[0].count("Lesion P1 grows") == 1


def test_the_patient_home_tells_a_watch_flag_from_a_discussion_and_names_the_marker(web: Any) -> None:
    """An action flag is for the team to discuss; a watch flag (rules.md section 1: a soft signal)
    is something the team keeps an eye on. A rising marker is named. No nurse link on the page."""
    html = web.get("/p/SYN-GROWING").text
    assert "Your team keeps an eye on this:</strong> Chromogranin A has gone up." in html
    assert "Your team should discuss:</strong> Chromogranin A" not in html
    assert "blood marker" not in html
    for page in ("", "/log/lab", "/log/scan", "/log/visit", "/trends"):
        text = web.get(f"/p/SYN-GROWING{page}").text
        assert 'href="/nurse/' not in text, page


def test_an_unknown_patient_is_one_sentence_and_404(web: Any) -> None:
    r = web.get("/p/NOBODY")
    assert r.status_code == 404
    assert "no patient" in r.text.lower() and "Traceback" not in r.text


LAB = {"date": "2026-11-01", "analyte": "chromogranin_a", "value": "250", "unit": "ng/mL", "uln": "102"}


def test_a_blood_result_is_stored_patient_entered_and_confirmed_exactly(web: Any, loaded: Settings) -> None:
    from tracker.services.records import history

    r = post(web, "/p/SYN-GROWING/log/lab", LAB)
    assert r.status_code == 303
    page = web.get(r.headers["location"])
    assert "Blood test of 2026-11-01: chromogranin A 250 ng/mL (upper limit of normal 102 ng/mL)" in page.text
    _, recs = history(loaded, "SYN-GROWING")
    lab = [x.record for x in recs if x.kind == "lab"][-1]
    assert (str(lab.value), lab.unit, lab.provenance.source.value, lab.provenance.verified) == \
        ("250", "ng/mL", "patient", False)


@pytest.mark.parametrize(("field", "value", "sentence"), [
    ("date", "2026-02-30", "'2026-02-30' is not a date that exists; use YYYY-MM-DD, for example 2025-12-31"),
    ("date", "2026-12-24", "2026-12-24 is in the future (today is 2026-11-22)"),
    ("date", "", "the date of the blood test is required"),
    ("analyte", "", "the test is required"),
    ("unit", "mg", "mg"),
    ("value", "abc", "abc"),
    ("value", "-5", "a lab value cannot be negative, got -5"),
    ("uln", "0", "an upper reference limit must be above 0"),
])
def test_a_bad_blood_result_is_refused_by_its_field_with_everything_kept(web: Any, loaded: Settings, field: str,
                                                                        value: str, sentence: str) -> None:
    before = snapshot(loaded)
    r = post(web, "/p/SYN-GROWING/log/lab", {**LAB, field: value})
    assert r.status_code == 422
    assert sentence in field_error(r.text, field), r.text[:3000]
    assert r.text.count(f'id="{field}-error"') == 1  # one sentence, not one per check
    for name in ("date", "value", "unit", "uln"):
        assert value_of(r.text, name) == ({**LAB, field: value})[name]
    assert snapshot(loaded) == before


SCAN = {"date": "2026-11-01", "modality": "MRI", "lesion0": "P1", "site0": "pancreas", "size0": "1.8",
        "unit0": "cm"}


def test_a_scan_in_cm_is_stored_in_mm(web: Any, loaded: Settings) -> None:
    r = post(web, "/p/SYN-GROWING/log/scan", SCAN)
    assert r.status_code == 303, r.text
    assert "MRI scan of 2026-11-01: P1 in the pancreas: 18 mm" in web.get(r.headers["location"]).text


@pytest.mark.parametrize(("changes", "field", "sentence"), [
    ({"size0": "-3"}, "size0", "a size must be above 0 mm"),
    ({"size0": "0", "lesion0": "P9"}, "size0", "0 mm means P9 has disappeared, but no earlier scan shows P9"),
    ({"size0": "14", "unit0": ""}, "unit0", "choose the unit of the size: mm or cm"),
    ({"size0": "14", "unit0": "in"}, "unit0", "choose the unit of the size: mm or cm"),
    ({"size0": "1.4cm", "unit0": "mm"}, "size0", "is not a size"),
    ({"size0": "140", "unit0": "mm"}, "size0", "140 mm is not a plausible size"),
    ({"site0": ""}, "site0", "the place of the lesion is required"),
    ({"modality": "X-ray"}, "modality", "is not a valid value"),
    ({"lesion0": ""}, "lesion0", "give the lesion a name"),
])
def test_a_bad_scan_is_refused_by_its_field(web: Any, loaded: Settings, changes: dict[str, str], field: str,
                                            sentence: str) -> None:
    before = snapshot(loaded)
    r = post(web, "/p/SYN-GROWING/log/scan", {**SCAN, **changes})
    assert r.status_code == 422
    assert sentence in field_error(r.text, field), r.text[:4000]
    assert value_of(r.text, "size0") == {**SCAN, **changes}["size0"]
    assert snapshot(loaded) == before


def test_a_visit_with_symptoms_ppi_and_weight(web: Any) -> None:
    r = web.post("/p/SYN-GROWING/log/visit", data={security.CSRF_FIELD: csrf(web), "date": "2026-11-01",
                                                    "symptom": ["back_pain", "flushing"], "ppi": "yes",
                                                    "weight": "70.5"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    text = web.get(r.headers["location"]).text
    assert "Visit of 2026-11-01: back pain, flushing (sudden red, warm face); weight 70.5 kg; taking a " \
           "stomach-acid tablet (PPI)" in text


def test_a_bad_weight_is_refused_by_its_field_and_the_ticked_symptoms_stay_ticked(web: Any, loaded: Settings) -> None:
    before = snapshot(loaded)
    r = web.post("/p/SYN-GROWING/log/visit", data={security.CSRF_FIELD: csrf(web), "date": "2026-11-01",
                                                    "symptom": ["back_pain"], "weight": "-70"})
    assert r.status_code == 422
    assert "weight in kg must be above 0" in field_error(r.text, "weight")
    assert 'value="back_pain" checked' in r.text
    assert snapshot(loaded) == before


def test_the_trends_page_shows_the_three_plots_as_svg_and_the_report_as_pdf(web: Any) -> None:
    html = web.get("/p/SYN-GROWING/trends").text
    for kind in ("size", "markers", "timeline"):
        assert f'src="/p/SYN-GROWING/plot/{kind}.svg"' in html
    r = web.get("/p/SYN-GROWING/plot/markers.svg")
    assert r.headers["content-type"] == "image/svg+xml" and r.content.lstrip().startswith(b"<?xml")
    pdf = web.get("/p/SYN-GROWING/report.pdf")
    assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
    assert web.get("/p/SYN-GROWING/plot/pie.svg").status_code == 404


def test_a_phone_gets_each_plot_narrow_with_its_legend_below(web: Any) -> None:
    """At 375 px a legend right of the axes was cut off: a phone's browser picks the plot drawn for
    its width (`?fit=phone`), whose legend is under the axes, in one column."""
    html = web.get("/p/SYN-GROWING/trends").text
    for kind in ("size", "markers", "timeline"):
        assert f'<source media="(max-width: 40rem)" srcset="/p/SYN-GROWING/plot/{kind}.svg?fit=phone">' in html

    def width_pt(svg: bytes) -> float:
        return float(re.search(rb'<svg[^>]* width="([0-9.]+)pt"', svg).group(1))  # type: ignore[union-attr]

    wide, phone = (web.get(f"/p/SYN-GROWING/plot/size.svg{q}").content for q in ("", "?fit=phone"))
    assert width_pt(phone) < 0.5 * width_pt(wide) and b"least-squares fit" in phone


# ------------------------------------------------------------------ nurse pages


def test_the_worklist_in_the_cli_order_filtered_and_paginated(web: Any, loaded: Settings) -> None:
    from tracker.domain.schedule import display_what
    from tracker.services.surveillance import views, worklist_rows

    rows = worklist_rows(views(loaded, None, as_of=TODAY), as_of=TODAY, within_days=30, statuses=None)
    html = web.get("/nurse/worklist").text
    shown = re.findall(r'<a href="/nurse/p/([^"]+)">[^<]*</a> · (.+?) · <span class="date">(\d{4}-\d\d-\d\d)</span>',
                       html)
    assert shown == [(r["patient"], display_what(r["_item"]) if r["_item"] else r["what"], r["due_date"]) for r in rows]
    assert "chromogranin A" in {w for _, w, _ in shown}  # a lab by its name, never its code
    only = web.get("/nurse/worklist?status=overdue").text
    assert "tumour board</span>" not in only and "overdue</span>" in only
    assert web.get("/nurse/worklist?status=late").status_code == 400
    assert "give between 0 and 3660 days" in web.get("/nurse/worklist?within=9999").text
    assert web.get("/nurse/worklist?page=99").status_code == 200


def test_a_flag_is_acknowledged_from_its_worklist_row_with_a_reason(web: Any, loaded: Settings) -> None:
    html = web.get("/nurse/worklist").text
    key = re.search(r'name="key" value="([^"]+)"', html).group(1)  # type: ignore[union-attr]
    before = snapshot(loaded)
    r = post(web, "/nurse/review/SYN-GROWING", {"key": key, "action": "acknowledge", "reason": " ",
                                                "back": "status=&within=30"})
    assert r.status_code == 422 and "give a reason" in r.text
    assert "--reason" not in r.text  # a web page names its field, never the command line's option
    assert snapshot(loaded) == before
    r = post(web, "/nurse/review/SYN-GROWING", {"key": key, "action": "acknowledge", "reason": "on the board list",
                                                "back": "status=&within=30"})
    assert r.status_code == 303
    page = web.get(r.headers["location"]).text
    assert "Acknowledged growth.absolute of SYN-GROWING" in page
    assert '<span class="badge ack">acknowledged</span>' in page


def test_an_overdue_row_is_booked_until_a_date_not_acknowledged(web: Any, loaded: Settings) -> None:
    """Acknowledging an overdue appointment is not defined by the rules: its row offers what the CLI
    does for it (`flag snooze PATIENT overdue imaging --until DATE`), the date it is booked for."""
    html = web.get("/nurse/worklist?status=overdue").text
    rows = re.findall(r'<li class="row status-overdue".*?</li>', html, re.S)
    assert rows and all('value="acknowledge"' not in r for r in rows)
    row = next(r for r in rows if 'name="key"' in r)
    key = html_lib.unescape(re.search(r'name="key" value="([^"]+)"', row).group(1))  # type: ignore[union-attr]
    assert 'value="snooze"' in row and "Booked for" in row
    r = post(web, "/nurse/review/SYN-GROWING", {"key": key, "action": "snooze", "reason": "MRI booked",
                                                "until": "2026-12-20", "back": "status=overdue&within=30"})
    assert r.status_code == 303, r.text
    assert "Snoozed schedule.overdue of SYN-GROWING" in web.get(r.headers["location"]).text


def test_the_patient_page_words_an_overdue_flag_as_its_worklist_row(web: Any) -> None:
    """The same action has the same words on the nurse's patient page and on the worklist: an
    overdue item is booked for a date ("Booked: hide until then"), never acknowledged there."""
    html = web.get("/nurse/p/SYN-GROWING").text
    flags = re.findall(r'<li class="sev-.*?</li>', html, re.S)
    overdue = [f for f in flags if "<strong>schedule.overdue</strong>" in f]
    assert overdue and all('value="acknowledge"' not in f and "Booked for (YYYY-MM-DD)" in f
                           and ">Booked: hide until then</button>" in f for f in overdue)
    assert all('value="acknowledge"' in f for f in flags if f not in overdue)
    row = re.search(r'<li class="row status-overdue".*?</li>',
                    web.get("/nurse/worklist?status=overdue").text, re.S).group(0)  # type: ignore[union-attr]
    assert "Booked for (YYYY-MM-DD)" in row and ">Booked: hide until then</button>" in row


def test_the_worklist_exports_csv_and_icalendar_as_the_cli(web: Any, loaded: Settings) -> None:
    from tests.conftest import Cli

    cli = Cli(loaded.db_url)
    web.get("/nurse/worklist")  # flags first seen here: "new" no more in either export
    assert web.get("/nurse/worklist.csv").text == cli("worklist", "--as-of", TODAY.isoformat(), "--format",
                                                      "csv").stdout
    ics = web.get("/nurse/worklist.ics?status=overdue")
    assert ics.headers["content-type"].startswith("text/calendar")
    def events(text: str) -> list[str]:  # without the time each was written
        return [x for x in text.replace("\r\n", "\n").splitlines() if not x.startswith(("DTSTAMP", "LAST-MODIFIED"))]

    assert "BEGIN:VEVENT" in ics.text
    assert events(ics.text) == events(cli("worklist", "--as-of", TODAY.isoformat(), "--status", "overdue",
                                          "--format", "ics").stdout)
    assert web.get("/nurse/worklist.pdf").status_code == 404


def test_the_nurse_patient_page_has_history_flags_in_full_schedule_plots_and_audit(web: Any) -> None:
    html = re.sub(r'</?span( class="date")?>', "", web.get("/nurse/p/SYN-GROWING").text)
    assert "Lesion P1 grew from 12 mm (MRI, 2025-01-10) to 17 mm (MRI, 2026-01-08)" in html
    assert "Evidence: scan:1/P1, scan:3/P1" in html
    assert "brought forward to 3 months after growth.absolute" in html
    assert 'src="/p/SYN-GROWING/plot/size.svg"' in html
    assert "Audit trail" in html and "import" in html


def test_amend_and_void_a_record_with_a_reason(web: Any, loaded: Settings) -> None:
    from tracker.services.records import audit_trail, history

    _, recs = history(loaded, "SYN-GROWING")
    lab = next(x.record for x in recs if x.kind == "lab")
    form = web.get(f"/nurse/p/SYN-GROWING/amend/lab/{lab.id}").text
    assert value_of(form, "f:value") == str(lab.value)
    before = snapshot(loaded)
    r = post(web, f"/nurse/p/SYN-GROWING/amend/lab/{lab.id}", {"f:value": "abc", "reason": "lab letter"})
    assert r.status_code == 422 and "abc" in r.text
    r = post(web, f"/nurse/p/SYN-GROWING/amend/lab/{lab.id}", {"f:value": "131", "reason": ""})
    assert r.status_code == 422 and "an amendment needs a reason" in field_error(r.text, "reason")
    assert "--reason" not in r.text
    assert value_of(r.text, "f:value") == "131"
    assert snapshot(loaded) == before
    r = post(web, f"/nurse/p/SYN-GROWING/amend/lab/{lab.id}", {"f:value": "131", "reason": "lab letter"})
    assert r.status_code == 303, r.text
    assert audit_trail(loaded, "SYN-GROWING")[-1]["changes"] == f"value: {lab.value} -> 131"
    r = post(web, f"/nurse/p/SYN-GROWING/amend/lab/{lab.id}", {"do": "void", "reason": "wrong patient"})
    assert r.status_code == 303
    assert "(void: wrong patient)" in web.get("/nurse/p/SYN-GROWING").text


def test_an_implausible_amendment_is_asked_about_then_stored_verified_when_confirmed(web: Any,
                                                                                    loaded: Settings) -> None:
    """rules.md section 5: an amend that looks like an entry error asks "Yes, this is right";
    ticked, the corrected record is stored verified."""
    lab = _latest(loaded, "lab")
    before = snapshot(loaded)
    typed = {"f:value": "5000000", "reason": "lab letter"}
    r = post(web, f"/nurse/p/SYN-GROWING/amend/lab/{lab.id}", typed)
    assert r.status_code == 422 and 'name="confirm" value="yes"' in r.text and "Yes, this is right" in r.text
    assert value_of(r.text, "f:value") == "5000000"
    assert snapshot(loaded) == before
    r = post(web, f"/nurse/p/SYN-GROWING/amend/lab/{lab.id}", {**typed, "confirm": "yes"})
    assert r.status_code == 303, r.text
    stored = _latest(loaded, "lab")
    assert (str(stored.value), stored.provenance.verified) == ("5000000", True)


def test_import_is_all_or_nothing_and_lists_every_problem(web: Any, loaded: Settings) -> None:
    from tests.conftest import EXAMPLES

    good = (EXAMPLES / "syn-stable.json").read_bytes()
    r = web.post("/nurse/import", data={security.CSRF_FIELD: csrf(web)}, files={"file": ("syn-stable.json", good)})
    assert r.status_code == 200 and "Imported syn-stable.json: 1 new patient(s)" in r.text
    before = snapshot(loaded)
    bad = good.replace(b'"2023-03-15"', b'"2023-02-30"', 1).replace(b'"SYN-STABLE"', b'"SYN-OTHER"')
    r = web.post("/nurse/import", data={security.CSRF_FIELD: csrf(web)}, files={"file": ("clinic.json", bad)})
    assert r.status_code == 422 and "Nothing was imported from clinic.json" in r.text
    assert "2023-02-30" in r.text
    r = web.post("/nurse/import", data={security.CSRF_FIELD: csrf(web)}, files={"file": ("notes.txt", b"hi")})
    assert r.status_code == 422 and "choose a .json or .csv file" in r.text
    assert snapshot(loaded) == before


def test_a_watch_flag_is_snoozed_from_the_patient_record_until_a_date(web: Any, loaded: Settings) -> None:
    html = web.get("/nurse/p/SYN-GROWING").text
    key = next(k for k in re.findall(r'name="key" value="([^"]+)"', html) if k.startswith("marker.rise"))
    before = snapshot(loaded)
    r = post(web, "/nurse/review/SYN-GROWING", {"from": "record", "key": key, "action": "snooze",
                                                "reason": "repeat off PPI", "until": "2026-02-30"})
    assert r.status_code == 422 and "is not a date that exists" in r.text
    r = post(web, "/nurse/review/SYN-GROWING", {"from": "record", "key": key, "action": "snooze",
                                                "reason": "repeat off PPI", "until": "2027-12-01"})
    assert r.status_code == 422 and "at most 183 days later" in r.text
    assert snapshot(loaded) == before
    r = post(web, "/nurse/review/SYN-GROWING", {"from": "record", "key": key, "action": "snooze",
                                                "reason": "repeat off PPI", "until": "2027-01-15"})
    assert r.status_code == 303 and r.headers["location"].startswith("/nurse/p/SYN-GROWING")
    assert "Snoozed: marker.rise until 2027-01-15" in web.get(r.headers["location"]).text


# ------------------------------------------------------------------ entry safety (issue 13 through the forms)


def _latest(settings: Settings, kind: str) -> Any:
    from tracker.services.records import history

    _, recs = history(settings, "SYN-GROWING")
    return [x.record for x in recs if x.kind == kind][-1]


def test_an_implausible_blood_result_is_asked_about_then_stored_verified_when_confirmed(web: Any,
                                                                                       loaded: Settings) -> None:
    before = snapshot(loaded)
    typed = {**LAB, "value": "5000000"}
    r = post(web, "/p/SYN-GROWING/log/lab", typed)
    assert r.status_code == 422
    assert "far outside what this test gives" in field_error(r.text, "value")
    assert 'name="confirm" value="yes"' in r.text and "Yes, this is right" in r.text
    for name in ("date", "value", "unit", "uln"):
        assert value_of(r.text, name) == typed[name]
    assert snapshot(loaded) == before
    r = post(web, "/p/SYN-GROWING/log/lab", {**typed, "confirm": "yes"})
    assert r.status_code == 303, r.text
    lab = _latest(loaded, "lab")
    assert (str(lab.value), lab.provenance.source.value, lab.provenance.verified) == ("5000000", "patient", True)
    saved = web.get(r.headers["location"]).text  # the page says what is stored: checked, by the person's own word
    assert "You confirmed that this value is right, so it is stored as checked." in saved
    assert "not yet checked" not in saved


def test_a_size_ten_times_smaller_is_asked_about_by_its_field_then_stored_verified(web: Any, loaded: Settings) -> None:
    before = snapshot(loaded)
    typed = {**SCAN, "size0": "1.7", "unit0": "mm"}
    r = post(web, "/p/SYN-GROWING/log/scan", typed)
    assert r.status_code == 422
    said = field_error(r.text, "size0")
    assert "P1 1.7 mm is ten times smaller than at the last scan (scan #" in said and "Was it 17 mm?" in said
    assert value_of(r.text, "size0") == "1.7" and 'value="mm" selected' in r.text
    assert snapshot(loaded) == before
    r = post(web, "/p/SYN-GROWING/log/scan", {**typed, "confirm": "yes"})
    assert r.status_code == 303, r.text
    scan = _latest(loaded, "scan")
    assert (str(scan.lesions[0].longest_mm), scan.provenance.verified) == ("1.7", True)


def test_a_number_with_a_comma_is_refused_with_the_services_sentence_by_its_field(web: Any, loaded: Settings) -> None:
    before = snapshot(loaded)
    r = post(web, "/p/SYN-GROWING/log/lab", {**LAB, "value": "1,400"})
    assert r.status_code == 422
    assert "'1,400' can be read two ways: write 1400 or 1.4" in field_error(r.text, "value")
    assert value_of(r.text, "value") == "1,400"
    assert 'name="confirm"' not in r.text  # a refusal, not a question
    assert snapshot(loaded) == before


def test_a_record_of_another_patient_is_not_found_on_the_nurse_pages(web: Any, loaded: Settings) -> None:
    load_examples(loaded, ("syn-stable.json",))
    from tracker.services.records import history

    _, recs = history(loaded, "SYN-STABLE")
    other = next(x.record for x in recs if x.kind == "lab")
    before = snapshot(loaded)
    assert web.get(f"/nurse/p/SYN-GROWING/amend/lab/{other.id}").status_code == 404
    r = post(web, f"/nurse/p/SYN-GROWING/amend/lab/{other.id}", {"do": "void", "reason": "wrong patient"})
    assert r.status_code == 404
    assert post(web, f"/nurse/p/SYN-GROWING/verify/lab/{other.id}", {"reason": "lab letter"}).status_code == 404
    assert snapshot(loaded) == before


def test_a_nurse_verifies_a_record_from_its_row_with_a_reason(web: Any, loaded: Settings) -> None:
    r = post(web, "/p/SYN-GROWING/log/lab", LAB)
    lab = _latest(loaded, "lab")
    assert not lab.provenance.verified
    page = web.get("/nurse/p/SYN-GROWING").text
    assert f'action="/nurse/p/SYN-GROWING/verify/lab/{lab.id}"' in page
    before = snapshot(loaded)
    r = post(web, f"/nurse/p/SYN-GROWING/verify/lab/{lab.id}", {"reason": " "})
    assert r.status_code == 422 and "say what it was checked against" in r.text
    assert snapshot(loaded) == before
    r = post(web, f"/nurse/p/SYN-GROWING/verify/lab/{lab.id}", {"reason": "lab letter of 2026-11-02"})
    assert r.status_code == 303
    assert f"Verified lab #{lab.id}" in web.get(r.headers["location"]).text
    assert _latest(loaded, "lab").provenance.verified
    assert f'action="/nurse/p/SYN-GROWING/verify/lab/{lab.id}"' not in web.get("/nurse/p/SYN-GROWING").text


def test_a_flag_on_an_unchecked_value_says_so_in_plain_words_on_the_patient_home(loaded: Settings,
                                                                               tmp_path: Any) -> None:
    import json

    from tests.conftest import EXAMPLES
    from tracker.services.files import import_file

    doc = json.loads((EXAMPLES / "syn-growing.json").read_text())
    doc["patient"]["label"] = "SYN-DOUBT"
    doc["labs"][-1].update(value=5000000, verified=False, source="patient")  # a typing slip, not yet checked
    (tmp_path / "doubt.json").write_text(json.dumps(doc))
    import_file(loaded, tmp_path / "doubt.json", today=TODAY)
    html = client(loaded).get("/p/SYN-DOUBT").text
    plain = re.sub(r"<details>.*?</details>", "", html, flags=re.S)  # the clinical wording names the value
    assert "Chromogranin A has gone up; this depends on a value not yet checked." in plain, plain
    assert "unconfirmed" not in plain and "lab:" not in plain


def test_form_field_attributes_reach_the_browser_unescaped(web: Any) -> None:
    """The lab form asks phones for the number keypad and links the unit suggestions: its
    attributes are written as attributes, never as escaped text ('inputmode="&quot;decimal&quot;"')."""
    page = web.get("/p/SYN-GROWING/log/lab").text
    assert 'inputmode="decimal"' in page and 'list="units"' in page and "&quot;" not in page


def test_a_portal_download_is_imported_for_a_patient_and_its_reports_link_to_the_scan_form(web: Any,
                                                                                        loaded: Settings) -> None:
    from pathlib import Path

    data = (Path(__file__).parent / "data" / "fhir" / "syn-portal-download.json").read_bytes()
    before = snapshot(loaded)
    r = web.post("/nurse/import", data={security.CSRF_FIELD: csrf(web)}, files={"file": ("portal.json", data)})
    assert r.status_code == 422 and "choose the patient it belongs to" in r.text
    assert snapshot(loaded) == before
    r = web.post("/nurse/import", data={security.CSRF_FIELD: csrf(web), "patient": "SYN-GROWING"},
                 files={"file": ("portal.json", data)})
    assert r.status_code == 200, r.text
    assert "Imported portal.json into SYN-GROWING: 4 record(s) added" in r.text
    assert "MRI abdomen with contrast" in r.text
    link = html_lib.unescape(re.search(r'<a href="([^"]+)">Enter its sizes</a>', r.text).group(1))  # type: ignore[union-attr]
    assert link == "/p/SYN-GROWING/log/scan?date=2025-09-10&modality=MRI"
    form = web.get(link).text
    assert value_of(form, "date") == "2025-09-10" and '<option value="MRI" selected>' in form
