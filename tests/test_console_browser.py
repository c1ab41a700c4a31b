"""The console in a real browser: the system's headless Chromium, driven by Selenium.

A tenant logs in, opens a session after a simulated call, sees its events dead (its callback URL failed),
replays one and sees it delivered by the dispatcher; a screenshot of each page is saved under the test's
temporary folder. Chromium and its driver come from the system's packages (Debian `chromium` and
`chromium-driver`, which .ci/run installs); outside CI a machine without them skips this test and says why.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from app.cli.simulator import CallPlan, Carrier
from routing import outbox
from routing.clock import now_us
from routing.outbox import Policy
from routing.phone import mask
from routing.sessions import lifecycle
from tests.conftest import cannot_run, make_tenant, serving, wait_for
from tests.sessions_helpers import credential
from tests.twilio_helpers import TOKEN, inbound_fields, sign
from workers.deliveries import Sender
from workers.dispatcher import Dispatcher, run_in_thread

pytestmark = pytest.mark.integration  # a real Redis, a real HTTP server, a browser

FIRST, SECOND = "+14155551234", "+14155554321"
EVENTS = 7  # a bridged call's: the dialled leg's start and ring, two answers, two hang-ups and the call's end
SECRET = "browser-test-secret-" + "s" * 32
OPERATOR = "browser-test-operator-" + "o" * 32
BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def chromium() -> tuple[str, str]:
    """Return the paths of the system's Chromium and of its driver; skip (fail in CI) when either is missing."""
    browser = next((path for name in BROWSERS if (path := shutil.which(name))), None)
    driver = shutil.which("chromedriver")
    if browser and driver:
        return browser, driver
    missing = "chromium" if not browser else "chromedriver"
    cannot_run(f"{missing} is not installed (Debian: apt-get install chromium chromium-driver)")


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    binary, driver = chromium()
    options = Options()
    options.binary_location = binary
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1360,1000",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(argument)
    chrome = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    chrome.set_page_load_timeout(30)
    yield chrome
    chrome.quit()


@pytest.fixture
def dispatcher(real_store):
    """The worker's dispatcher on a thread: an event whose delivery fails is dead at once (no retries)."""
    sender = Sender(threads=4, allow_private=True)
    thread, stop = run_in_thread(Dispatcher(real_store, sender, policy=Policy(backoff=())))
    yield
    stop.set()
    thread.join(timeout=10)
    sender.close()


def opened(chrome: webdriver.Chrome, title: str) -> None:
    """Wait for the page titled `title` (the page a click led to) to be loaded."""
    WebDriverWait(chrome, 30).until(expected_conditions.title_is(f"{title} · masq console"))


def shoot(chrome: webdriver.Chrome, folder: Path, name: str) -> None:
    """Save a screenshot of the whole page as `folder`/`name`.png."""
    for _ in range(2):  # the page's height at the window's new size may differ a little
        height = chrome.execute_script("return document.documentElement.scrollHeight")
        chrome.set_window_size(1360, max(900, min(int(height) + 120, 4000)))
    chrome.execute_script("window.scrollTo(0, 0)")
    assert chrome.save_screenshot(str(folder / f"{name}.png"))


def rows(chrome: webdriver.Chrome, state: str) -> list:
    return chrome.find_elements(By.CSS_SELECTOR, f"table.events tr.{state}")


def test_a_tenant_replays_a_dead_callback_from_the_console_and_sees_it_delivered(
    real_store, receiver, dispatcher, browser, tmp_path
):
    tenant = make_tenant(real_store)
    parties = {"first_party": FIRST, "second_party": SECOND, "callback_url": receiver.url, "record": True}
    session = lifecycle.open_session(real_store, credential(tenant), parties, now_us())
    receiver.status = 500
    config = {"MASQ_SECRET_KEY": SECRET, "MASQ_OPERATOR_TOKEN": OPERATOR, "TWILIO_AUTH_TOKEN": TOKEN}
    with serving(real_store, **config) as base:
        call = Carrier(base, TOKEN).call(CallPlan(FIRST, session.virtual_number, talk_seconds=65))
        assert call.ending == "bridged"

        def all_dead() -> bool:
            dead = outbox.dead_letters(real_store, tenant.auth_id)
            return len(dead) >= EVENTS and "SessionPartiesHangup" in [d.fields["EventName"] for d in dead]

        wait_for(all_dead)  # the call's last event too: they die one by one
        receiver.status = 200

        browser.get(f"{base}/console/")
        opened(browser, "Log in")
        shoot(browser, tmp_path, "login")
        browser.find_element(By.NAME, "auth_id").send_keys(tenant.auth_id)
        browser.find_element(By.NAME, "secret").send_keys(tenant.auth_token)
        browser.find_element(By.CSS_SELECTOR, "form.card button").click()

        opened(browser, "Sessions")
        shoot(browser, tmp_path, "sessions")
        browser.find_element(By.LINK_TEXT, session.session_uuid).click()
        opened(browser, f"Session {session.session_uuid}")

        dead = rows(browser, "dead")
        names = [row.find_elements(By.TAG_NAME, "td")[1].text for row in dead]
        assert "SessionPartiesHangup" in names and len(dead) >= EVENTS
        assert "HTTP 500" in dead[0].text
        assert call.call_sid in browser.find_element(By.ID, "calls").find_element(By.XPATH, "following::table").text
        shoot(browser, tmp_path, "session-dead")

        replayed = dead[0].find_element(By.TAG_NAME, "button").get_attribute("data-entry")
        dead[0].find_element(By.TAG_NAME, "button").click()
        WebDriverWait(browser, 30).until(expected_conditions.presence_of_element_located((By.CLASS_NAME, "notice")))
        assert f"Event {replayed} is back in the outbox." in browser.find_element(By.CLASS_NAME, "notice").text

        def delivered() -> bool:
            browser.refresh()
            return any(f"replay of {replayed}" in row.text for row in rows(browser, "delivered"))

        wait_for(delivered)
        assert len(rows(browser, "replayed")) == 1 and len(rows(browser, "dead")) == len(dead) - 1
        assert [r.params["EventName"] for r in receiver.requests if r.status == 200] == [names[0]]
        shoot(browser, tmp_path, "session")

        browser.find_element(By.LINK_TEXT, "Numbers").click()
        opened(browser, "Numbers")
        assert browser.find_element(By.CSS_SELECTOR, ".chart svg rect") is not None
        shoot(browser, tmp_path, "numbers")

        fields = inbound_fields(FIRST, session.virtual_number)  # a second call, left ringing: live now
        signature = sign(f"{base}/voice/inbound", fields)
        requests.post(f"{base}/voice/inbound", data=fields, headers={"X-Twilio-Signature": signature}, timeout=10)
        browser.find_element(By.LINK_TEXT, "Live").click()
        opened(browser, "Live")
        assert fields["CallSid"] in browser.find_element(By.CSS_SELECTOR, "table.list").text
        shoot(browser, tmp_path, "live")

        browser.find_element(By.CSS_SELECTOR, ".who button").click()  # log out; the operator logs in
        opened(browser, "Log in")
        browser.find_element(By.NAME, "token").send_keys(OPERATOR)
        browser.find_elements(By.CSS_SELECTOR, "form.card button")[1].click()
        opened(browser, "Tenants")
        assert tenant.auth_id in browser.find_element(By.CSS_SELECTOR, "table.list").text
        shoot(browser, tmp_path, "tenants")
        browser.find_element(By.LINK_TEXT, tenant.auth_id).click()
        opened(browser, "Sessions")
        assert FIRST not in browser.page_source and mask(FIRST) in browser.page_source
