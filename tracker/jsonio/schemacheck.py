"""Schema checks: a JSON value against `schemas/`, every problem with its location
(`patients[0].visits[3].date`), and at most `QUOTE_LIMIT` characters of a value quoted."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from typing import Any

from tracker.config import package_folder
from tracker.domain.checks import Problems
from tracker.domain.dates import parse_iso_date
from tracker.text import quoted


@cache
def load_schema(name: str) -> dict[str, Any]:
    with (package_folder("schemas") / name).open(encoding="utf-8") as f:
        result: dict[str, Any] = json.load(f)
        return result


def location(path: Iterable[Any]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


def schema_problems(doc: Any, schema_name: str, prefix: Sequence[Any] = (), *, definition: str | None = None
                    ) -> Problems:
    """Every JSON-Schema problem of `doc`, located; the best-matching branch of a oneOf.
    `definition` validates against one of the schema's `$defs` instead of the whole schema."""
    schema = load_schema(schema_name)
    if schema_name == "patient.schema.json" and definition is None:
        # pick the top-level oneOf branch by the document's shape, so that problems are located
        # inside it instead of "not of type 'array'" about the whole document
        if isinstance(doc, list):
            return [p for i, item in enumerate(doc)
                    for p in schema_problems(item, schema_name, [*prefix, i], definition="patient_document")]
        if isinstance(doc, dict):
            definition = "cohort_document" if "patients" in doc else "patient_document"
    if definition is not None:
        schema = {"$defs": schema["$defs"], "$ref": f"#/$defs/{definition}"}
    if _fast_valid(doc, schema_name, definition):
        return []
    from jsonschema import Draft202012Validator, FormatChecker  # only for a document with problems
    from jsonschema.exceptions import best_match

    validator = Draft202012Validator(schema, format_checker=FormatChecker())
    out: Problems = []
    for err in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path))):
        leaf = best_match(err.context) if err.context else err
        # follow the deepest context so that a oneOf failure names the field, not the document
        while leaf.context:
            leaf = best_match(leaf.context)
        out.append((location([*prefix, *leaf.absolute_path]), _schema_message(leaf)))
    return out


def _is_date(text: Any) -> bool:
    if not isinstance(text, str):
        return True  # formats apply to strings only
    try:
        parse_iso_date(text)
    except ValueError:
        return False
    return True


#: 2020-12 keywords that fastjsonschema (drafts 4, 6 and 7) does not implement: it ignores them.
DRAFT7_UNKNOWN = frozenset({"prefixItems", "minContains", "maxContains", "dependentRequired", "dependentSchemas",
                            "unevaluatedProperties", "unevaluatedItems", "$dynamicRef", "$dynamicAnchor", "$anchor"})
#: keywords that may stand beside a `$ref` in draft 7, which ignores every other sibling of a `$ref`
_ANNOTATIONS = frozenset({"$ref", "description", "$comment", "title", "default", "examples"})


def draft7_gaps(schema: Any, where: str = "#") -> list[str]:
    """Where a 2020-12 schema says what a draft-7 validator (fastjsonschema) would not check:
    a keyword of `DRAFT7_UNKNOWN`, or a `$ref` with validating siblings. [] when both read the
    schema alike."""
    out: list[str] = []
    if isinstance(schema, dict):
        out += [f"{where}/{k}" for k in schema if k in DRAFT7_UNKNOWN]
        if "$ref" in schema and set(schema) - _ANNOTATIONS:
            out.append(f"{where}/$ref")
        for k, v in schema.items():
            if k not in ("enum", "const", "examples", "default"):
                out += draft7_gaps(v, f"{where}/{k}")
    elif isinstance(schema, list):
        for i, v in enumerate(schema):
            out += draft7_gaps(v, f"{where}/{i}")
    return out


@cache
def _fast_validator(schema_name: str, definition: str | None) -> Callable[[Any], Any] | None:
    """A compiled validator (fastjsonschema) of the schema or one of its `$defs`, or None when
    fastjsonschema would not check everything the schema says (`draft7_gaps`): the 2020-12
    validator then checks every document (the protocol schema, a few kB, read once a command)."""
    try:
        import fastjsonschema
    except ImportError:  # pragma: no cover - a declared dependency; the full check still runs
        return None
    schema = load_schema(schema_name)
    if draft7_gaps(schema):
        return None
    if definition is not None:
        schema = {"$defs": schema["$defs"], "$ref": f"#/$defs/{definition}"}
    else:
        schema = {k: v for k, v in schema.items() if k not in ("$schema", "$id")}
    result: Callable[[Any], Any] = fastjsonschema.compile(schema, formats={"date": _is_date})
    return result


def _fast_valid(doc: Any, schema_name: str, definition: str | None) -> bool:
    """True when the compiled validator accepts `doc`. It is the quick path for valid files;
    when it says no, the full jsonschema run finds and locates every problem."""
    validate = _fast_validator(schema_name, definition)
    if validate is None:
        return False
    try:
        validate(doc)
    except Exception:  # any refusal sends the document to the full check
        return False
    return True


def _schema_message(err: Any) -> str:
    """What the schema refused, quoting at most `QUOTE_LIMIT` characters of the file's value."""
    if err.validator == "format" and err.validator_value == "date":
        return f"{quoted(err.instance)} is not a date that exists; write YYYY-MM-DD"
    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        known = err.schema.get("properties", {})
        extra = [k for k in err.instance if k not in known] or list(err.instance)
        return f"{', '.join(quoted(k) for k in extra[:3])} {'is' if len(extra) == 1 else 'are'} not allowed here; " \
               "remove it or check its spelling"
    if err.validator == "enum":
        return f"{quoted(err.instance)} is not one of {', '.join(map(str, err.validator_value))}"
    if isinstance(err.instance, (dict, list)) and repr(err.instance) in err.message:
        # never echo a whole object (a patient's data) into a message
        return err.message.replace(repr(err.instance), "this object" if isinstance(err.instance, dict) else "this list")
    return str(err.message).replace(repr(err.instance), quoted(err.instance))
