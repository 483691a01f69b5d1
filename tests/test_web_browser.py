"""`tracker serve` end to end in a real headless browser: Debian's chromium and chromium-driver,
driven by Selenium, against a real uvicorn server on a free loopback port with its own database.
Skipped when chromium is not installed, unless TRACKER_REQUIRE_BROWSER=1 (CI), where it fails.

Screenshots at phone (375 px) and desktop (1280 px) width are written to $TRACKER_SCREENSHOTS, or
to a temporary folder whose path is printed; `python -m tests.readme_shots FOLDER` makes the
README's pictures of `tracker serve` from them."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.webkit import load_examples, running_server
from tracker.config import Settings

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")

if not (CHROMIUM and DRIVER):
    reason = "chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
    if os.environ.get("TRACKER_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}; they are required here (TRACKER_REQUIRE_BROWSER=1)", pytrace=False)
    pytest.skip(reason, allow_module_level=True)

pytest.importorskip("selenium")
from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions as ec  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    folder = tmp_path_factory.mktemp("web-browser")
    settings = Settings(db_url=f"sqlite:///{folder / 'tracker.db'}", user="browser-test")
    load_examples(settings, ("syn-growing.json", "syn-metastatic.json"))
    with running_server(settings) as running:
        yield running


@pytest.fixture(scope="module")
def browser(server: tuple[str, Any]) -> Iterator[Any]:
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM  # type: ignore[assignment]
    profile = tempfile.mkdtemp(prefix="tracker-chromium-")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--disable-extensions", f"--user-data-dir={profile}", "--window-size=1280,900"):
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=opts)
    driver.set_page_load_timeout(60)
    url, _ = server
    driver.get(url)  # the printed link: sets the session cookie, then the start page
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def shots() -> Path:
    folder = Path(os.environ.get("TRACKER_SCREENSHOTS") or tempfile.mkdtemp(prefix="tracker-screenshots-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots in {folder}")
    return folder


def base(server: tuple[str, Any]) -> str:
    return server[0].split("/login")[0]


def screenshot(driver: Any, path: Path, width: int) -> None:
    """The whole page at `width` CSS pixels (phone: mobile viewport), as PNG."""
    import base64

    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": width < 500})
    # a <picture> picks its source for the new width: wait until every image has it
    WebDriverWait(driver, 30).until(lambda d: d.execute_script(
        "return Array.from(document.images).every(i => i.complete && (!i.parentElement.matches('picture')"
        " || i.currentSrc.endsWith('fit=phone') === (window.innerWidth <= 640)))"))
    height = driver.execute_script("return document.documentElement.scrollHeight")
    png = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True,
                                                           "clip": {"x": 0, "y": 0, "width": width,
                                                                    "height": height, "scale": 1}})
    path.write_bytes(base64.b64decode(png["data"]))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def both_widths(driver: Any, shots: Path, name: str) -> None:
    for width in (375, 1280):
        screenshot(driver, shots / f"{name}-{width}.png", width)


def test_a_patient_logs_chromogranin_a_and_sees_it_on_the_trend_page(browser: Any, server: Any, shots: Path) -> None:
    browser.get(base(server) + "/")
    browser.find_element(By.LINK_TEXT, "SYN-GROWING").click()
    assert "Hello, SYN-GROWING" in browser.page_source
    both_widths(browser, shots, "patient-home")
    browser.find_element(By.LINK_TEXT, "Log a blood test").click()
    date = browser.find_element(By.ID, "date")
    date.clear()
    date.send_keys("2026-11-02")
    Select(browser.find_element(By.ID, "analyte")).select_by_visible_text("chromogranin A")
    browser.find_element(By.ID, "value").send_keys("412")
    browser.find_element(By.ID, "unit").send_keys("ng/mL")
    browser.find_element(By.ID, "uln").send_keys("102")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    stored = browser.find_element(By.CSS_SELECTOR, ".stored").text
    assert stored == "Blood test of 2026-11-02: chromogranin A 412 ng/mL (upper limit of normal 102 ng/mL)"
    browser.find_element(By.LINK_TEXT, "See my trends").click()
    img = WebDriverWait(browser, 30).until(ec.presence_of_element_located(
        (By.CSS_SELECTOR, "img[src$='/plot/markers.svg']")))
    WebDriverWait(browser, 60).until(lambda d: d.execute_script("return arguments[0].complete", img))
    assert browser.execute_script("return arguments[0].naturalWidth", img) > 0  # the SVG drew
    svg = browser.execute_script("return fetch(arguments[0]).then(r => r.text())", img.get_attribute("src"))
    assert "412" in svg  # the new value is on the marker plot
    both_widths(browser, shots, "patient-trends")
    browser.get(base(server) + "/p/SYN-GROWING")
    assert "412 ng/mL" in browser.find_element(By.CSS_SELECTOR, "table.values").text


def test_a_bad_size_is_refused_with_the_sentence_by_the_field(browser: Any, server: Any, shots: Path) -> None:
    browser.get(base(server) + "/p/SYN-GROWING/log/scan")
    date = browser.find_element(By.ID, "date")
    date.clear()
    date.send_keys("2026-11-03")
    Select(browser.find_element(By.ID, "modality")).select_by_value("MRI")
    browser.find_element(By.ID, "lesion0").send_keys("P1")
    Select(browser.find_element(By.ID, "site0")).select_by_value("pancreas")
    browser.find_element(By.ID, "size0").send_keys("-1.5")
    Select(browser.find_element(By.ID, "unit0")).select_by_value("cm")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    error = WebDriverWait(browser, 10).until(ec.presence_of_element_located((By.ID, "size0-error")))
    assert "a size must be above 0 mm" in error.text
    assert error.find_element(By.XPATH, "..").find_element(By.ID, "size0").get_attribute("value") == "-1.5"
    assert browser.find_element(By.ID, "size0").get_attribute("aria-invalid") == "true"
    both_widths(browser, shots, "log-scan-error")
    browser.get(base(server) + "/p/SYN-GROWING/log/lab")
    browser.find_element(By.ID, "date").clear()
    browser.find_element(By.ID, "date").send_keys("2026-02-30")
    browser.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    error = WebDriverWait(browser, 10).until(ec.presence_of_element_located((By.ID, "date-error")))  # the new page
    assert "is not a date that exists" in error.text
    both_widths(browser, shots, "log-lab-error")


def test_a_nurse_acknowledges_a_flag_from_the_worklist(browser: Any, server: Any, shots: Path) -> None:
    browser.get(base(server) + "/nurse/worklist")
    both_widths(browser, shots, "worklist")
    row = browser.find_element(By.CSS_SELECTOR, "li.row.status-tumour_board")
    what = row.find_element(By.CSS_SELECTOR, "p.head").text
    assert "acknowledged" not in what
    row.find_element(By.NAME, "reason").send_keys("on the tumour board list 2026-12-01")
    row.find_element(By.CSS_SELECTOR, "button[value=acknowledge]").click()
    assert "Acknowledged" in browser.find_element(By.CSS_SELECTOR, "p.ok").text
    first = browser.find_element(By.CSS_SELECTOR, "li.row.status-tumour_board p.head").text
    assert first.startswith(what.split(" ·")[0]) and "acknowledged" in first


def test_the_session_token_is_required(browser: Any, server: Any) -> None:
    url, sessions = server
    browser.delete_all_cookies()
    browser.get(base(server) + "/nurse/worklist")
    assert "Open the link that tracker serve printed" in browser.find_element(By.TAG_NAME, "main").text
    browser.get(url)  # the printed link was used when the browser opened it first
    assert "already been used" in browser.page_source
    sessions.token = "fresh-token-for-this-test"
    browser.get(base(server) + "/login?token=fresh-token-for-this-test")
    assert "Who is using tracker?" in browser.page_source
