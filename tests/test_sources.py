"""Sources a reader can find: every flag's `source` cites a published source, and no internal
document name ("rules.md", "clinical-evidence", "peers") appears anywhere in the product: the
package (code, messages, protocols), the schemas and the examples shipped with it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.factories import builtin_protocol
from tracker.domain.rules import RULE_IDS

ROOT = Path(__file__).resolve().parents[1]
INTERNAL = re.compile(r"rules\.md|clinical-evidence|peers", re.IGNORECASE)
#: a year or a journal reference: what makes a citation findable
PUBLISHED = re.compile(r"\b(19|20)\d\d\b")


def product_files() -> list[Path]:
    return sorted(p for folder in ("tracker", "schemas", "examples") for p in (ROOT / folder).rglob("*")
                  if p.is_file() and p.suffix in {".py", ".json", ".md", ".csv", ".txt", ".html", ".css", ".js"})


def test_no_internal_document_is_named_in_the_product() -> None:
    found = [f"{p.relative_to(ROOT)}:{n}" for p in product_files()
             for n, line in enumerate(p.read_text("utf-8").splitlines(), 1) if INTERNAL.search(line)]
    assert found == []


@pytest.mark.parametrize("protocol_id", ["pnet-small-nf", "pnet-metastatic-ww"])
def test_every_rule_cites_a_published_source(protocol_id: str) -> None:
    """Each rule's source gives the full reference of a paper, guideline or assay insert (after
    ' — ', with its year), or says that the number is a design default."""
    protocol = builtin_protocol(protocol_id)
    assert set(protocol.rules) == RULE_IDS
    for rule_id, cfg in protocol.rules.items():
        short, _, full = cfg.source.partition(" — ")
        if "design default" in short and not full:
            continue
        assert short and PUBLISHED.search(full), rule_id
