"""The README's quick start as a newcomer runs it: `masq serve` on a port of its own, then `masq demo` and the first
steps (a tenant, its DIDs, a session, a simulated call) in either order, none of them told the URL or the port."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner, Result

from app.cli import cli, embedded, served_url
from app.cli.demo import DEMO_DIDS
from tests.conftest import wait_for
from tests.test_worker_flows import forget_queue

README = Path(__file__).parent.parent / "README.md"
FIRST_PARTY, SECOND_PARTY = "+14155551234", "+14155554321"
README_DIDS = ["+14155550100", "+14155550101"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    """A `masq serve` in a child process: its URL, and the environment of the commands run beside it."""

    url: str
    env: dict[str, str | None]

    def masq(self, *args: str) -> Result:
        return CliRunner().invoke(cli, list(args), env=self.env)


@pytest.fixture
def served(env: dict[str, str], tmp_path: Path) -> Iterator[Served]:
    """`masq serve` on a free port (not 8080) with its worker, on the test's Redis, key prefix, queue and data dir."""
    port = free_port()
    queue = f"masqtest-{uuid.uuid4().hex[:8]}"
    # What a newcomer's shell has: no public URL, no carrier token (serve makes a development one in the data folder).
    shell = {**env, "MASQ_DATA_DIR": str(tmp_path / "var"), "MASQ_QUEUE": queue}
    inherited = {k: v for k, v in os.environ.items() if k not in ("MASQ_PUBLIC_URL", "TWILIO_AUTH_TOKEN")}
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        env={**inherited, **shell},
        cwd=Path(__file__).parent.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # the worker's scheduler process goes down with the group
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: requests.get(f"{url}/healthz", timeout=2).ok, ignoring=(requests.ConnectionError,))
        yield Served(url, {**shell, "MASQ_PUBLIC_URL": None, "TWILIO_AUTH_TOKEN": None})
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        finally:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        forget_queue(env["REDIS_URL"], queue)


def first_steps(served: Served) -> str:
    """Run the README's first steps; return what the simulated call printed."""
    created = served.masq("tenant", "create", "--name", "acme")
    assert created.exit_code == 0, created.output
    auth_id = re.search(r'"auth_id": "(\w+)"', created.stdout)[1]  # type: ignore[index]
    auth_token = re.search(r'"auth_token": "(\w+)"', created.stdout)[1]  # type: ignore[index]
    added = served.masq("did", "add", auth_id, *README_DIDS)
    assert added.exit_code == 0, added.output + added.stderr
    session = requests.post(
        f"{served.url}/v1/Account/{auth_id}/Masking/Session/",
        auth=(auth_id, auth_token),
        json={"first_party": FIRST_PARTY, "second_party": SECOND_PARTY, "session_expiry": 1800},
        timeout=10,
    )
    assert session.status_code == 200, session.text
    virtual_number = session.json()["virtual_number"]
    assert virtual_number in README_DIDS
    call = served.masq("simulate", "call", "--from", FIRST_PARTY, "--to", virtual_number)
    assert call.exit_code == 0, call.output + call.stderr
    return call.stdout


def demo(served: Served) -> str:
    """Run `masq demo`; return what it printed."""
    result = served.masq("demo")
    assert result.exit_code == 0, result.output + result.stderr
    return result.stdout


def test_the_demo_then_the_first_steps_follow_the_port_masq_serve_was_started_on(served):
    shown = demo(served)

    assert f"holds {', '.join(DEMO_DIDS)}" in shown
    assert "the call ended: bridged" in shown
    assert '"EventName": "SessionPartiesHangup"' in shown
    # every event the demo's session sends reaches the demo, its recording's and its end's too: no gaps
    numbers = [int(n) for n in re.findall(r'"SequenceNumber": "(\d+)"', shown)]
    assert numbers == list(range(1, len(numbers) + 1)) and '"EventName": "SessionEnded"' in shown
    assert "ending: bridged" in first_steps(served)


def test_the_first_steps_then_the_demo(served):
    assert "ending: bridged" in first_steps(served)

    shown = demo(served)

    assert re.search(rf"reach each other on ({'|'.join(re.escape(d) for d in DEMO_DIDS)})", shown)
    assert "the call ended: bridged" in shown


def test_the_demo_keeps_off_every_number_the_quick_start_gives_a_tenant():
    quick_start = README.read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    given = {n for line in quick_start.splitlines() if "did add" in line for n in re.findall(r"\+1\d{10}", line)}

    assert given == set(README_DIDS)
    assert not given & set(DEMO_DIDS)


@pytest.mark.integration  # would start the embedded Redis if it went wrong
@pytest.mark.parametrize("command", [["demo"], ["simulate", "call", "--from", FIRST_PARTY, "--to", DEMO_DIDS[0]]])
def test_with_nothing_serving_a_command_asks_whether_masq_serve_runs_and_starts_nothing(tmp_path, command):
    nowhere = f"http://127.0.0.1:{free_port()}"
    environ = {
        "MASQ_DATA_DIR": str(tmp_path),
        "MASQ_PUBLIC_URL": nowhere,
        "REDIS_URL": "",
        "MASQ_EMBEDDED_REDIS_PORT": str(free_port()),
    }

    result = CliRunner().invoke(cli, command, env=environ)

    assert result.exit_code == 1
    assert f"nothing answers at {nowhere}: is `masq serve` running?" in result.stderr
    assert embedded.running_port(str(tmp_path)) is None


def test_a_command_follows_the_recorded_serve_and_ignores_one_that_has_ended(tmp_path):
    config = {"MASQ_DATA_DIR": str(tmp_path), "MASQ_PUBLIC_URL": "http://127.0.0.1:8080"}
    served_url.record(str(tmp_path), "http://127.0.0.1:8451")
    assert served_url.base_url(None, config) == "http://127.0.0.1:8451"
    assert served_url.base_url("http://127.0.0.1:9000/", config) == "http://127.0.0.1:9000"

    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (tmp_path / served_url.FILE).write_text(f'{{"url": "http://127.0.0.1:8451", "pid": {int(ended.stdout)}}}')

    assert served_url.recorded(str(tmp_path)) is None
    assert served_url.base_url(None, config) == "http://127.0.0.1:8080"
