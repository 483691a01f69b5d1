"""Readable builders for synthetic test histories (no real patient data, ever).

    h = history(patient(), scan("2025-01-10", lesion("P1", 12)), visit("2025-01-10"))

Dates may be ISO strings; numbers may be ints, floats or strings (kept exact as Decimal).
Record ids are assigned in the order given, so evidence refs are predictable ("scan:1").
"""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import tracker.protocols
from tracker.domain.model import (
    Analyte,
    ImagingStudy,
    LabResult,
    LesionMeasurement,
    Modality,
    Pathology,
    Patient,
    PatientHistory,
    Setting,
    Sex,
    Site,
    Specimen,
    Symptom,
    Visit,
)
from tracker.domain.protocol import SurveillanceProtocol, protocol_from_dict

Num = int | float | str | Decimal


def d(x: str | date) -> date:
    return x if isinstance(x, date) else date.fromisoformat(x)


def dec(x: Num | None) -> Decimal | None:
    return None if x is None else Decimal(str(x))


def patient(**kw: Any) -> Patient:
    """A small non-functioning pNET patient on pnet-small-nf from 2025-01-10 unless overridden."""
    defaults: dict[str, Any] = {
        "label": "SYN-001", "birth_year": 1965, "sex": Sex.FEMALE, "diagnosis_date": date(2024, 12, 1),
        "setting": Setting.SMALL_NF, "protocol_id": "pnet-small-nf", "protocol_start": date(2025, 1, 10), "id": 1,
    }
    defaults.update(kw)
    for k in ("diagnosis_date", "protocol_start", "left_on"):
        if isinstance(defaults.get(k), str):
            defaults[k] = d(defaults[k])
    return Patient(**defaults)


def metastatic_patient(**kw: Any) -> Patient:
    kw.setdefault("setting", Setting.METASTATIC)
    kw.setdefault("protocol_id", "pnet-metastatic-ww")
    return patient(**kw)


def lesion(name: str, longest: Num | None = None, *, site: Site | str = Site.PANCREAS,
           short_axis: Num | None = None, new: bool = False, avid: bool | None = None,
           other: tuple[Num, ...] = ()) -> LesionMeasurement:
    return LesionMeasurement(
        lesion=name, site=Site(site), longest_mm=dec(longest), short_axis_mm=dec(short_axis),
        other_dims_mm=tuple(Decimal(str(o)) for o in other), is_new=new, pet_avid=avid,
    )


def scan(when: str | date, *lesions: LesionMeasurement, modality: Modality | str = Modality.MRI,
         mpd: Num | None = None, cbd: Num | None = None) -> ImagingStudy:
    return ImagingStudy(date=d(when), modality=Modality(modality), lesions=tuple(lesions),
                        mpd_mm=dec(mpd), cbd_mm=dec(cbd))


def visit(when: str | date, *symptoms: Symptom | str, weight: Num | None = None, ppi: bool = False,
          leave: bool = False) -> Visit:
    return Visit(date=d(when), symptoms=tuple(Symptom(s) for s in symptoms), weight_kg=dec(weight),
                 on_ppi=ppi, wants_to_leave=leave)


def lab(when: str | date, value: Num, *, analyte: Analyte | str = Analyte.CHROMOGRANIN_A,
        unit: str = "ng/mL", assay: str = "BRAHMS CgA II KRYPTOR", lab_name: str = "Synthetic Lab",
        specimen: Specimen | str = Specimen.SERUM, uln: Num | None = 102, comparator: str = "") -> LabResult:
    return LabResult(date=d(when), analyte=Analyte(analyte), value=Decimal(str(value)), unit=unit,
                     assay=assay, lab=lab_name, specimen=Specimen(specimen), upper_limit=dec(uln),
                     comparator=comparator)


def pathology(when: str | date, ki67: Num | None = None, mitoses: Num | None = None) -> Pathology:
    return Pathology(date=d(when), ki67_pct=dec(ki67), mitoses_per_2mm2=dec(mitoses))


def history(p: Patient | None = None, *records: Any) -> PatientHistory:
    """A history from records in any order; ids count up from 1 per kind in the order given."""
    p = p or patient()
    counter: dict[type, itertools.count[int]] = {}
    buckets: dict[type, list[Any]] = {Visit: [], LabResult: [], ImagingStudy: [], Pathology: []}
    for r in records:
        rid = r.id if r.id is not None else next(counter.setdefault(type(r), itertools.count(1)))
        buckets[type(r)].append(replace(r, id=rid))

    def order(rs: list[Any]) -> tuple[Any, ...]:
        return tuple(sorted(rs, key=lambda r: (r.date, r.id)))

    return PatientHistory(patient=p, visits=order(buckets[Visit]), labs=order(buckets[LabResult]),
                          scans=order(buckets[ImagingStudy]), pathology=order(buckets[Pathology]))


def builtin_protocol(protocol_id: str = "pnet-small-nf", **rule_params: dict[str, Any]) -> SurveillanceProtocol:
    """A built-in protocol read from tracker/protocols/<id>.json; `rule_params` overrides the
    params of named rules, e.g. builtin_protocol(**{"marker.rise": {"rel_rise_pct": 25}})."""
    doc = json.loads((Path(tracker.protocols.__file__).parent / f"{protocol_id}.json").read_text("utf-8"))
    for rule_id, params in rule_params.items():
        doc["rules"][rule_id]["params"].update(params)
    return protocol_from_dict(doc)


def with_rules(protocol: SurveillanceProtocol, **enabled: bool) -> SurveillanceProtocol:
    """The protocol with rules switched on or off by id given with '_' for '.', e.g.
    with_rules(p, growth_tgr=True)."""
    rules = dict(protocol.rules)
    for key, on in enabled.items():
        rid = key.replace("_", ".", 1)
        rules[rid] = replace(protocol.rule(rid), enabled=on)
    return replace(protocol, rules=rules)
