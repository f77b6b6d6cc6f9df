"""Headless Debian Chromium driven by selenium, for the tests of the live pages (no browser download: the
system's /usr/bin/chromium and /usr/bin/chromedriver, which `make test` installs when they are missing).

Every request outside 127.0.0.1 fails inside the browser (--host-resolver-rules), so a page that needed a
CDN would not render: the tests see the page work offline.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--enable-unsafe-swiftshader",
    "--window-size=1400,1000",
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
)


@contextlib.contextmanager
def chromium() -> Iterator:
    """A selenium driver on a fresh profile; quits and removes the profile afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not Path(p).exists()]
    if missing:
        raise RuntimeError(
            f"{', '.join(missing)} missing: `make test` installs them (apt-get install chromium chromium-driver)"
        )
    profile = tempfile.mkdtemp(prefix="fab-chromium-")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(20)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def text(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def wait_for(driver, predicate: Callable[[str], object], timeout: float = 15.0, what: str = "") -> object:
    """Poll the page's text until ``predicate(text)`` is truthy; returns its value (or fails the test)."""
    end = time.monotonic() + timeout
    last = ""
    while time.monotonic() < end:
        try:
            last = text(driver)
            value = predicate(last)
        except Exception:  # noqa: BLE001 (the page is re-rendering: try again)
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or 'the page'}; page text:\n{last[:2000]}")


def click(driver, label: str) -> None:
    """Click the button whose text is ``label``."""
    from selenium.webdriver.common.by import By

    button = driver.find_element(By.XPATH, f"//button[normalize-space()='{label}']")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
    button.click()


def number(pattern: str, page: str) -> float | None:
    """The first number captured by ``pattern`` in ``page`` (commas dropped), or None."""
    m = re.search(pattern, page)
    return float(m.group(1).replace(",", "")) if m else None


def requested_hosts(driver) -> set[str]:
    """Hosts of every http(s)/ws request the page made (from the performance log)."""
    import json
    from urllib.parse import urlsplit

    hosts = set()
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg["method"] in ("Network.requestWillBeSent", "Network.webSocketCreated"):
            url = msg["params"].get("request", {}).get("url") or msg["params"].get("url", "")
            if url.startswith(("http", "ws")):
                hosts.add(urlsplit(url).hostname or "")
    return hosts


def screenshot(driver, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    return path
