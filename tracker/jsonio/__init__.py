"""Files in and out: JSON patient documents, the lab-results CSV and the long CSV export.

- `schemacheck`: a value against `schemas/`, every problem with its location;
- `reading`: JSON text read exactly (UTF-8, exact numbers, no repeated key);
- `documents`: patient documents read into the domain, checked; `stream`: one at a time;
- `export`: the domain written as canonical documents; `labcsv`: the lab-results CSV;
  `csvout`: CSV cells and the long CSV of a history.

Callers import from the module a name lives in; the names below stay here for the store and
the FHIR exchange, which read and write documents through them.
"""

from tracker.jsonio.documents import ImportedPatient, exact
from tracker.jsonio.export import dumps, history_doc, num, patient_doc
from tracker.jsonio.reading import loads, read_text, unreadable_json

__all__ = ["ImportedPatient", "dumps", "exact", "history_doc", "loads", "num", "patient_doc", "read_text",
           "unreadable_json"]
