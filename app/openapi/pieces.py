"""The pieces the OpenAPI document is built from: small schema builders and the values both dialects share."""

from __future__ import annotations

from typing import Any

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


E164 = r"[1-9][0-9]{6,14}"
PHONE = {
    "type": "string",
    "pattern": rf"^\+?{E164}$",
    "examples": ["+14155551234"],
    "description": "E.164, with or without the leading `+`",
}
OTHER_PHONE = {**PHONE, "examples": ["+14155554321"]}
POOL_PHONE = {**PHONE, "examples": ["+14155550100"]}
SHOWN_E164 = {"type": "string", "pattern": rf"^\+{E164}$"}
URL = {
    "type": "string",
    "maxLength": 2048,
    "pattern": r"^(https?://[^/?#@\\\s\x00-\x1f\x7f-\x9f]+([/?#][!-\[\]-~]*)?)?$",
    "description": (
        'an http or https URL; `""` clears it. No user information, backslashes, spaces or control characters, '
        "ASCII after the host (an internationalised host is fine), and an IPv4 host as four decimal numbers"
    ),
}
UUID = {"type": "string", "format": "uuid"}
TEXT = {"type": "string"}
COUNT = {"type": "integer", "minimum": 0}
FLAG = {"type": "boolean"}
ISO_TIME = {
    "type": "string",
    "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$",
    "examples": ["2024-02-01T06:28:15.772699Z"],
}
