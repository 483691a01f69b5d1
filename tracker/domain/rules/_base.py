"""What every flag rule shares: the `Rule` record, the evaluation context and flag building.

A rule's `check` takes a `RuleContext` bound to that rule and returns its flags. The context
holds the history as known on the as-of date and computes the measures once per evaluation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from functools import cached_property
from typing import Any

from tracker.domain.measures import (
    CONTEXT_ANALYTES,
    DEFAULT_MIN_MARKER_SPACING_DAYS,
    DEFAULT_MIN_MARKER_VALUES,
    DEFAULT_MIN_SCANS,
    DEFAULT_MIN_SPAN_MONTHS,
    DEFAULT_NOISE_FLOOR_MM,
    LesionMeasures,
    MarkerMeasures,
    RecistPoint,
    SizePoint,
    fmt,
    lesion_measures,
    marker_measures,
    recist_series,
)
from tracker.domain.model import (
    SIZING_MODALITIES,
    Analyte,
    Flag,
    ImagingStudy,
    LabResult,
    PatientHistory,
    Severity,
    Site,
)
from tracker.domain.protocol import RuleConfig, SurveillanceProtocol
from tracker.domain.recist import recist_baseline

#: One piece of evidence: a record ref and its date.
Evidence = tuple[str, date]

_CLOSING = {
    Severity.ACTION: " Discuss at the NET tumour board.",
    Severity.WATCH: " Discuss bringing the next imaging forward.",
    Severity.INFO: "",
}
#: rules whose advice is not their severity's: an entry check is settled at the desk, not by a scan
_CLOSING_OF_RULE = {"data.implausible": " Check this entry against its report, then verify or amend it."}


@dataclass(frozen=True)
class Rule:
    """A flag rule: a stable id, its severity, the version of its logic and its check."""

    id: str
    severity: Severity
    version: str
    check: Callable[[RuleContext], list[Flag]]


def param_or(cfg: RuleConfig, name: str, default: Any) -> Any:
    """A rule parameter, or `default` where a protocol does not list the rule at all."""
    return cfg.params.get(name, default)


class Measures:
    """The measures of one evaluation, computed on first use and shared by all rules."""

    def __init__(self, history: PatientHistory, protocol: SurveillanceProtocol) -> None:
        self.history = history
        self.protocol = protocol

    @cached_property
    def lesions(self) -> list[LesionMeasures]:
        noise = self.protocol.rule("data.within_noise")
        rate = self.protocol.rule("growth.rate")
        return lesion_measures(
            self.history,
            noise_floor_mm=Decimal(str(param_or(noise, "noise_floor_mm", DEFAULT_NOISE_FLOOR_MM))),
            min_scans=int(param_or(rate, "min_scans", DEFAULT_MIN_SCANS)),
            min_span_months=int(param_or(rate, "min_span_months", DEFAULT_MIN_SPAN_MONTHS)),
        )

    @cached_property
    def pancreatic(self) -> list[LesionMeasures]:
        """Pancreatic lesions with at least one CT/MRI/EUS size: the subjects of the growth rules."""
        return [m for m in self.lesions if m.site is Site.PANCREAS and m.latest is not None]

    @cached_property
    def recist(self) -> list[RecistPoint]:
        return recist_series(self.history, self.protocol)

    @cached_property
    def labs_by_series_analyte(self) -> dict[str, list[LabResult]]:
        """Results by `series_key[0]` (analyte, with the name of an "other" one), oldest first;
        keys in order of first result."""
        out: dict[str, list[LabResult]] = {}
        for r in self.history.labs:
            out.setdefault(r.series_name, []).append(r)
        return out

    @cached_property
    def labs_by_analyte(self) -> dict[Analyte, list[LabResult]]:
        """Results by `Analyte`, oldest first."""
        out: dict[Analyte, list[LabResult]] = {}
        for r in self.history.labs:
            out.setdefault(r.analyte, []).append(r)
        return out

    @cached_property
    def last_sizing_scan(self) -> ImagingStudy | None:
        """The latest CT, MRI or EUS scan."""
        return next((s for s in reversed(self.history.scans) if s.modality in SIZING_MODALITIES), None)

    @cached_property
    def recist_baseline(self) -> ImagingStudy | None:
        return recist_baseline(self.history)

    @cached_property
    def markers(self) -> list[MarkerMeasures]:
        """Tumour-marker series: the context labs (`CONTEXT_ANALYTES`), which no marker rule
        reads, are left out before the series are measured."""
        doubling = self.protocol.rule("marker.doubling")
        context = {a.value for a in CONTEXT_ANALYTES}
        labs = tuple(r for r in self.history.labs if r.series_name not in context)
        return marker_measures(
            replace(self.history, labs=labs),
            min_values=int(param_or(doubling, "min_values", DEFAULT_MIN_MARKER_VALUES)),
            min_spacing_days=int(param_or(doubling, "min_spacing_days", DEFAULT_MIN_MARKER_SPACING_DAYS)),
        )


@dataclass(frozen=True)
class RuleContext:
    """The input of a rule's check. `rule` (and its `config`) are set by `bind` before the check runs."""

    history: PatientHistory
    protocol: SurveillanceProtocol
    as_of: date
    measures: Measures
    rule: Rule | None = field(default=None)
    config: RuleConfig | None = field(default=None)

    def bind(self, rule: Rule, config: RuleConfig | None = None) -> RuleContext:
        """This context for `rule`, whose settings are `config` (default: the protocol's)."""
        return RuleContext(self.history, self.protocol, self.as_of, self.measures, rule,
                           self.protocol.rule(rule.id) if config is None else config)

    @property
    def _rule(self) -> Rule:
        if self.rule is None:
            raise RuntimeError("the context is not bound to a rule")
        return self.rule

    @property
    def cfg(self) -> RuleConfig:
        return self.config if self.config is not None else self.protocol.rule(self._rule.id)

    def dec(self, name: str) -> Decimal:
        return self.cfg.dec(name)

    def flag(self, text: str, evidence: Sequence[Evidence], threshold: str | None) -> Flag:
        """A flag of the bound rule dated at its latest evidence; the message gains the closing
        advice for its severity and the short source."""
        rule = self._rule
        refs = tuple(dict.fromkeys(ref for ref, _ in evidence))
        source = self.cfg.source
        return Flag(
            rule_id=rule.id, severity=rule.severity, patient=self.history.patient.label,
            date=max(d for _, d in evidence),
            message=f"{text}{_CLOSING_OF_RULE.get(rule.id, _CLOSING[rule.severity])} Source: {short_source(source)}.",
            evidence=refs, threshold=threshold, source=source,
            rule_version=f"{rule.version}/{self.protocol.id}@{self.protocol.version}",
        )


def short_source(source: str) -> str:
    """The citation before the first ' — ', for messages (the part after it is the full published
    reference, kept in the flag's `source`)."""
    return source.split(" — ")[0].strip() or "protocol"


def size_text(p: SizePoint) -> str:
    """'17 mm (MRI, 2026-01-08)'."""
    return f"{fmt(p.mm)} mm ({p.modality.value}, {p.date.isoformat()})"


def ev(points: Iterable[SizePoint | None]) -> list[Evidence]:
    """Evidence from size points, skipping None."""
    return [(p.ref, p.date) for p in points if p is not None]
