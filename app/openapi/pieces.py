"""The pieces the OpenAPI document is built from: small schema builders and the values both dialects share.

A request field's schema is not written here but read off its checker (`accepted`): the bounds, words and
spellings of routing.sessions.options, routing.phone and routing.urls are the document's.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from typing import Any

from routing.phone import WRITTEN_NUMBER
from routing.sessions.options import (
    BOOLEAN_TEXTS,
    INTEGER_TEXT,
    PIN_DIGITS,
    SUBACCOUNT_ID,
    Bounded,
    Choice,
    as_bool,
    as_party,
    as_pin,
    as_subaccount,
    as_url,
)
from routing.urls import MAX_LENGTH

Json = dict[str, Any]


def ref(name: str, kind: str = "schemas") -> Json:
    return {"$ref": f"#/components/{kind}/{name}"}


def described(schema: Json, description: str) -> Json:
    return {**schema, "description": description} if description else schema


def integer(low: int, high: int, default: int | None = None, description: str = "") -> Json:
    schema: Json = {"type": "integer", "minimum": low, "maximum": high}
    if default is not None:
        schema["default"] = default
    return described(schema, description)


def boolean(default: bool, description: str = "") -> Json:
    return described({"type": "boolean", "default": default}, description)


def obj(properties: Json, required: list[str] | None = None, closed: bool = True) -> Json:
    """Return an object schema; every property is required unless `required` says otherwise."""
    schema: Json = {"type": "object", "properties": properties}
    required = list(properties) if required is None else required
    if required:
        schema["required"] = required
    if closed:
        schema["additionalProperties"] = False
    return schema


def answer(description: str, schema: Json, headers: Json | None = None) -> Json:
    response: Json = {"description": description, "content": {"application/json": {"schema": schema}}}
    return {**response, "headers": headers} if headers else response


def body(schema: Json, required: bool, example: Json | None = None) -> Json:
    media: Json = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"required": required, "content": {"application/json": media}}


def query(name: str, schema: Json, description: str = "") -> Json:
    return described({"name": name, "in": "query", "required": False, "schema": schema}, description)


def path(name: str, schema: Json, description: str = "") -> Json:
    return described({"name": name, "in": "path", "required": True, "schema": schema}, description)


def operation(operation_id: str, summary: str, tag: str, responses: Json, **extra: Any) -> Json:
    return {"operationId": operation_id, "summary": summary, "tags": [tag], **extra, "responses": responses}


def errors(*statuses: int, unauthorized: str = "Unauthorized") -> Json:
    """Return the error responses `statuses`, the 429 of every authenticated operation, and the 503 any
    operation gives when the store fails it."""
    names = {
        400: "BadRequest",
        401: unauthorized,
        404: "NotFound",
        409: "Conflict",
        413: "TooLarge",
        429: "TooManyRequests",
        503: "Unavailable",
    }
    statuses += (429, 503) if 401 in statuses else (503,)
    return {str(status): ref(names[status], "responses") for status in sorted(statuses)}


def any_case(word: str) -> str:
    """Return a pattern that matches `word` in any case: `[Gg][Ee][Tt]`."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in word)


def words(*choices: str) -> str:
    """Return a pattern that matches one of `choices`, in any case, and nothing else."""
    return "^(" + "|".join(any_case(choice) for choice in choices) + ")$"


E164 = r"[1-9][0-9]{6,14}"
PHONE = {
    "type": ["string", "integer"],
    "pattern": f"^{WRITTEN_NUMBER}$",
    "examples": ["+14155551234"],
    "description": "E.164, with or without the leading `+`; spaces, `-`, `.`, `(` and `)` may separate the digits",
}
SHOWN_E164 = {"type": "string", "pattern": rf"^\+{E164}$"}
URL = {
    "type": "string",
    "maxLength": MAX_LENGTH,
    "pattern": rf"^({any_case('http')}[Ss]?://[^/?#@\\\s\x00-\x1f\x7f-\x9f]+([/?#][!-\[\]-~]*)?)?$",
    "description": (
        'an http or https URL; `""` clears it. No user information, backslashes, spaces or control characters, '
        "ASCII after the host (an internationalised host is fine), and an IPv4 host as four decimal numbers"
    ),
}
# What each field checker of routing.sessions.options takes, as JSON Schema (Bounded and Choice: see `accepted`).
_ACCEPTED: dict[Callable[..., Any], Json] = {
    as_bool: {
        "type": ["boolean", "string"],
        "pattern": words(*BOOLEAN_TEXTS),
        "description": f"a boolean, or {' or '.join(BOOLEAN_TEXTS)} as text in any case",
    },
    as_party: PHONE,
    as_url: URL,
    as_pin: {
        "type": ["string", "integer"],
        "pattern": f"^[0-9]{{{PIN_DIGITS[0]},{PIN_DIGITS[1]}}}$",
        "minimum": 10 ** (PIN_DIGITS[0] - 1),
        "maximum": 10 ** PIN_DIGITS[1] - 1,
    },
    as_subaccount: {"type": "string", "pattern": f"^{SUBACCOUNT_ID.pattern}$"},
}


def accepted(check: Callable[[object, str], Any]) -> Json:
    """Return what the request field checker `check` takes, as JSON Schema: a number's bounds hold for a JSON
    number, and its digits may come as text (a form field, a loose client) as `as_int` reads them."""
    if isinstance(check, Bounded):
        return {
            "type": ["integer", "string"],
            "minimum": check.low,
            "maximum": check.high,
            "pattern": f"^{INTEGER_TEXT}$",
        }
    if isinstance(check, Choice):
        return {"type": "string", "pattern": words(*check.choices), "examples": [check.choices[0]]}
    return _ACCEPTED[check]


def request_fields(
    checks: Mapping[str, Callable[[object, str], Any]],
    required: Collection[str],
    defaults: Mapping[str, Any],
    notes: Mapping[str, Json],
) -> Json:
    """Return the properties of a request body whose fields `checks` checks: each as its checker takes it
    (`accepted`), with its default and the `notes` (description, examples) given for it. A field that is not
    `required` may also be `null`, which the checks read as if it were left out."""
    properties: Json = {}
    for name, check in checks.items():
        rule, note = accepted(check), notes.get(name, {})
        schema = {**rule, **note}
        if "description" in rule and "description" in note:
            schema["description"] = f"{rule['description']}; {note['description']}"
        if name in defaults:
            schema["default"] = defaults[name]
        if name not in required:
            types = rule["type"] if isinstance(rule["type"], list) else [rule["type"]]
            schema["type"] = [*types, "null"]
        properties[name] = schema
    return properties


def given(name: str) -> Json:
    """Return the condition that the body gives `name`, and not as `null`."""
    return {"required": [name], "properties": {name: {"not": {"type": "null"}}}}


UUID = {"type": "string", "format": "uuid"}
TEXT = {"type": "string"}
COUNT = {"type": "integer", "minimum": 0}
FLAG = {"type": "boolean"}
ISO_TIME = {
    "type": "string",
    "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$",
    "examples": ["2024-02-01T06:28:15.772699Z"],
}
