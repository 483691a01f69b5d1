"""The record readers of an import (jsonio): records built with `dm.assemble` are the records the
constructors build."""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from typing import Any

import pytest

from tests.conftest import EXAMPLES
from tracker import synthetic
from tracker.domain import model as dm
from tracker.jsonio.documents import DocumentParser, scan_from_doc
from tracker.jsonio.stream import DocumentStream

AS_OF = date(2026, 11, 22)


def _documents() -> list[Any]:
    cohort = json.dumps({"patients": list(synthetic.cohort(40, seed=5, as_of=AS_OF))})
    docs = [d for _, d in DocumentStream(cohort, "cohort")]
    for name in ("syn-growing.json", "syn-metastatic.json", "syn-stable.json"):
        docs += [d for _, d in DocumentStream((EXAMPLES / name).read_text(encoding="utf-8"), name)]
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
    parsed = [DocumentParser(today=AS_OF).parse([i], d, check_schema=True) for i, d in enumerate(docs)]
    kinds = set()
    for ip in parsed:
        assert ip is not None
        for kind, r, _ in ip.records:
            kinds.add(kind)
            _same(r, _constructed(r))
            for x in getattr(r, "lesions", ()):
                _same(x, _constructed(x))
    assert kinds == {"visit", "lab", "scan", "pathology"}


def test_an_unknown_enum_value_is_refused_with_the_enum_s_own_message() -> None:
    with pytest.raises(ValueError, match="'brain' is not a valid Site"):
        scan_from_doc({"date": "2025-01-01", "modality": "MRI",
                              "lesions": [{"lesion": "P1", "site": "brain", "longest_mm": 5}]}, dm.Source.IMPORT)
