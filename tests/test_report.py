"""The one-page clinic report: one A4 page, the sections a nurse needs, escaped HTML, the CLI."""

from __future__ import annotations

import html
import re
from datetime import date
from pathlib import Path

import pytest

from tests.factories import builtin_protocol, history, lab, lesion, metastatic_patient, pathology, scan, visit
from tests.test_plots import _loaded  # noqa: F401  (fixture `loaded`: the CLI on the three examples)
from tracker.domain.model import DueItem, DueStatus, Flag, ItemKind, Severity
from tracker.report import A4_IN, FOOTER, ReportData, changes, flag_lines, render_html, report_figure, write_pdf

AS_OF = date(2026, 3, 1)
DANGER = "Lesion <P1> grew & \"fast\": discuss at the NET tumour board"


def _flag(rule: str, sev: Severity, message: str, when: str = "2026-01-08") -> Flag:
    return Flag(rule, sev, "SYN-001", date.fromisoformat(when), message, ("scan:3/P1",), "5", "src", "1")


def _data(flags: tuple[Flag, ...] = ()) -> ReportData:
    h = history(None, scan("2025-01-10", lesion("P1", 12)), scan("2025-07-08", lesion("P1", 14)),
                scan("2026-01-08", lesion("P1", 17)), visit("2025-01-10"), visit("2026-01-08", ppi=True),
                lab("2025-01-10", 130), lab("2026-01-08", 230), pathology("2026-02-10", ki67=4))
    items = (DueItem("SYN-001", ItemKind.IMAGING, "imaging (MRI)", date(2026, 4, 8), date(2026, 3, 9),
                     date(2026, 5, 8), DueStatus.NOT_DUE, "brought forward", date(2026, 1, 8)),)
    return ReportData(history=h, protocol=builtin_protocol("pnet-small-nf"), flags=flags, schedule=items,
                      as_of=AS_OF, version="9.9.9")


def _pdf_pages(path: Path) -> int:
    return len(re.findall(rb"/Type\s*/Page\b(?!s)", path.read_bytes()))


def test_pdf_is_exactly_one_page(tmp_path: Path) -> None:
    """The PDF report is exactly one page, even with many long flags."""
    flags = tuple(_flag(f"rule.{i}", Severity.WATCH, "a long explanation " * 20) for i in range(30))
    path = write_pdf(_data(flags), tmp_path / "r.pdf")
    assert path.read_bytes().startswith(b"%PDF-")
    assert _pdf_pages(path) == 1


def test_page_is_a4_with_footer_and_plots() -> None:
    """The page is A4 and carries the decision-support footer, as-of date, version and two plots."""
    fig = report_figure(_data())
    assert tuple(fig.get_size_inches()) == pytest.approx(A4_IN)
    texts = [t.get_text() for t in fig.texts]
    footer = next(t for t in texts if t.startswith(FOOTER))
    assert "2026-03-01" in footer and "9.9.9" in footer
    titles = [ax.get_title() for ax in fig.axes]
    assert any(t.startswith("Lesion size (mm)") for t in titles)
    assert "chromogranin A (ng/mL)" in titles


def test_body_text_is_at_least_9_pt() -> None:
    """Every line of text on the page (summary, changes, flags, items, notes, footer) is ≥ 9 pt."""
    flags = tuple(_flag(f"rule.{i}", Severity.WATCH, "a long explanation " * 5) for i in range(4))
    fig = report_figure(_data(flags))
    assert fig.texts and min(t.get_fontsize() for t in fig.texts) >= 9


def test_plots_share_one_time_axis_below_the_text() -> None:
    """The size plot and the marker plot are stacked over the same dates, the same width, only
    the lowest writing the dates; the plots start right below the text (no empty band)."""
    fig = report_figure(_data())
    axes = fig.axes
    assert len(axes) == 2
    assert axes[0].get_xlim() == axes[1].get_xlim()
    assert axes[0].get_position().x0 == axes[1].get_position().x0
    assert axes[0].get_position().width == axes[1].get_position().width
    assert axes[0].get_position().y0 > axes[1].get_position().y1
    fig.canvas.draw()
    assert not any(t.get_visible() and t.get_text() for t in axes[0].get_xticklabels())
    lowest_text = min(t.get_position()[1] for t in fig.texts if not t.get_text().startswith(FOOTER))
    top_of_plots = axes[0].get_position().y1
    assert 0 < lowest_text - top_of_plots < 0.08


def test_a_patient_without_scans_gets_no_empty_axis() -> None:
    """No CT, MRI or EUS size: no size axes (and no empty 0-1 frame); a sentence says why and
    the marker plot takes the room."""
    d = _data()
    h = history(None, visit("2026-01-08"), lab("2025-01-10", 130), lab("2026-01-08", 230))
    fig = report_figure(ReportData(h, d.protocol, (), d.schedule, AS_OF, "9.9.9"))
    assert [ax.get_title() for ax in fig.axes] == ["chromogranin A (ng/mL)"]
    assert all(ax.get_ylim() != (0.0, 1.0) for ax in fig.axes)
    assert "No CT, MRI or EUS size recorded yet: no size plot." in [t.get_text() for t in fig.texts]
    bare = report_figure(ReportData(history(None, visit("2026-01-08")), d.protocol, (), (), AS_OF, "9.9.9"))
    assert bare.axes == []
    assert "No tumour-marker results yet: no marker plot." in [t.get_text() for t in bare.texts]


def test_metastatic_page_shows_the_recist_sum() -> None:
    """On the metastatic protocol the page adds the RECIST target-sum panel on the same axis."""
    h = history(metastatic_patient(), *(scan(x, lesion("P1", p), lesion("L1", q, site="liver"), modality="CT")
                                        for x, p, q in (("2025-01-10", 25, 15), ("2025-04-10", 26, 16))))
    fig = report_figure(ReportData(h, builtin_protocol("pnet-metastatic-ww"), (), (), AS_OF, "9.9.9"))
    titles = [ax.get_title() for ax in fig.axes]
    assert titles[:2] == ["Lesion size (mm) — SYN-001", "RECIST 1.1 sum of target diameters"]  # not synthetic
    assert fig.axes[0].get_xlim() == fig.axes[1].get_xlim()


def test_flags_action_first() -> None:
    """Open flags are listed action first, then watch, then info."""
    flags = (_flag("a.info", Severity.INFO, "i"), _flag("b.watch", Severity.WATCH, "w"),
             _flag("c.action", Severity.ACTION, "a"))
    assert [sev for sev, _ in flag_lines(_data(flags))] == [Severity.ACTION, Severity.WATCH, Severity.INFO]


def test_too_many_flags_point_to_the_command() -> None:
    """Flags that do not fit are counted and the page names the command that lists them all."""
    flags = tuple(_flag(f"rule.{i}", Severity.WATCH, "a long explanation " * 20) for i in range(30))
    texts = [t.get_text() for t in report_figure(_data(flags)).texts]
    assert any("more flag(s): run `tracker flags SYN-001`" in t for t in texts)


def test_changes_since_last_visit() -> None:
    """Changes list each record since the last visit compared with the one before it."""
    anchor, lines = changes(_data())
    assert anchor == "since the last visit (2026-01-08)"
    assert "Lesion P1: 17 mm (MRI 2026-01-08), was 14 mm (MRI 2025-07-08): +3 mm" in lines
    assert any(line.startswith("chromogranin A: 230 ng/mL (2026-01-08), was 130") for line in lines)
    assert any(line.startswith("Pathology 2026-02-10: grade G2, Ki-67 4 %") for line in lines)


def test_html_escapes_flag_messages(tmp_path: Path) -> None:
    """The HTML page contains each flag's message escaped, never raw markup."""
    page = render_html(_data((_flag("growth.absolute", Severity.ACTION, DANGER),)))
    assert html.escape(DANGER) in page
    assert "<P1>" not in page


def test_html_is_self_contained_and_printable() -> None:
    """The HTML page embeds its plots, loads nothing from outside and has A4 print CSS."""
    page = render_html(_data())
    assert page.count("data:image/png;base64,") == 2
    assert "http://" not in page and "https://" not in page
    assert "@page { size: A4" in page
    assert html.escape(FOOTER) in page


# --------------------------------------------------------------------------- CLI


@pytest.mark.parametrize("label", ["SYN-STABLE", "SYN-GROWING", "SYN-METASTATIC"])
def test_cli_report_pdf_one_page(loaded, tmp_path: Path, label: str) -> None:  # type: ignore[no-untyped-def]
    """`tracker report PATIENT --out F.pdf` writes a one-page PDF for every example patient."""
    out = tmp_path / "r.pdf"
    res = loaded("report", label, "--out", str(out), "--as-of", "2026-11-22")
    assert res.exit_code == 0, res.output
    assert _pdf_pages(out) == 1


def test_cli_report_html(loaded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`tracker report PATIENT --out F.html` writes the HTML page with the open flags."""
    out = tmp_path / "r.html"
    res = loaded("report", "SYN-GROWING", "--out", str(out), "--as-of", "2026-11-22")
    assert res.exit_code == 0, res.output
    page = out.read_text(encoding="utf-8")
    assert "growth.absolute" in page and "SYN-GROWING (synthetic)" in page and "synthetic data</footer>" in page


def test_a_real_patient_s_report_never_says_synthetic() -> None:
    """"(synthetic)" is said only of a patient whose record is made-up data (rules of issue 13)."""
    page = render_html(_data())
    assert "synthetic" not in page.replace("synthetic test histories", "")
    assert not any("synthetic" in t.get_text() for t in report_figure(_data()).texts)


def test_cli_report_unknown_patient(loaded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """An unknown patient exits 1 with one sentence."""
    res = loaded("report", "SYN-NOBODY", "--out", str(tmp_path / "r.pdf"))
    assert res.exit_code == 1 and res.stderr.startswith("Error: ")
    assert len(res.stderr.strip().splitlines()) == 1


def test_cli_report_unknown_extension(loaded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A report can only be .pdf or .html."""
    res = loaded("report", "SYN-GROWING", "--out", str(tmp_path / "r.png"))
    assert res.exit_code == 1 and ".pdf, .html" in res.stderr


def test_write_patient_outputs_for_demo(loaded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The demo's service call writes three PNGs and the PDF report, and the cohort plot."""
    from tracker.config import Settings
    from tracker.services.plots import write_cohort_plot, write_patient_outputs

    settings = Settings(db_url=loaded.url, user="t")
    paths = write_patient_outputs(settings, "SYN-STABLE", tmp_path / "out", as_of=date(2026, 11, 22))
    assert [p.name for p in paths] == ["SYN-STABLE-size.png", "SYN-STABLE-markers.png", "SYN-STABLE-timeline.png",
                                       "SYN-STABLE-report.pdf"]
    assert all(p.stat().st_size > 0 for p in paths)
    cohort = write_cohort_plot(settings, tmp_path / "c" / "cohort.png", as_of=date(2026, 11, 22))
    assert cohort.read_bytes().startswith(b"\x89PNG")
