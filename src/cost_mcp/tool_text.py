"""What a model reads about the tools: compact JSON schemas, and argument errors in one line.

Every tool's description and schema is sent to the model on each conversation turn, so each
character counts. Pydantic's schemas repeat a ``title`` per property and spell an optional argument
as ``anyOf: [X, null]`` with ``default: null``; an argument left out already means "not given",
so the compact form publishes X alone. Validation is unchanged: the argument models still accept
null. No MCP import here: ``server.py`` applies these to the registered tools.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from cost_mcp.periods import PERIOD_FORMS, PERIOD_PATTERN

_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")
"""Keywords whose value maps names to schemas: their keys are names, never keywords."""
_LITERALS = ("enum", "const", "default", "examples")
"""Keywords whose value is data, not a schema."""
_NULL = {"type": "null"}
_SAID_BY_ALLOWED = frozenset(
    {
        "literal_error",
        "enum",
        "greater_than",
        "greater_than_equal",
        "less_than",
        "less_than_equal",
        "too_long",
        "string_too_long",
        "string_too_short",
        "too_short",
    }
)
"""Pydantic error types whose message only repeats what the schema allows."""
MAX_SHOWN = 60
"""Characters of a rejected value repeated in an error: enough to recognise it."""


def clean_description(text: str) -> str:
    """A docstring as a description: the indentation Python keeps in ``__doc__`` removed."""
    return inspect.cleandoc(text)


def compact_schema(node: Any) -> Any:
    """``node`` (a JSON schema) without titles, and with each optional ``anyOf: [X, null]`` whose
    default is null published as X: the same arguments, in fewer characters."""
    if isinstance(node, list):
        return [compact_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "title":
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: compact_schema(sub) for name, sub in value.items()}
        elif key in _LITERALS:
            out[key] = value
        else:
            out[key] = compact_schema(value)
    variants = out.get("anyOf")
    if isinstance(variants, list):
        variants = _numbers_not_strings(variants)
        if _NULL in variants and "default" in out and out["default"] is None:
            variants = [v for v in variants if v != _NULL]
            del out["default"]
        out["anyOf"] = variants
        if len(variants) == 1:
            rest = {k: v for k, v in out.items() if k != "anyOf"}
            out = {**variants[0], **rest}
    return out


def _numbers_not_strings(variants: list[Any]) -> list[Any]:
    """A Decimal argument is published by pydantic as a number or any string; the number says it
    (a numeric string is still accepted)."""
    kinds = [v.get("type") if isinstance(v, dict) else None for v in variants]
    if any(k in ("number", "integer") for k in kinds) and {"type": "string"} in variants:
        return [v for v in variants if v != {"type": "string"}]
    return variants


def allowed(schema: Mapping[str, Any], root: Mapping[str, Any] | None = None) -> str:
    """What a JSON schema accepts, in words: "an integer from 1 to 31", "one of day, week, month"."""
    root = root if root is not None else schema
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = root.get("$defs", {}).get(ref.removeprefix("#/$defs/"), {})
        return allowed({**target, **{k: v for k, v in schema.items() if k != "$ref"}}, root)
    if "enum" in schema:
        return "one of " + ", ".join(_show(v, quote=False) for v in schema["enum"])
    if "const" in schema:
        return _show(schema["const"])
    variants = [v for v in schema.get("anyOf", []) if v != _NULL]
    if variants:
        numbers = [v for v in variants if v.get("type") in ("number", "integer")]
        # A Decimal is published as a number or a numeric string: the number says it. A string of
        # one value ('max' beside a token count) is a choice of its own, never that string.
        shown = (
            numbers
            if numbers
            and all(
                v.get("type") in ("number", "integer")
                or (v.get("type") == "string" and "const" not in v and "enum" not in v)
                for v in variants
            )
            else variants
        )
        return " or ".join(allowed(v, root) for v in shown)
    kind = schema.get("type")
    if schema.get("pattern") == PERIOD_PATTERN:
        return PERIOD_FORMS
    if kind in ("integer", "number"):
        return _range("an integer" if kind == "integer" else "a number", schema)
    if kind == "string":
        return _FORMATS.get(str(schema.get("format"))) or _text(schema)
    if kind == "boolean":
        return "true or false"
    if kind == "array":
        most = schema.get("maxItems")
        size = f"up to {most} " if most is not None else ""
        items = schema.get("items")
        return f"a list of {size}items, each {allowed(items, root)}" if items else f"a list of {size}items"
    if kind == "object":
        keys = list(schema.get("properties", {}))
        return "an object with keys " + ", ".join(keys) if keys else "an object"
    return "see the tool's input schema"


def _number(value: object) -> object:
    """1000000000.0 as 1000000000: a limit reads as it was written."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _range(noun: str, schema: Mapping[str, Any]) -> str:
    low, high = _number(schema.get("minimum")), _number(schema.get("maximum"))
    above, below = _number(schema.get("exclusiveMinimum")), _number(schema.get("exclusiveMaximum"))
    parts = []
    if low is not None and high is not None:
        return f"{noun} from {low} to {high}"
    if low is not None:
        parts.append(f"at least {low}")
    if above is not None:
        parts.append(f"above {above}")
    if high is not None:
        parts.append(f"at most {high}")
    if below is not None:
        parts.append(f"below {below}")
    return f"{noun} {' and '.join(parts)}" if parts else noun


_FORMATS = {
    "date-time": "an ISO 8601 time with its offset, e.g. 2026-12-04T10:30:00Z",
    "date": "a date, YYYY-MM-DD",
}
"""What a string of a JSON Schema format holds: "text" told a model sending "yesterday" nothing."""


def _text(schema: Mapping[str, Any]) -> str:
    parts = []
    shortest, longest = schema.get("minLength"), schema.get("maxLength")
    if shortest and longest:
        parts.append(f"of {shortest} to {longest} characters")
    elif longest:
        parts.append(f"of at most {longest} characters")
    elif shortest:
        parts.append(f"of at least {shortest} character(s)")
    if "pattern" in schema:
        parts.append(f"matching {schema['pattern']}")
    return "text " + ", ".join(parts) if parts else "text"


def _show(value: object, *, quote: bool = True) -> str:
    """A value as the model sent it (JSON), cut to :data:`MAX_SHOWN` characters."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except ValueError:
        text = repr(value)
    if not quote and isinstance(value, str):
        text = value
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…"


def argument_error(exc: ValidationError, schema: Mapping[str, Any], *, most: int = 3) -> str:
    """Pydantic's errors for a tool's arguments as one line: each argument, what was given, what
    is allowed (from the tool's input ``schema``), without pydantic's banner and links."""
    properties: Mapping[str, Any] = schema.get("properties", {})
    # What the caller gave and got wrong first, then what it left out.
    errors = _one_per_union(
        sorted(exc.errors(include_url=False), key=lambda e: e["type"] == "missing"), properties
    )
    parts: list[str] = []
    for error in errors[:most]:
        loc = [str(x) for x in error["loc"]]
        if not loc:
            # A check over all arguments (unknown ones): its message is already written for a person.
            parts.append(str(error["msg"]).removeprefix("Value error, "))
            continue
        member = _union_member(loc, properties)
        name = loc[0]
        where = name if member else ".".join(loc)
        prop = properties.get(name)
        takes = f"; allowed: {allowed(prop, schema)}" if prop is not None else ""
        if error["type"] == "missing":
            parts.append(f"argument '{where}' is required{takes}")
            continue
        # A union member's own reason ("a valid integer") would hide the other kinds it takes.
        if (error["type"] in _SAID_BY_ALLOWED or member) and takes:
            parts.append(f"argument '{where}' got {_show(error['input'])}{takes}")
            continue
        reason = str(error["msg"])
        reason = reason[:1].lower() + reason[1:]
        parts.append(f"argument '{where}' got {_show(error['input'])} ({reason}){takes}")
    if len(errors) > most:
        parts.append(f"and {len(errors) - most} more")
    return "; ".join(parts)


def _union_member(loc: Sequence[str], properties: Mapping[str, Any]) -> bool:
    """Whether pydantic located an error at a member of the argument's union: it tags each member
    it tried ('token_limit.int', "token_limit.literal['max']"), a name no caller gave."""
    prop = properties.get(loc[0]) if loc else None
    return prop is not None and "anyOf" in prop and len(loc) > 1 and not loc[1].isdigit()


def _one_per_union(errors: Sequence[ErrorDetails], properties: Mapping[str, Any]) -> list[ErrorDetails]:
    """The errors with those of one union argument as one: a value that fits none of its members
    is an error per member, each said with the same "allowed"."""
    seen: set[str] = set()
    kept: list[ErrorDetails] = []
    for error in errors:
        loc = [str(x) for x in error["loc"]]
        if _union_member(loc, properties):
            if loc[0] in seen:
                continue
            seen.add(loc[0])
        kept.append(error)
    return kept
