"""Plots: what is drawn (lines, thresholds, legends, panels, scales), not pixels; the plot service
and the `tracker plot` command."""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import replace
from datetime import date
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path

import matplotlib.dates as mdates
import pytest
from hypothesis import given
from hypothesis import strategies as st
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from tests.factories import builtin_protocol, history, lab, lesion, metastatic_patient, pathology, scan, visit
from tracker.domain.model import DueItem, DueStatus, Flag, ItemKind, PatientHistory, Severity
from tracker.domain.recist import is_progression
from tracker.domain.rules import evaluate_flags
from tracker.errors import ValidationError
from tracker.plots.cohort import BurdenSeries, burden_series, cohort_figure, plot_spider, plot_waterfall
from tracker.plots.markers import marker_panels, markers_figure, on_ppi
from tracker.plots.size import pd_line, plot_recist_sum, plot_size, size_figure
from tracker.plots.timeline import ROWS, plot_timeline
from tracker.services.plots import save_figure

REPO = Path(__file__).resolve().parent.parent
AS_OF = date(2026, 3, 1)
SMALL = builtin_protocol("pnet-small-nf")
METASTATIC = builtin_protocol("pnet-metastatic-ww")


def _growing():
    return history(None, scan("2025-01-10", lesion("P1", 12)), scan("2025-07-08", lesion("P1", 14)),
                   scan("2026-01-08", lesion("P1", 17), lesion("N1", site="regional_node", short_axis=6)),
                   visit("2025-01-10"), visit("2026-01-08", "abdominal_pain", ppi=True),
                   lab("2025-01-10", 130), lab("2026-01-08", 230), pathology("2025-01-20", ki67=2))


def _ax() -> Axes:
    return Figure().add_subplot()


def _labels(ax: Axes) -> list[str]:
    leg = ax.get_legend()
    return [t.get_text() for t in leg.get_texts()] if leg else []


def _hlines_y(ax: Axes, colour_style: str) -> set[float]:
    return {round(float(ln.get_ydata()[0]), 6) for ln in ax.get_lines()
            if ln.get_linestyle() == colour_style and len(set(ln.get_ydata())) == 1}


# --------------------------------------------------------------------------- size


def test_size_draws_one_line_per_lesion_with_each_size() -> None:
    """Each lesion sized on CT/MRI/EUS is one line through all its sizes."""
    ax = plot_size(_ax(), _growing(), SMALL, as_of=AS_OF)
    lesion_lines = [ln for ln in ax.get_lines() if ln.get_label() in ("P1 (pancreas)", "N1 (node, short axis)")]
    assert [len(ln.get_xdata()) for ln in lesion_lines] == [3, 1]
    assert list(lesion_lines[0].get_ydata()) == [12.0, 14.0, 17.0]


def test_size_threshold_line_at_protocol_size_max() -> None:
    """The small protocol's 20 mm size threshold is drawn as a horizontal line at 20 mm, and
    the line itself says what it is."""
    ax = plot_size(_ax(), _growing(), SMALL, as_of=AS_OF)
    assert 20.0 in _hlines_y(ax, "-.")
    assert any("size threshold 20 mm" in t for t in _labels(ax))
    assert "size threshold 20 mm" in _texts(ax)


def _texts(ax: Axes) -> list[str]:
    return [t.get_text() for t in ax.texts]


def test_size_threshold_absent_when_rule_off() -> None:
    """The metastatic protocol does not use size.threshold, so no threshold line is drawn."""
    h = history(metastatic_patient(), scan("2025-01-10", lesion("P1", 25)), scan("2025-04-10", lesion("P1", 26)))
    ax = plot_size(_ax(), h, METASTATIC, as_of=AS_OF)
    assert not any("threshold" in t for t in _labels(ax))
    assert not any("nadir" in t for t in _labels(ax))


def test_size_nadir_plus_growth_line() -> None:
    """The pancreatic lesion's nadir 12 mm + 5 mm gives the 17 mm line, labelled as the growth
    threshold it is (not as the nadir)."""
    ax = plot_size(_ax(), _growing(), SMALL, as_of=AS_OF)
    assert "P1 growth threshold 17 mm" in _texts(ax)
    assert "growth threshold: nadir + 5 mm" in _labels(ax)
    assert not any(t.startswith("nadir") or "P1 nadir" in t for t in _labels(ax) + _texts(ax))
    segs = [c for c in ax.collections if c.get_label().startswith("_growth P1")]
    assert segs[0].get_segments()[0][0][1] == pytest.approx(17.0)


def test_size_legend_gives_rate_and_doubling_time() -> None:
    """The lesion's legend entry gives the fitted mm/year and the volume doubling time."""
    ax = plot_size(_ax(), _growing(), SMALL, as_of=AS_OF)
    fit = [t for t in _labels(ax) if "mm/year" in t and t.startswith("P1")]
    assert fit == [next(t for t in fit)]
    assert fit[0].startswith("P1 (pancreas): fit +5.0 mm/year") and "volume doubles in" in fit[0]


def test_size_legend_has_one_entry_per_lesion() -> None:
    """Three pancreatic lesions, each with a fit, a band and a growth threshold: the legend has
    one entry per lesion and one grey entry per kind of line, not four entries per lesion."""
    sizes = {"2025-01-10": (12, 9, 7), "2025-07-08": (13, 9, 8), "2026-01-08": (14, 10, 8)}
    h = history(None, *(scan(d, *(lesion(n, v) for n, v in zip(("P1", "P2", "P3"), vs, strict=True)))
                        for d, vs in sizes.items()))
    labels = _labels(plot_size(_ax(), h, SMALL, as_of=AS_OF))
    assert [t.split(" ")[0] for t in labels if t.startswith("P")] == ["P1", "P2", "P3"]
    assert sum("growth threshold" in t for t in labels) == 1
    assert sum("measurement error" in t for t in labels) == 1
    assert sum("least-squares fit" in t for t in labels) == 1


def test_size_noise_band_is_two_mm_around_latest() -> None:
    """The measurement-error band spans latest ± 2 mm (17 mm → 15 to 19 mm)."""
    ax = plot_size(_ax(), _growing(), SMALL, as_of=AS_OF)
    band = next(c for c in ax.collections if "measurement error" in str(c.get_label()))
    ys = band.get_paths()[0].vertices[:, 1]
    assert (min(ys), max(ys)) == (15.0, 19.0)


def test_size_noise_band_surrounds_the_latest_scan_only() -> None:
    """The band is centred on the latest scan (2026-01-08) and ends before the previous one
    (2025-07-08): it does not reach back over the lesion's history."""
    ax = plot_size(_ax(), _growing(), SMALL, as_of=AS_OF)
    band = next(c for c in ax.collections if "measurement error" in str(c.get_label()))
    xs = band.get_paths()[0].vertices[:, 0]
    latest, previous = mdates.date2num(date(2026, 1, 8)), mdates.date2num(date(2025, 7, 8))
    assert min(xs) < latest < max(xs)
    assert max(xs) - latest == pytest.approx(latest - min(xs))
    assert min(xs) > previous + 0.5 * (latest - previous)


def test_size_gap_longer_than_the_interval_is_shown() -> None:
    """Small protocol, first year every 6 months (+30 days grace): 14 months between two scans
    is a hatched span with its length written on it; 6 months is not a gap."""
    h = history(None, scan("2025-01-10", lesion("P1", 12)), scan("2025-07-10", lesion("P1", 12)),
                scan("2026-09-10", lesion("P1", 13)))
    ax = plot_size(_ax(), h, SMALL, as_of=date(2026, 10, 1))
    spans = [p for p in ax.patches if p.get_label() == "_gap"]
    assert len(spans) == 1
    x0, x1 = spans[0].get_x(), spans[0].get_x() + spans[0].get_width()
    assert (x0, x1) == (mdates.date2num(date(2025, 7, 10)), mdates.date2num(date(2026, 9, 10)))
    assert "14 months without a scan\n(protocol: every 6 months)" in _texts(ax)
    assert "no scan for longer than the protocol interval" in _labels(ax)


def test_size_open_gap_up_to_the_as_of_date() -> None:
    """No scan since 2025-07-10 and the next one was due by 2026-02-09 (6 months + 30 days):
    on 2026-03-01 the span runs to the as-of date."""
    h = history(None, scan("2025-01-10", lesion("P1", 12)), scan("2025-07-10", lesion("P1", 12)))
    ax = plot_size(_ax(), h, SMALL, as_of=date(2026, 3, 1))
    assert "no scan since 2025-07-10\n(protocol: every 6 months)" in _texts(ax)
    ax = plot_size(_ax(), h, SMALL, as_of=date(2026, 2, 9))
    assert not [p for p in ax.patches if p.get_label() == "_gap"]


def test_recist_panel_on_the_metastatic_protocol() -> None:
    """Metastatic protocol: a second panel on the same time axis draws the target sum (25 + 15 =
    40, then 42, 44), its nadir 40 mm and the PD line max(1.2 × 40, 40 + 5) = 48 mm."""
    h = history(metastatic_patient(), *(scan(d, lesion("P1", p), lesion("L1", li, site="liver"), modality="CT")
                                        for d, p, li in (("2025-01-10", 25, 15), ("2025-04-10", 26, 16),
                                                         ("2025-07-10", 27, 17))))
    fig = size_figure(h, METASTATIC, as_of=AS_OF)
    top, bottom = fig.axes[:2]
    assert top.get_shared_x_axes().joined(top, bottom)
    (sums,) = [ln for ln in bottom.get_lines() if ln.get_label().startswith("sum of target diameters")]
    assert list(sums.get_ydata()) == [40.0, 42.0, 44.0]
    labels = _labels(bottom)
    assert "nadir 40 mm" in labels and "progression (PD) if sum ≥ 48 mm" in labels
    levels = {round(float(c.get_segments()[0][0][1]), 6) for c in bottom.collections if c.get_segments()}
    assert {40.0, 48.0} <= levels
    assert [t.get_text() for t in bottom.texts] == ["baseline", "SD", "SD"]


def _new_lesion_pd() -> PatientHistory:
    """Sums 40, 42, then 44 with a new liver lesion L2: PD below the PD line at 48 mm."""
    return history(metastatic_patient(), *(scan(d, *ls, modality="CT") for d, ls in (
        ("2025-01-10", (lesion("P1", 25), lesion("L1", 15, site="liver"))),
        ("2025-04-10", (lesion("P1", 26), lesion("L1", 16, site="liver"))),
        ("2025-07-10", (lesion("P1", 27), lesion("L1", 17, site="liver"), lesion("L2", 8, site="liver", new=True))))))


def _small_recist_panel(h: PatientHistory) -> Axes:
    """The target-sum panel as small as the report draws it (0.9 inch high, at 110 dpi)."""
    fig = Figure(figsize=(8.27, 11.69), dpi=110)
    return plot_recist_sum(fig.add_axes((0.1, 0.1, 0.55, 0.9 / 11.69)), h, METASTATIC, as_of=AS_OF)


@pytest.mark.parametrize("panel", ["figure", "report size"])
def test_recist_responses_stay_clear_of_the_lines_and_the_axis(panel: str) -> None:
    """Issue 19.7: the responses sit above every sum, the nadir and the PD line, inside the panel;
    the first ("baseline") starts at its point, so it does not run over the axis; a PD by a new
    lesion below the PD line names the lesion. Measured on the drawn figure, in pixels."""
    h = _new_lesion_pd()
    ax = size_figure(h, METASTATIC, as_of=AS_OF).axes[1] if panel == "figure" else _small_recist_panel(h)
    assert [t.get_text() for t in ax.texts] == ["baseline", "SD", "PD (new L2)"]
    ax.figure.canvas.draw()
    frame = ax.get_window_extent()
    highest = max(ax.transData.transform((0, y))[1] for y in (40, 42, 44, 48))  # sums and the PD line
    first_x = ax.transData.transform((mdates.date2num(date(2025, 1, 10)), 0))[0]
    for t in ax.texts:
        box = t.get_window_extent()
        assert box.y0 > highest + 4 and box.y1 <= frame.y1 and box.x0 >= frame.x0, t.get_text()
    assert abs(ax.texts[0].get_window_extent().x0 - first_x) < 6


@given(st.decimals(min_value=Decimal("1"), max_value=Decimal("500"), places=1))
def test_pd_line_is_exactly_where_progression_starts(nadir: Decimal) -> None:
    """The PD line drawn is the smallest sum `is_progression` calls progression: at it PD, a
    tenth of a millimetre below it not (sums are recorded to 0.1 mm)."""
    cfg = METASTATIC.rule("recist.progression")
    line = pd_line(nadir, METASTATIC)
    assert is_progression(line, nadir, cfg.dec("rel_pct"), cfg.dec("abs_mm"))
    below = (line - Decimal("0.05")).quantize(Decimal("0.1"), rounding=ROUND_FLOOR)
    assert not is_progression(below, nadir, cfg.dec("rel_pct"), cfg.dec("abs_mm"))


def test_no_recist_panel_on_the_small_protocol() -> None:
    assert len(size_figure(_growing(), SMALL, as_of=AS_OF).axes) == 1


def test_size_marks_scan_where_action_flag_fired() -> None:
    """growth.absolute fires at the 2026-01-08 scan: one ring there, none at the nadir scan."""
    h = _growing()
    flags = evaluate_flags(h, SMALL, as_of=AS_OF)
    assert any(f.rule_id == "growth.absolute" for f in flags)
    ax = plot_size(_ax(), h, SMALL, flags, as_of=AS_OF)
    rings = [c for c in ax.collections if c.get_label() == "_fired"]
    assert len(rings) == 1
    assert mdates.num2date(rings[0].get_offsets()[0][0]).date() == date(2026, 1, 8)
    assert "action flag fired on this scan" in _labels(ax)


def test_size_one_marker_shape_per_modality() -> None:
    """MRI and CT sizes of one lesion appear under their own modality legend entries."""
    h = history(None, scan("2025-01-10", lesion("P1", 12)), scan("2025-07-08", lesion("P1", 13), modality="CT"))
    ax = plot_size(_ax(), h, SMALL, as_of=AS_OF)
    assert {"MRI", "CT"} <= set(_labels(ax))


def test_size_title_and_axis_label() -> None:
    """The title names the patient label, and says 'synthetic' only for made-up data; the y axis is in mm."""
    ax = plot_size(_ax(), _growing(), SMALL, as_of=AS_OF)
    assert ax.get_title() == "SYN-001: lesion size"
    assert ax.get_ylabel() == "size (mm)"
    made_up = replace(_growing(), patient=replace(_growing().patient, synthetic=True))
    assert plot_size(_ax(), made_up, SMALL, as_of=AS_OF).get_title() == "SYN-001 (synthetic): lesion size"


def test_size_without_sizes_says_so() -> None:
    """A patient without CT/MRI/EUS sizes gets a message instead of an empty chart."""
    ax = plot_size(_ax(), history(None, visit("2025-01-10")), SMALL, as_of=AS_OF)
    assert "no CT, MRI or EUS size" in ax.texts[0].get_text()


def test_size_ignores_records_after_as_of() -> None:
    """A scan dated after the as-of date is not drawn."""
    ax = plot_size(_ax(), _growing(), SMALL, as_of=date(2025, 12, 31))
    p1 = next(ln for ln in ax.get_lines() if ln.get_label() == "P1 (pancreas)")
    assert len(p1.get_xdata()) == 2


def test_size_draws_only_on_given_axes() -> None:
    """plot_size returns the Axes it was given and adds no other axes to the figure."""
    fig = Figure()
    ax = fig.add_subplot()
    assert plot_size(ax, _growing(), SMALL, as_of=AS_OF) is ax
    assert fig.axes == [ax]


# --------------------------------------------------------------------------- markers


def _markers_history():
    return history(None, visit("2025-01-01", ppi=True), lab("2025-01-10", 130), lab("2025-07-10", 140),
                   lab("2025-09-10", 9, unit="nmol/L", uln=6), lab("2025-02-01", 40, analyte="gastrin", unit="pg/mL",
                                                                     assay="", uln=100),
                   lab("2025-02-01", 12, analyte="bilirubin", unit="umol/L", uln=21))


def test_marker_panel_per_analyte_and_unit() -> None:
    """CgA in ng/mL, CgA in nmol/L and gastrin make three panels; bilirubin is not a marker."""
    h = _markers_history()
    assert list(marker_panels(h, as_of=AS_OF)) == [
        ("chromogranin A", "ng/mL"), ("gastrin", "pg/mL"), ("chromogranin A", "nmol/L")]
    fig = markers_figure(h, as_of=AS_OF)
    assert len(fig.axes) == 3
    assert {ax.get_ylabel() for ax in fig.axes} == {"chromogranin A (ng/mL)", "chromogranin A (nmol/L)",
                                                    "gastrin (pg/mL)"}


def test_marker_log_scale() -> None:
    """--log puts every panel on a log scale."""
    fig = markers_figure(_markers_history(), as_of=AS_OF, log=True)
    assert {ax.get_yscale() for ax in fig.axes} == {"log"}
    assert {ax.get_yscale() for ax in markers_figure(_markers_history(), as_of=AS_OF).axes} == {"linear"}


def test_marker_log_scale_ticks_are_plain_numbers() -> None:
    """On a log scale the ticks read as numbers people write (100, 200, 300), never 2×10²."""
    h = history(None, lab("2025-01-10", 130), lab("2025-07-10", 180), lab("2025-12-10", 240))
    fig = markers_figure(h, as_of=AS_OF, log=True)
    fig.canvas.draw()
    ax = fig.axes[0]
    ticks = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    lo, hi = ax.get_ylim()
    shown = [t for t, v in zip(ticks, ax.get_yticks(), strict=False) if lo <= v <= hi]
    assert {"100", "200"} <= set(ticks) and len(shown) >= 3
    assert not any("10^" in t or "times" in t or "×" in t or "$" in t for t in ticks)


def test_marker_as_of_line_is_labelled() -> None:
    """The dotted as-of line of a marker panel says which date it is."""
    ax = markers_figure(_markers_history(), as_of=AS_OF).axes[0]
    assert "as of 2026-03-01" in [t.get_text() for t in ax.texts]


def test_marker_upper_limit_line() -> None:
    """The lab's upper limit (102 ng/mL) is drawn and named in the legend."""
    ax = markers_figure(_markers_history(), as_of=AS_OF).axes[0]
    uln = next(ln for ln in ax.get_lines() if ln.get_label().startswith("upper limit"))
    assert set(uln.get_ydata()) == {102.0}
    assert "upper limit 102 ng/mL" in _labels(ax)


def test_marker_result_on_ppi_is_ringed() -> None:
    """A result within 90 days after a visit on a PPI is ringed; a later one is not."""
    h = _markers_history()
    assert on_ppi(h.labs[0], h.visits) and not on_ppi(h.labs[-1], h.visits)
    ax = markers_figure(h, as_of=AS_OF).axes[0]
    rings = [c for c in ax.collections if c.get_label() == "_ppi"]
    assert len(rings) == 1 and len(rings[0].get_offsets()) == 1
    assert "taken on a PPI (may read high)" in _labels(ax)


def test_markers_without_results_says_so() -> None:
    """No marker results gives one axes with a message."""
    fig = markers_figure(history(None, visit("2025-01-10")), as_of=AS_OF)
    assert len(fig.axes) == 1 and "no tumour-marker results" in fig.axes[0].texts[0].get_text()


# --------------------------------------------------------------------------- timeline


def test_timeline_rows_as_of_and_schedule() -> None:
    """The timeline has its six rows, a line at the as-of date and a window bar per open item."""
    h = _growing()
    flags = [Flag("growth.absolute", Severity.ACTION, "SYN-001", date(2026, 1, 8), "m", ("scan:3/P1",), None, "s",
                  "1")]
    items = [DueItem("SYN-001", ItemKind.IMAGING, "imaging", date(2026, 4, 8), date(2026, 3, 9), date(2026, 5, 8),
                     DueStatus.NOT_DUE, "r", date(2026, 1, 8)),
             DueItem("SYN-001", ItemKind.LAB, "old", date(2025, 4, 8), date(2025, 3, 9), date(2025, 5, 8),
                     DueStatus.CLOSED, "r", date(2024, 10, 8))]
    ax = plot_timeline(_ax(), h, flags, items, as_of=AS_OF)
    assert [t.get_text() for t in ax.get_yticklabels()] == [r.capitalize() for r in ROWS]
    as_of_x = mdates.date2num(date(2026, 3, 1))
    assert any(list(ln.get_xdata()) == [as_of_x, as_of_x] for ln in ax.get_lines())
    assert len([ln for ln in ax.get_lines() if ln.get_label() == "_window"]) == 1
    assert {"visit with symptoms", "action flag", "pathology", "scan: MRI"} <= set(_labels(ax))
    assert any("abdo pain" in t.get_text() for t in ax.texts)


def test_timeline_counts_several_flags_of_a_day() -> None:
    """Three watch flags and one action flag on one day: one marker each, the watch one "×3"."""
    day = date(2026, 1, 8)
    flags = [_flag(day, Severity.WATCH, f"growth.r{k}") for k in range(3)] + [_flag(day, Severity.ACTION, "a")]
    ax = plot_timeline(_ax(), _growing(), flags, as_of=AS_OF)
    assert [t.get_text() for t in ax.texts].count("×3") == 1
    assert "×1" not in [t.get_text() for t in ax.texts]


def test_timeline_labels_near_the_ends_stay_inside_the_frame() -> None:
    """The pathology label next to the first record starts at its point instead of crossing
    the y axis; the figure is drawn to check the text's box against the axes' box."""
    fig = Figure(figsize=(11, 4.6), layout="constrained")
    h = history(None, pathology("2025-01-10", ki67=2), visit("2029-12-01"), pathology("2029-12-01", ki67=4))
    ax = plot_timeline(fig.add_subplot(), h, as_of=date(2029, 12, 1))
    fig.canvas.draw()
    frame = ax.get_window_extent()
    for t in ax.texts:
        box = t.get_window_extent()
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1, t.get_text()


def _flag(day: date, sev: Severity, rule: str) -> Flag:
    return Flag(rule_id=rule, severity=sev, patient="SYN-001", date=day, message="m", evidence=(), threshold="",
                source="", rule_version="1")


# --------------------------------------------------------------------------- cohort


def test_cohort_percent_change_and_latest() -> None:
    """Pancreatic sum 12 → 14 → 17 mm is 0, +16.7, +41.7 %; the latest change is +41.7 %
    (surveillance asks where the tumour is now, not its best response)."""
    s = burden_series(_growing(), SMALL, as_of=AS_OF)
    assert s is not None
    assert [round(p, 1) for _, _, p in s.points] == [0.0, 16.7, 41.7]
    assert s.latest_pct == pytest.approx(100 * 5 / 12)


def _bar_heights(ax: Axes) -> list[float]:
    (bars,) = [c for c in ax.collections if c.get_label() == "_bars"]
    return [round(float(p.vertices[1, 1]), 1) for p in bars.get_paths()]


def test_cohort_metastatic_uses_recist_sum() -> None:
    """A metastatic patient's burden is the RECIST target sum."""
    h = history(metastatic_patient(), scan("2025-01-10", lesion("P1", 25), lesion("L1", 20, site="liver"),
                                           modality="CT"),
                scan("2025-04-10", lesion("P1", 25), lesion("L1", 15, site="liver"), modality="CT"))
    s = burden_series(h, METASTATIC, as_of=AS_OF)
    assert s is not None and s.measure == "RECIST target sum"
    assert s.points[-1][2] == pytest.approx(-100 * 5 / 45)


def test_spider_and_waterfall_draw_each_patient() -> None:
    """One spider line per patient; one waterfall bar per patient with a follow-up scan."""
    a = burden_series(_growing(), SMALL, as_of=AS_OF)
    b = burden_series(history(None, scan("2025-01-10", lesion("P1", 10))), SMALL, as_of=AS_OF)
    assert a is not None and b is not None
    spider = plot_spider(_ax(), [a, b])
    assert len([ln for ln in spider.get_lines() if ln.get_label().startswith("SYN-")]) == 2
    water = plot_waterfall(_ax(), [a, b])
    assert _bar_heights(water) == [41.7]
    assert water.get_ylabel() == "latest change from baseline (%)"
    assert [t.get_text() for t in water.texts if "%" in t.get_text()] == ["+42 %"]
    assert any("no follow-up scan yet" in t.get_text() for t in water.texts)
    assert {20.0, -30.0} <= _hlines_y(water, "--")


def _crowd(n: int) -> list[BurdenSeries]:
    base = date(2024, 1, 1)
    return [BurdenSeries(f"SYN-{i:05d}", "RECIST target sum" if i % 5 == 0 else "pancreatic lesions", base,
                         Decimal(20), ((base, 0.0, 0.0), (date(2025, 1, 1), 12.0, float(i % 97 - 40))))
            for i in range(n)]


def test_cohort_of_1500_patients_stays_readable() -> None:
    """1,500 patients: no per-patient legend in the spider plot (one entry per measure), no
    per-bar labels or ticks in the waterfall; only the 3 largest increases and decreases are
    named, and the axis counts the patients."""
    series = _crowd(1500)
    fig = cohort_figure(series, as_of=AS_OF)
    spider, water = fig.axes
    assert _labels(spider) == ["1200 patients: pancreatic lesions", "300 patients: RECIST target sum",
                               "+20 % (RECIST progression)", "−30 % (RECIST partial response)"]
    assert len(_bar_heights(water)) == 1500
    assert list(water.get_xticks()) == []
    named = [t.get_text() for t in water.texts]
    assert len(named) == 2
    assert named[0].startswith("largest increases:\n") and named[0].count("SYN-") == 3 and "+56 %" in named[0]
    assert named[1].startswith("largest decreases:\n") and named[1].count("SYN-") == 3 and "-40 %" in named[1]
    assert water.get_xlabel().startswith("1500 patients, largest increase first")


def test_cohort_of_2000_patients_draws_fast(tmp_path: Path) -> None:
    """Building and saving the 2,000-patient figure takes well under the 5 s the whole command
    may take (65 s before the lines and bars were drawn as collections)."""
    import time

    began = time.process_time()
    save_figure(cohort_figure(_crowd(2000), as_of=AS_OF), tmp_path / "c.png")
    assert time.process_time() - began < 2.5


def test_cohort_figure_has_two_panels() -> None:
    """The cohort figure is one figure with the spider plot and the waterfall."""
    a = burden_series(_growing(), SMALL, as_of=AS_OF)
    assert a is not None
    fig = cohort_figure([a], as_of=AS_OF)
    assert len(fig.axes) == 2
    assert "synthetic" not in fig.get_suptitle()
    made_up = replace(a, synthetic=True)
    assert "Cohort (synthetic): 2 patients" in cohort_figure([made_up, made_up], as_of=AS_OF).get_suptitle()
    assert "Cohort (1 of 2 synthetic)" in cohort_figure([a, made_up], as_of=AS_OF).get_suptitle()


# --------------------------------------------------------------------------- saving


@pytest.mark.parametrize("ext", [".png", ".svg", ".pdf"])
def test_save_figure_formats(tmp_path: Path, ext: str) -> None:
    """A plot saves as PNG, SVG and PDF by the file's extension."""
    path = save_figure(size_figure(_growing(), SMALL, as_of=AS_OF), tmp_path / f"size{ext}")
    head = path.read_bytes()[:5]
    assert head == {".png": b"\x89PNG\r", ".svg": b"<?xml", ".pdf": b"%PDF-"}[ext]


def test_save_figure_rejects_unknown_extension(tmp_path: Path) -> None:
    """A .jpg target is refused with a ValidationError that names the allowed extensions."""
    with pytest.raises(ValidationError, match=r"\.png, \.svg, \.pdf"):
        save_figure(Figure(), tmp_path / "size.jpg")


def test_save_figure_rejects_missing_folder(tmp_path: Path) -> None:
    """A target in a folder that does not exist is a ValidationError, not a traceback."""
    with pytest.raises(ValidationError, match="does not exist"):
        save_figure(Figure(), tmp_path / "nowhere" / "size.png")


def test_cli_import_does_not_load_matplotlib() -> None:
    """Commands that do not plot never import matplotlib."""
    code = "import tracker.cli, sys; assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


# --------------------------------------------------------------------------- CLI


@pytest.fixture(name="loaded")
def _loaded(sqlite_url: str, make_cli):  # type: ignore[no-untyped-def]
    """The CLI on a SQLite database holding the three synthetic example patients."""
    cli = make_cli(sqlite_url)
    for f in [*sorted((REPO / "examples").glob("syn-*.json")), REPO / "examples" / "labs.csv"]:
        assert cli("import", str(f)).exit_code == 0
    return cli


@pytest.mark.parametrize("kind", ["size", "markers", "timeline"])
def test_cli_plot_writes_each_kind(loaded, tmp_path: Path, kind: str) -> None:  # type: ignore[no-untyped-def]
    """`tracker plot PATIENT --kind K --out F` writes the file and says where."""
    out = tmp_path / f"{kind}.svg"
    res = loaded("plot", "SYN-GROWING", "--kind", kind, "--out", str(out), "--as-of", "2026-11-22")
    assert res.exit_code == 0, res.output
    assert out.read_bytes().startswith(b"<?xml")
    assert f"Wrote {out}" in res.stderr


def test_cli_plot_cohort(loaded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """`tracker plot --cohort --out F.png` writes the spider and waterfall figure."""
    out = tmp_path / "cohort.png"
    res = loaded("plot", "--cohort", "--out", str(out), "--as-of", "2026-11-22")
    assert res.exit_code == 0, res.output
    assert out.read_bytes().startswith(b"\x89PNG")


def test_cli_plot_unknown_patient(loaded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """An unknown patient exits 1 with one sentence on stderr and writes nothing."""
    out = tmp_path / "x.png"
    res = loaded("plot", "SYN-NOBODY", "--out", str(out))
    assert res.exit_code == 1
    assert res.stderr.startswith("Error: ") and len(res.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_cli_plot_unknown_extension(loaded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """An unknown extension exits 1 and names the formats."""
    res = loaded("plot", "SYN-GROWING", "--out", str(tmp_path / "x.jpg"))
    assert res.exit_code == 1
    assert ".png, .svg, .pdf" in res.stderr


def test_cli_plot_needs_patient_or_cohort(loaded, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Naming a patient and --cohort together (or neither) is refused."""
    res = loaded("plot", "SYN-GROWING", "--cohort", "--out", str(tmp_path / "x.png"))
    assert res.exit_code == 1 and "--cohort" in res.stderr


def test_the_readme_shows_the_size_plots_and_every_picture_it_shows_exists() -> None:
    """The README shows the size plot of the demo patients (issue 19.7), and every image it links
    is a PNG in the checkout, small enough for a page (at most 150 kB)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    shown = re.findall(r'<img src="([^"]+)"', readme) + re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme)
    assert {"docs/img/plot-size-growing.png", "docs/img/plot-size-metastatic.png"} <= set(shown)
    for link in shown:
        path = REPO / link
        assert path.is_file(), f"README shows {link}, which is not in the checkout"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size <= 150_000, link
