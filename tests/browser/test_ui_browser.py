"""The review UI in real headless Chromium: sign in, filter, open a story, read the chart,
correct a label, resolve an alert; then check the archive and the audit log changed.

Screenshots of each page (desktop 1280 px and phone width) go to test-artifacts/ (and docs/img/ with
GROUNDSWELL_DOCS_IMG=1).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.store import Store
from monitor.web.auth import ensure_user
from monitor.web.sample import SampleArchive, seed
from monitor.web.settings import WebSettings
from tests.test_web_support import CONFIG, NOW, SECRET

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
DOCS_IMG = ROOT / "docs" / "img"
PASSWORD = "browser pass 123"


@dataclasses.dataclass
class Served:
    url: str
    db: Path
    sample: SampleArchive


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    import uvicorn

    from monitor.web.app import create_app

    db = tmp_path / "ui.db"
    with Store.open(db) as store:
        sample = seed(store, NOW)
        ensure_user(store, "maria", PASSWORD, "reviewer")
    settings = WebSettings(cookie_secure=False)  # plain http on 127.0.0.1 in this test
    app = create_app(CONFIG, db, secret=SECRET, clock=lambda: NOW, settings=settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)  # listening before the server thread starts: no start-up race to wait out
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        yield Served(f"http://127.0.0.1:{port}", db, sample)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    if not CHROMIUM.exists() or not CHROMEDRIVER.exists():
        pytest.skip(
            "Chromium or chromedriver is not installed (apt-get install chromium chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'chrome-profile'}",
        "--window-size=1280,900",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _shot(driver: object, name: str) -> None:
    """Save a full-page screenshot to test-artifacts/ (and to docs/img/ with GROUNDSWELL_DOCS_IMG=1,
    to refresh the screenshots docs/ui.md shows)."""
    ARTIFACTS.mkdir(exist_ok=True)
    width = driver.execute_script("return window.innerWidth")  # type: ignore[attr-defined]
    height = driver.execute_script("return document.documentElement.scrollHeight")  # type: ignore[attr-defined]
    driver.set_window_size(max(width, 360), min(max(height, 600), 4000))  # type: ignore[attr-defined]
    target = ARTIFACTS / f"ui-{name}.png"
    driver.save_screenshot(str(target))  # type: ignore[attr-defined]
    if os.environ.get("GROUNDSWELL_DOCS_IMG") == "1":
        shutil.copy(target, DOCS_IMG / target.name)


def _wait_url(driver: object, fragment: str) -> None:
    """Wait until the browser is on a URL containing ``fragment`` and that page has loaded (the
    URL changes when the navigation starts, while the old page may still be in place)."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 15).until(
        lambda d: (
            fragment in d.current_url
            and d.execute_script("return document.readyState") == "complete"
        )
    )


def _wait_text(driver: object, by: str, selector: str, expected: str) -> None:
    """Wait until the element's text contains ``expected``, finding it again if the page it was
    found on is replaced meanwhile."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(
        driver, 15, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)
    ).until(lambda d: expected in d.find_element(by, selector).text)


def test_review_flow_in_chromium(served: Served, browser: object) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    d = browser
    d.get(served.url + "/")  # type: ignore[attr-defined]
    assert "/login" in d.current_url  # type: ignore[attr-defined]
    _shot(d, "login")
    d.find_element(By.ID, "username").send_keys("maria")  # type: ignore[attr-defined]
    d.find_element(By.ID, "password").send_keys(PASSWORD + Keys.ENTER)  # type: ignore[attr-defined]
    _wait_url(d, served.url + "/")
    _wait_text(d, By.TAG_NAME, "h1", "Inbox")
    assert d.title != "pwned"  # type: ignore[attr-defined]
    _shot(d, "inbox")

    # Filter: flagged only, newest first; the filters land in the URL.
    Select(d.find_element(By.ID, "f-severity")).select_by_value("flagged")  # type: ignore[attr-defined]
    Select(d.find_element(By.ID, "f-sort")).select_by_value("time")  # type: ignore[attr-defined]
    d.find_element(By.CSS_SELECTOR, "form.filters button[type=submit]").click()  # type: ignore[attr-defined]
    _wait_url(d, "severity=flagged")
    rows = d.find_elements(By.CSS_SELECTOR, "tr.item")  # type: ignore[attr-defined]
    assert rows, "flagged posts are listed"
    badges = {e.text for e in d.find_elements(By.CSS_SELECTOR, "tr.item .sev")}  # type: ignore[attr-defined]
    assert badges <= {"warning", "critical"}

    # Keyboard: j selects the first row, Enter opens it.
    d.find_element(By.TAG_NAME, "body").send_keys("j")  # type: ignore[attr-defined]
    current = d.find_elements(By.CSS_SELECTOR, "tr.item.current")  # type: ignore[attr-defined]
    assert len(current) == 1

    # Open the top story directly and see its chart.
    d.get(served.url + "/post/" + served.sample.top_post_id)  # type: ignore[attr-defined]
    svg = d.find_element(By.CSS_SELECTOR, "section[aria-labelledby=h-engagement] svg.chart")  # type: ignore[attr-defined]
    assert svg.size["width"] > 300 and svg.find_elements(By.TAG_NAME, "path")
    assert "Other mentions of this story (2)" in d.page_source  # type: ignore[attr-defined]
    _shot(d, "post")

    # Correct the label: positive → negative complaint.
    Select(d.find_element(By.ID, "label-sentiment")).select_by_value("negative")  # type: ignore[attr-defined]
    box = d.find_element(By.ID, "label-complaint")  # type: ignore[attr-defined]
    if not box.is_selected():
        box.click()
    d.find_element(By.CSS_SELECTOR, "#label-form button[type=submit]").click()  # type: ignore[attr-defined]
    _wait_url(d, "notice=")
    _wait_text(d, By.CSS_SELECTOR, ".notice", "Label saved")

    # Resolve an alert on the alerts page.
    d.get(served.url + "/alerts")  # type: ignore[attr-defined]
    _shot(d, "alerts")
    alert_id = served.sample.alert_ids[0]
    d.find_element(By.CSS_SELECTOR, f"button[aria-label='Resolve alert {alert_id}']").click()  # type: ignore[attr-defined]
    _wait_url(d, "notice=")
    assert f"Alert {alert_id} resolved" in d.page_source  # type: ignore[attr-defined]

    d.get(served.url + "/dashboard?days=30")  # type: ignore[attr-defined]
    assert d.find_elements(By.CSS_SELECTOR, "svg.chart rect.band")  # type: ignore[attr-defined]
    _shot(d, "dashboard")
    d.get(served.url + "/sources")  # type: ignore[attr-defined]
    _shot(d, "sources")

    # Phone width: the inbox stays usable (no horizontal scrolling of the page).
    d.set_window_size(390, 844)  # type: ignore[attr-defined]
    d.get(served.url + "/")  # type: ignore[attr-defined]
    scroll = d.execute_script("return document.documentElement.scrollWidth")  # type: ignore[attr-defined]
    inner = d.execute_script("return window.innerWidth")  # type: ignore[attr-defined]
    assert scroll <= inner + 1
    _shot(d, "inbox-phone")
    d.get(served.url + "/post/" + served.sample.top_post_id)  # type: ignore[attr-defined]
    _shot(d, "post-phone")

    with Store.open(served.db, readonly=True) as store:
        label = store.conn.execute(
            "SELECT label_sentiment, label_complaint FROM reviews WHERE post_id = ?",
            (served.sample.top_post_id,),
        ).fetchone()
        assert label == ("negative", 1)
        status = store.conn.execute(
            "SELECT status FROM alerts WHERE id = ?", (alert_id,)
        ).fetchone()
        assert status == ("resolved",)
        actions = [
            tuple(r)
            for r in store.conn.execute("SELECT actor, action FROM audit_log WHERE actor = 'maria'")
        ]
        assert ("maria", "user.login") in actions
        assert ("maria", "review.label") in actions
        assert ("maria", "alert.resolve") in actions


def test_focus_order_and_labels(served: Served, browser: object) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    d = browser
    d.get(served.url + "/login")  # type: ignore[attr-defined]
    d.find_element(By.ID, "username").send_keys("maria")  # type: ignore[attr-defined]
    d.find_element(By.ID, "password").send_keys(PASSWORD + Keys.ENTER)  # type: ignore[attr-defined]
    _wait_url(d, served.url + "/")
    # Every visible form control has a label (or an aria-label).
    unlabelled = d.execute_script(  # type: ignore[attr-defined]
        """
        return Array.from(document.querySelectorAll('input:not([type=hidden]), select, textarea'))
          .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
          .map(el => el.name);
        """
    )
    assert unlabelled == []
    # The first Tab reaches the skip link, which jumps to the main content.
    body = d.find_element(By.TAG_NAME, "body")  # type: ignore[attr-defined]
    body.send_keys(Keys.TAB)
    active = d.switch_to.active_element  # type: ignore[attr-defined]
    assert active.get_attribute("class") == "skip"
    active.send_keys(Keys.ENTER)
    assert d.switch_to.active_element.get_attribute("id") == "main"  # type: ignore[attr-defined]
