"""Plivo's own Node.js SDK (npm `plivo`), unchanged, talking to masq over real HTTP on the real Redis.

The SDK is installed with npm once per version, into a folder of the system's temporary directory that later runs
reuse; tests/plivo_node_sdk.js drives it (create, get, list with filters, update, delete) and prints each answer as
the SDK's own response classes hold it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from routing.clock import now_us
from routing.sessions import lifecycle
from tests.conftest import TenantFixture, cannot_run, make_tenant

pytestmark = pytest.mark.integration  # npm, node and masq over real HTTP on the real Redis

PLIVO_NODE = "4.78.0"  # the npm `plivo` version under test
SCRIPT = Path(__file__).with_name("plivo_node_sdk.js")
FIRST, SECOND = "14155551234", "14155554321"
PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        cannot_run(f"Plivo's Node.js SDK test needs `{name}` on PATH")
    return found


@pytest.fixture(scope="session")
def plivo_node() -> Path:
    """Return the node_modules folder holding npm `plivo` at PLIVO_NODE: installed by the first run, then kept."""
    npm = tool("npm")
    home = Path(tempfile.gettempdir()) / f"masq-plivo-node-{PLIVO_NODE}"
    modules = home / "node_modules"
    if not (modules / "plivo" / "package.json").is_file():
        # Installed beside and moved in whole, so a run never sees half an install, nor two runs one each other's.
        staging = Path(tempfile.mkdtemp(prefix=f"{home.name}-", dir=home.parent))
        subprocess.run(
            [npm, "install", "--prefix", str(staging), f"plivo@{PLIVO_NODE}", "--omit=dev", "--no-save"]
            + ["--no-package-lock", "--no-audit", "--no-fund", "--loglevel=error"],
            check=True,
            capture_output=True,
            timeout=300,
        )
        try:
            staging.rename(home)
        except OSError:  # another run put it there first
            shutil.rmtree(staging, ignore_errors=True)
    installed = json.loads((modules / "plivo" / "package.json").read_text())["version"]
    assert installed == PLIVO_NODE
    return modules


@pytest.fixture
def account(real_store) -> TenantFixture:
    return make_tenant(real_store)


def drive(plivo_node: Path, live_server: str, tenant: TenantFixture) -> dict[str, Any]:
    """Run tests/plivo_node_sdk.js against masq as `tenant`; return what it printed."""
    env = {k: v for k, v in os.environ.items() if k not in PROXIES} | {"NODE_PATH": str(plivo_node)}
    args = [tool("node"), str(SCRIPT), live_server, tenant.auth_id, tenant.auth_token, FIRST, SECOND]
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_the_node_sdk_creates_gets_lists_updates_and_deletes_a_session_with_its_own_classes(
    plivo_node, live_server, real_store, account
):
    report = drive(plivo_node, live_server, account)

    created = report["created"]
    assert (created["class"], created["message"]) == ("CreateMaskingSessionResponse", "Session created")
    uuid, session = created["sessionUuid"], created["session"]
    assert created["apiId"] and created["virtualNumber"] in account.numbers
    assert (session["sessionUuid"], session["virtualNumber"]) == (uuid, created["virtualNumber"].removeprefix("+"))
    assert (session["firstParty"], session["secondParty"], session["status"]) == (FIRST, SECOND, "active")
    assert (session["duration"], session["callTimeLimit"], session["ringTimeout"]) == (7200, 600, 45)
    assert (session["record"], session["recordFileFormat"]) == (True, "wav")
    assert (session["callbackUrl"], session["callbackMethod"]) == ("https://hooks.example.com/callback", "GET")

    got = report["got"]
    assert got["class"] == "PlivoGenericResponse" and got["apiId"] not in ("", created["apiId"])
    assert {k: got["response"][k] for k in ("sessionUuid", "createdTime", "expiryTime", "duration")} == {
        "sessionUuid": uuid,
        "createdTime": session["createdTime"],
        "expiryTime": session["expiryTime"],
        "duration": 7200,
    }

    listed = report["listed"]  # first_party, status=active, duration__gte=3600: the short session is left out
    assert listed["class"] == "ListMaskingSessionResponse"
    assert [s["sessionUuid"] for s in listed["response"]["objects"]] == [uuid]
    assert (listed["response"]["meta"]["totalCount"], listed["response"]["meta"]["limit"]) == (1, 5)

    updated = report["updated"]
    assert (updated["class"], updated["message"]) == ("PlivoGenericResponse", "Session updated")
    assert (updated["session"]["callTimeLimit"], updated["session"]["ringTimeout"]) == (900, 30)
    assert updated["session"]["duration"] == 7200

    deleted = report["deleted"]
    assert deleted["class"] == "PlivoGenericResponse" and deleted["apiId"]
    assert deleted["message"] == "Session Deleted"
    assert lifecycle.get_session(real_store, account.auth_id, uuid).status(now_us()) == "expired"

    expired = report["expired"]
    assert [(s["sessionUuid"], s["status"]) for s in expired["response"]["objects"]] == [(uuid, "expired")]
    assert report["short"]["session"]["duration"] == 600

    missing, refused = report["missing"], report["refused"]
    assert (missing["status"], missing["message"]) == (404, "no session '00000000-0000-4000-8000-000000000000'")
    assert refused["status"] == 400 and "status" in refused["message"]
    assert missing["apiId"] and refused["apiId"]

    base = f"{live_server}/v1/Account/{account.auth_id}/Masking/Session/"
    assert [line.split(" ", 1)[0] for line in report["sent"]] == [
        "POST",
        "POST",
        "GET",
        "GET",
        "POST",
        "DELETE",
        "GET",
        "GET",
        "GET",
    ]
    assert all(line.split(" ", 1)[1].startswith(base) for line in report["sent"])
