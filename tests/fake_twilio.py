"""A loopback stand-in for Twilio's REST API: it records each call created and answers as Twilio does."""

from __future__ import annotations

import base64
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, urlsplit

from tests.receiver import QuietServer

CALLS = re.compile(r"/2010-04-01/Accounts/(AC[0-9a-f]{32})/Calls\.json")
CALL = re.compile(r"/2010-04-01/Accounts/(AC[0-9a-f]{32})/Calls/(CA[0-9a-f]{32})\.json")


@dataclass(frozen=True)
class CreatedCall:
    """One `POST …/Calls.json` as the fake saw it: the account in the path, the Basic credentials, the form."""

    account_sid: str
    credentials: tuple[str, str]
    fields: dict[str, str]
    sid: str
    created: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass
class FakeTwilio:
    """Twilio's Calls resource on a loopback port; set `status` to make it fail (500, 400…).

    Set `delay` to answer a create that many seconds late, the call created all the same (a slow Twilio that a
    client times out on). A field sent several times (StatusCallbackEvent) is kept as its values joined by spaces.
    """

    status: int = 201
    delay: float = 0.0
    calls: list[CreatedCall] = field(default_factory=list)
    # `GET …/Calls/{Sid}.json`: each known call's (status, duration); any other sid is a 404, as Twilio answers.
    call_states: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)
    _server: QuietServer | None = None

    @property
    def url(self) -> str:
        """Return the base URL to give the Twilio client instead of https://api.twilio.com."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @staticmethod
    def listed(created: CreatedCall, query: dict[str, str]) -> bool:
        """Whether Twilio's Calls list filtered by `query` (To, From, StartTime>=, StartTime<=) shows `created`.

        The client sends `StartTime>=…` as the field `StartTime>` (the `=` separates name and value).
        """
        if query.get("To", created.fields.get("To")) != created.fields.get("To"):
            return False
        if query.get("From", created.fields.get("From")) != created.fields.get("From"):
            return False
        after, before = query.get("StartTime>"), query.get("StartTime<")
        if after and created.created < datetime.fromisoformat(after):
            return False
        return not (before and created.created > datetime.fromisoformat(before))

    @staticmethod
    def call_json(created: CreatedCall) -> dict[str, object]:
        """Return a call as Twilio's Calls resource shows it, still queued."""
        return {
            "sid": created.sid,
            "account_sid": created.account_sid,
            "to": created.fields.get("To"),
            "from": created.fields.get("From"),
            "status": "queued",
            "direction": "outbound-api",
            "api_version": "2010-04-01",
            "date_created": format_datetime(created.created),
            "start_time": format_datetime(created.created),
            "uri": f"/2010-04-01/Accounts/{created.account_sid}/Calls/{created.sid}.json",
        }

    def start(self) -> FakeTwilio:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                fields: dict[str, str] = {}
                for name, value in parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True):
                    fields[name] = f"{fields[name]} {value}" if name in fields else value
                found = CALLS.fullmatch(self.path)
                if found is None:
                    return self._json(
                        404, {"code": 20404, "message": "The requested resource was not found", "status": 404}
                    )
                if fake.status >= 400:
                    return self._json(
                        fake.status,
                        {
                            "code": 20500,
                            "message": "Internal Server Error",
                            "more_info": "https://www.twilio.com/docs/errors/20500",
                            "status": fake.status,
                        },
                    )
                user, _, password = base64.b64decode(self.headers.get("Authorization", "")[6:]).decode().partition(":")
                created = CreatedCall(found[1], (user, password), fields, "CA" + uuid.uuid4().hex)
                fake.calls.append(created)
                time.sleep(fake.delay)
                self._json(201, fake.call_json(created))

            def do_GET(self) -> None:
                if CALL.fullmatch(self.path.split("?", 1)[0]):
                    return fake.fetch_call(self)
                self._list_calls()

            def _list_calls(self) -> None:
                """`GET …/Calls.json?To=…&From=…&StartTime>=…`: the calls created, newest first, filtered."""
                url = urlsplit(self.path)
                found = CALLS.fullmatch(url.path)
                if found is None:
                    return self._json(
                        404, {"code": 20404, "message": "The requested resource was not found", "status": 404}
                    )
                query = dict(parse_qsl(url.query))
                matching = [
                    created
                    for created in reversed(fake.calls)
                    if created.account_sid == found[1] and fake.listed(created, query)
                ]
                self._json(
                    200,
                    {
                        "calls": [fake.call_json(created) for created in matching],
                        "first_page_uri": self.path,
                        "next_page_uri": None,
                        "previous_page_uri": None,
                        "page": 0,
                        "page_size": int(query.get("PageSize", 50)),
                        "start": 0,
                        "end": max(len(matching) - 1, 0),
                        "uri": self.path,
                    },
                )

            def _json(self, status: int, payload: dict[str, object]) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self._server = QuietServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def set_call(self, sid: str, status: str, duration: int | None = None) -> None:
        """Make `GET …/Calls/{sid}.json` answer that the call stands at `status` (its `duration` s once over)."""
        self.call_states[sid] = (status, None if duration is None else str(duration))

    def fetch_call(self, handler: BaseHTTPRequestHandler) -> None:
        """Answer `GET …/Calls/{Sid}.json` as Twilio's Calls resource does: the call set by `set_call`, else 404."""
        found = CALL.fullmatch(handler.path.split("?", 1)[0])
        state = self.call_states.get(found[2]) if found else None
        if found:
            self.fetched.append(found[2])
        if found is None or state is None:
            payload: dict[str, object] = {
                "code": 20404,
                "message": "The requested resource was not found",
                "more_info": "https://www.twilio.com/docs/errors/20404",
                "status": 404,
            }
            status = 404
        else:
            status, payload = (
                200,
                {
                    "sid": found[2],
                    "account_sid": found[1],
                    "status": state[0],
                    "duration": state[1],
                    "direction": "inbound",
                    "api_version": "2010-04-01",
                    "uri": f"/2010-04-01/Accounts/{found[1]}/Calls/{found[2]}.json",
                },
            )
        body = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
