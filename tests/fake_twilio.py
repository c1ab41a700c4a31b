"""A loopback stand-in for Twilio's REST API: it records each call created and answers as Twilio does."""

from __future__ import annotations

import base64
import json
import re
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl

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


@dataclass
class FakeTwilio:
    """Twilio's Calls resource on a loopback port; set `status` to make it fail (500, 400…)."""

    status: int = 201
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

    def start(self) -> FakeTwilio:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                fields = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
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
                sid = "CA" + uuid.uuid4().hex
                fake.calls.append(CreatedCall(found[1], (user, password), fields, sid))
                self._json(
                    201,
                    {
                        "sid": sid,
                        "account_sid": found[1],
                        "to": fields.get("To"),
                        "from": fields.get("From"),
                        "status": "queued",
                        "direction": "outbound-api",
                        "api_version": "2010-04-01",
                        "uri": f"/2010-04-01/Accounts/{found[1]}/Calls/{sid}.json",
                    },
                )

            def do_GET(self) -> None:
                fake.fetch_call(self)

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
