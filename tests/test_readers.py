"""The record readers of an import (jsonio): records built with `dm.assemble` are the records the
constructors build, and a document converted without checks (the importing process, when
services.checker has checked it) gives exactly the records of a checked conversion."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import EXAMPLES
from tracker import jsonio, synthetic
from tracker.domain import model as dm
from tracker.errors import ValidationError

AS_OF = date(2026, 11, 22)


def _documents() -> list[Any]:
    cohort = json.dumps({"patients": list(synthetic.cohort(40, seed=5, as_of=AS_OF))})
    docs = [d for _, d in jsonio.DocumentStream(cohort, "cohort")]
    for name in ("syn-growing.json", "syn-metastatic.json", "syn-stable.json"):
        docs += [d for _, d in jsonio.DocumentStream((EXAMPLES / name).read_text(encoding="utf-8"), name)]
    return docs


def _constructed(obj: Any) -> Any:
    """The same object made by its dataclass constructor (lesions of a scan too)."""
    fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    if isinstance(obj, dm.ImagingStudy):
        fields["lesions"] = tuple(_constructed(x) for x in obj.lesions)
    return type(obj)(**fields)


def _same(a: Any, b: Any) -> None:
    """Equal, with the same attributes (nothing missing, nothing extra), numbers written alike."""
    assert a == b
    assert vars(a).keys() == vars(b).keys()
    assert repr(a) == repr(b)  # Decimal('12.0') equals Decimal('12') but is not the same number as written


def test_every_kind_of_record_is_read_as_its_constructor_makes_it() -> None:
    docs = _documents()
    parsed = [jsonio.DocumentParser(today=AS_OF).parse([i], d, check_schema=True) for i, d in enumerate(docs)]
    kinds = set()
    for ip in parsed:
        assert ip is not None
        for kind, r, _ in ip.records:
            kinds.add(kind)
            _same(r, _constructed(r))
            for x in getattr(r, "lesions", ()):
                _same(x, _constructed(x))
    assert kinds == {"visit", "lab", "scan", "pathology"}


def test_a_checked_document_is_converted_without_checks_to_the_same_records() -> None:
    for i, d in enumerate(_documents()):
        checked = jsonio.DocumentParser(today=AS_OF).parse([i], d, check_schema=True)
        trusted = jsonio.DocumentParser(today=AS_OF).parse([i], d, checks=False)
        assert checked is not None and trusted is not None
        assert checked.patient == trusted.patient
        assert len(checked.records) == len(trusted.records)
        for (k1, r1, v1), (k2, r2, v2) in zip(checked.records, trusted.records, strict=True):
            assert (k1, v1) == (k2, v2)
            _same(r1, r2)


_numbers = st.one_of(
    st.integers(min_value=-10**13, max_value=10**13),
    st.decimals(allow_nan=False, allow_infinity=False, min_value=-10**12, max_value=10**12, places=6),
    st.decimals(allow_nan=False, allow_infinity=False).map(lambda x: x.scaleb(-3)),
    st.sampled_from([Decimal("12.50"), Decimal("1E+2"), Decimal("100.000"), Decimal("-0"), Decimal("0.0"),
                     Decimal("1E-9"), Decimal("9.99999999999999E+12")]),
)


@given(v=_numbers)
def test_exact_checked_gives_what_exact_gives_for_every_number_exact_accepts(v: Any) -> None:
    try:
        expected = jsonio.exact(v)
    except ValidationError:
        return  # refused by the checker: never read without checks
    got = jsonio.exact_checked(v)
    assert (got, str(got)) == (expected, str(expected))


@pytest.mark.parametrize("value", ["12.50", "7", " 3.10 "])
def test_exact_checked_reads_numeric_text_as_exact_does(value: str) -> None:
    assert str(jsonio.exact_checked(value)) == str(jsonio.exact(value))


def test_an_unknown_enum_value_is_refused_with_the_enum_s_own_message() -> None:
    with pytest.raises(ValueError, match="'brain' is not a valid Site"):
        jsonio.scan_from_doc({"date": "2025-01-01", "modality": "MRI",
                              "lesions": [{"lesion": "P1", "site": "brain", "longest_mm": 5}]}, dm.Source.IMPORT)


def test_a_number_the_checker_refused_is_left_out_not_read_unchecked() -> None:
    """`parse(checks=False)` without `clean` (the checker found a problem in the document) reads
    numbers with `exact`, so a refused value neither raises nor is kept."""
    doc = json.loads((EXAMPLES / "syn-growing.json").read_text(encoding="utf-8"), parse_float=Decimal)
    doc["labs"][0]["value"] = Decimal("1E+50")
    doc["labs"][1]["value"] = Decimal("1E-30")
    ip = jsonio.DocumentParser(today=AS_OF).parse([], doc, checks=False)
    assert ip is not None
    n_labs = sum(1 for kind, _, _ in ip.records if kind == "lab")
    assert n_labs == len(doc["labs"]) - 2
