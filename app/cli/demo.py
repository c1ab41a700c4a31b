"""The demo a new user runs second: a tenant, a session, a simulated call, and the callbacks it brings.

`masq demo` drives a running masq (`masq serve`) only through its public doors — the REST API, the carrier webhooks
(signed like Twilio) and the tenant's callback URL — so what it prints is what a real tenant would see.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl

import click
import requests

from app.cli import served_url
from app.cli.simulator import CallPlan, Carrier, CarrierError
from app.cli.support import dev_twilio_token, open_store
from routing import pool, settings, tenants
from routing.errors import RoutingError
from routing.store import Store

# The demo tenant's DIDs: fictional numbers (555-01xx) of their own, so that the README's first steps, which give
# +14155550100 and +14155550101 to a tenant of the reader's, work before or after the demo.
DEMO_DIDS = ["+14155550190", "+14155550191"]
DRIVER, RIDER = "+14155551234", "+14155554321"


@dataclass
class Inbox:
    """A loopback HTTP server standing in for the tenant's callback URL."""

    events: list[dict[str, str]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    def start(self) -> str:
        """Start listening; return the callback URL."""
        inbox = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                inbox.events.append(dict(parse_qsl(self.rfile.read(length).decode())))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.server.server_address[1]}/callbacks"

    def stop(self) -> None:
        """Stop listening."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def demo_tenant(store: Store, saved: str) -> tenants.Credentials:
    """Return the demo tenant kept in the file `saved` (making it the first time), holding the demo DIDs."""
    credentials = _saved_tenant(store, saved)
    if credentials is None:
        credentials = tenants.create_tenant(store, "demo", store.now_us())
        os.makedirs(os.path.dirname(saved) or ".", exist_ok=True)
        with open(os.open(saved, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as file:
            json.dump(asdict(credentials), file)
    pool.add_numbers(store, credentials.auth_id, DEMO_DIDS, store.now_us())  # held already: nothing changes
    return credentials


def _saved_tenant(store: Store, saved: str) -> tenants.Credentials | None:
    if not os.path.exists(saved):
        return None
    with open(saved) as file:
        credentials = tenants.Credentials(**json.load(file))
    try:
        tenants.admit(store, tenants.basic_credential(credentials.auth_id, credentials.auth_token), store.now_us())
    except RoutingError:
        return None  # another Redis, or its data is gone: make a new one
    return credentials


def run(
    store: Store, base_url: str, carrier_token: str, say: Callable[[str], None], saved: str, wait: float = 15.0
) -> int:
    """Run the demo against masq at `base_url`; return how many callbacks arrived."""
    credentials = demo_tenant(store, saved)
    auth = (credentials.auth_id, credentials.auth_token)
    say(f"tenant {credentials.auth_id} (saved in {saved}) holds {', '.join(DEMO_DIDS)}")
    inbox = Inbox()
    callback_url = inbox.start()
    try:
        sessions_url = f"{base_url}/v1/Account/{credentials.auth_id}/Masking/Session/"
        response = requests.post(
            sessions_url,
            auth=auth,
            timeout=10,
            json={
                "first_party": DRIVER,
                "second_party": RIDER,
                "callback_url": callback_url,
                "record": True,
                "recording_callback_url": callback_url,
            },
        )
        response.raise_for_status()
        session = response.json()
        say(f"session {session['session_uuid']}: {DRIVER} and {RIDER} reach each other on {session['virtual_number']}")
        result = Carrier(base_url, carrier_token, echo=lambda line: say("  " + line)).call(
            CallPlan(DRIVER, session["virtual_number"], talk_seconds=65)
        )
        deadline = time.monotonic() + wait
        arrived(inbox, "SessionPartiesHangup", deadline)
        requests.delete(f"{sessions_url}{session['session_uuid']}/", auth=auth, timeout=10)
        arrived(inbox, "SessionEnded", deadline)  # the receiver stays up for the session's last callback
        say(f"the call ended: {result.ending}; the session was ended; callbacks at {callback_url}:")
        for event in sorted(inbox.events, key=lambda e: int(e.get("SequenceNumber", 0))):
            shown = {k: event[k] for k in ("SequenceNumber", "EventName", "Duration", "Amount") if event.get(k)}
            say("  " + json.dumps(shown))
        if not inbox.events:
            say(
                "  none arrived: is a worker running (masq serve starts one), and may it call loopback "
                "(MASQ_ALLOW_PRIVATE_CALLBACKS=1, the default of masq serve)?"
            )
        return len(inbox.events)
    finally:
        inbox.stop()


@click.command()
@click.option("--url", default=None, help="masq's URL [default: where `masq serve` runs, else MASQ_PUBLIC_URL].")
def demo(url: str | None) -> None:
    """Show masq end to end against a running `masq serve`: a session, a simulated call and its callbacks."""
    config = settings.from_environment()
    base_url = served_url.base_url(url, config)
    served_url.require_answer(base_url)  # before touching the store: say so at once when nothing runs
    try:
        run(
            open_store(),
            base_url,
            dev_twilio_token(config, create=False),
            click.echo,
            os.path.join(config["MASQ_DATA_DIR"], "demo-tenant.json"),
        )
    except (CarrierError, requests.RequestException) as exc:
        raise click.ClickException(f"{exc} (is `masq serve` running?)") from exc


def arrived(inbox: Inbox, event_name: str, deadline: float) -> bool:
    """Wait until `inbox` has received an event named `event_name`, or `deadline` (`time.monotonic()`) passes."""
    while not any(e.get("EventName") == event_name for e in inbox.events):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True
