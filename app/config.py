"""Settings, read once from the environment (and overridable by `create_app(config)`)."""

from __future__ import annotations

import os
from typing import Any

from routing.keys import DEFAULT_PREFIX


def _flag(name: str, default: str = "0") -> bool:
    return os.environ.get(name, default).strip().lower() in ("1", "true", "yes", "on")


def from_environment() -> dict[str, Any]:
    """Return the settings the environment gives, with masq's defaults for the rest."""
    redis_url = os.environ.get("REDIS_URL", "")
    return {
        # Empty REDIS_URL: masq starts (or reuses) its embedded Redis, keeping data under MASQ_DATA_DIR.
        "REDIS_URL": redis_url,
        "QUEUE_REDIS_URL": os.environ.get("QUEUE_REDIS_URL", redis_url),
        "MASQ_QUEUE": os.environ.get("MASQ_QUEUE", "masq"),
        "MASQ_KEY_PREFIX": os.environ.get("MASQ_KEY_PREFIX", DEFAULT_PREFIX),
        "MASQ_DATA_DIR": os.environ.get("MASQ_DATA_DIR", os.path.join(os.getcwd(), "var")),
        "MASQ_EMBEDDED_REDIS_PORT": int(os.environ.get("MASQ_EMBEDDED_REDIS_PORT", "6390")),
        "MASQ_PUBLIC_URL": os.environ.get("MASQ_PUBLIC_URL", "http://127.0.0.1:8080").rstrip("/"),
        "TWILIO_ACCOUNT_SID": os.environ.get("TWILIO_ACCOUNT_SID", ""),
        "TWILIO_AUTH_TOKEN": os.environ.get("TWILIO_AUTH_TOKEN", ""),
        # Where the Twilio REST client sends its requests instead of https://api.twilio.com (a loopback fake in
        # tests, or an egress proxy); empty for Twilio itself.
        "TWILIO_API_BASE_URL": os.environ.get("TWILIO_API_BASE_URL", "").rstrip("/"),
        # Development only: accept carrier webhooks without a valid X-Twilio-Signature.
        "MASQ_SKIP_TWILIO_SIGNATURE": _flag("MASQ_SKIP_TWILIO_SIGNATURE"),
        "MASQ_ALLOW_PRIVATE_CALLBACKS": _flag("MASQ_ALLOW_PRIVATE_CALLBACKS"),
        # Seconds between callback retries, comma-separated (default: 10 s growing to 8 h, 25 h in all).
        "MASQ_CALLBACK_BACKOFF": os.environ.get("MASQ_CALLBACK_BACKOFF", ""),
        # How long a worker may hold an event silently before another takes it over (a killed worker).
        "MASQ_CALLBACK_CLAIM_IDLE_MS": os.environ.get("MASQ_CALLBACK_CLAIM_IDLE_MS", ""),
        "MAX_CONTENT_LENGTH": int(os.environ.get("MASQ_MAX_BODY_BYTES", str(64 * 1024))),
        # Requests each tenant may make on the REST APIs per window of seconds (0: no limit); carrier webhooks
        # are never limited.
        "MASQ_RATE_LIMIT": int(os.environ.get("MASQ_RATE_LIMIT", "100")),
        "MASQ_RATE_WINDOW": float(os.environ.get("MASQ_RATE_WINDOW", "1")),
        "MASQ_LOG_LEVEL": os.environ.get("MASQ_LOG_LEVEL", "INFO").strip().upper(),
    }
