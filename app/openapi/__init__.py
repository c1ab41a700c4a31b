"""The OpenAPI 3.1 document of masq's HTTP API: both REST dialects and the operational endpoints.

Built from small pieces (`pieces`), one module per dialect, so that each shape and bound is written once;
tests/test_openapi.py checks the bounds against the code and fuzzes the API from this document.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from app.openapi import cloudtalk, plivo, plivo_calls
from app.openapi.pieces import TEXT, UUID, Json, answer, described, obj, operation, ref
from app.openapi.plivo import PLIVO, PLIVO_SESSION

__all__ = ["PLIVO", "PLIVO_SESSION", "document"]


def ops_paths() -> Json:
    """Return the operational endpoints: health, readiness and this document, open to all; metrics, behind a token."""
    ok = obj({"status": {"const": "ok"}})
    unavailable = obj({"status": {"const": "unavailable"}, "error": TEXT})
    public: dict[str, Any] = {"security": []}
    return {
        "/healthz": {"get": operation("healthz", "The process is up", "ops", {"200": answer("Up", ok)}, **public)},
        "/readyz": {
            "get": operation(
                "readyz",
                "Redis answers",
                "ops",
                {
                    "200": answer("Ready", ok),
                    "503": answer("Redis did not answer a PING in time", {"anyOf": [unavailable, ref("Error")]}),
                },
                **public,
            )
        },
        "/openapi.json": {
            "get": operation(
                "openapi", "This document", "ops", {"200": answer("The OpenAPI document", {"type": "object"})}, **public
            )
        },
        "/metrics": {
            "get": operation(
                "metrics",
                "Prometheus metrics, masq-wide (no figure names a tenant)",
                "ops",
                {
                    "200": {
                        "description": "Webhook latency, sessions, pools, callback deliveries, tenants and queue depth",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    "401": answer(
                        "No bearer token, or not MASQ_METRICS_TOKEN",
                        ref("Error"),
                        {"WWW-Authenticate": {"required": True, "schema": {"type": "string", "pattern": "^Bearer "}}},
                    ),
                    "403": answer("MASQ_METRICS_TOKEN is not set: the metrics answer no one", ref("Error")),
                    "503": ref("Unavailable", "responses"),
                },
                security=[{"metrics_token": []}],
            )
        },
    }


@cache
def document() -> Json:
    """Return the OpenAPI document (built once: callers must not change it)."""
    error = obj(
        {
            "api_id": UUID,
            "error": TEXT,
            "field": described(
                TEXT, "the field at fault, on a 400 (and on the 409 of a PIN a shared number has already)"
            ),
        },
        required=["api_id", "error"],
    )

    def failure(description: str, headers: Json | None = None) -> Json:
        return answer(description, ref("Error"), headers)

    return {
        "openapi": "3.1.0",
        "info": {
            "title": "masq",
            "version": "0.1.0",
            "description": "Number masking for voice: sessions in a Plivo-compatible dialect (HTTP Basic) and a "
            "CloudTalk-style dialect (`X-API-Key`), each account within its rate limit. Every error "
            "is `{api_id, error}`, with `field` on a 400. A method a path does not list answers 405 "
            "in the same shape, with `Allow`. masq never answers 500; it answers 503 when it cannot "
            "finish a request.",
        },
        "tags": [
            {"name": "plivo", "description": "Plivo's Masking Session API"},
            {"name": "cloudtalk", "description": "CloudTalk-style sessions and numbers"},
            {
                "name": "ops",
                "description": "Health and this document, without authentication; the metrics, with a token",
            },
        ],
        "paths": {**plivo.paths(), **plivo_calls.paths(), **cloudtalk.paths(), **ops_paths()},
        "components": {
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic", "description": "auth_id:auth_token"},
                "api_key": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "metrics_token": {"type": "http", "scheme": "bearer", "description": "MASQ_METRICS_TOKEN"},
            },
            "schemas": {
                "Error": error,
                "PlivoSession": plivo.session(),
                "PlivoInteraction": plivo.interaction(),
                "CloudTalkSession": cloudtalk.session(),
            },
            "responses": {
                "BadRequest": failure("A field is missing, malformed or out of bounds; `field` names it"),
                "Unauthorized": failure("Credentials missing or wrong"),
                "PlivoUnauthorized": failure(
                    "Credentials missing or wrong, or another account's auth_id",
                    {"WWW-Authenticate": {"required": True, "schema": {"const": 'Basic realm="masq"'}}},
                ),
                "NotFound": failure(
                    "No such session, call or recording for this account (another account's is not found either)"
                ),
                "Conflict": failure(
                    "The state forbids it: the pool is exhausted, the number is taken, or the session has already ended"
                ),
                "TooLarge": failure("The body is larger than MASQ_MAX_BODY_BYTES"),
                "TooManyRequests": failure(
                    "The account is over MASQ_RATE_LIMIT requests per MASQ_RATE_WINDOW, or the client has "
                    "failed to log in too often (see MASQ_LOGIN_FAILURES) and its credential was not checked",
                    {
                        "Retry-After": {
                            "required": True,
                            "schema": {"type": "integer", "minimum": 1},
                            "description": "seconds until a request will pass, or its credential will be checked",
                        }
                    },
                ),
                "MethodNotAllowed": failure(
                    "The path does not take this method",
                    {"Allow": {"required": True, "schema": TEXT, "description": "the methods the path takes"}},
                ),
                "Unavailable": failure("masq could not finish the request (its store did not answer); retry"),
            },
        },
    }
