"""A headless Chromium driving the operators' console, keeping a screenshot of each step.

Debian's Chromium and chromedriver, installed from Debian when missing (CI starts from a
fresh machine), passed to Selenium by path so that Selenium Manager never downloads one.
The browser trusts the test gateway's own key only: Chromium's SPKI allow-list pins the
self-signed certificate's public key instead of ignoring every certificate error.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

from infra.settings import PROJECT_ROOT
from infra.stack.debian import apt_install

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PACKAGES = {CHROMIUM: "chromium", CHROMEDRIVER: "chromium-driver"}
ARTIFACTS = PROJECT_ROOT / "artifacts" / "console"
WAIT_SECONDS = 30.0
# What a rebuild, or a pause waiting for workers to stand down, may take here.
SLOW_WAIT_SECONDS = 120.0


def install_chromium(log_path: Path) -> None:
    """Chromium and its driver from Debian, when they are not installed yet."""
    for binary, package in PACKAGES.items():
        if not binary.exists():
            apt_install("console-tests", package, log_path)


def spki_pin(certificate: Path) -> str:
    """base64(sha256(SubjectPublicKeyInfo)): how Chromium names a key it should trust."""
    public_key = x509.load_pem_x509_certificate(certificate.read_bytes()).public_key()
    der = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def start_chromium(certificate: Path, profile: Path) -> WebDriver:
    """Headless Chromium (as root: no sandbox) that trusts the gateway's certificate."""
    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1400,900",
        f"--user-data-dir={profile}",
        f"--ignore-certificate-errors-spki-list={spki_pin(certificate)}",
    ):
        options.add_argument(argument)
    return webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)


@dataclass
class Console:
    """The console in one test: navigation, sign-in, waits and numbered screenshots."""

    driver: WebDriver
    base_url: str
    test_name: str
    shots: list[Path] = field(default_factory=list)

    def open(self, route: str = "#/projections") -> None:
        self.driver.get(f"{self.base_url}/console/{route}")

    def go(self, route: str) -> None:
        """Follow a route inside the page (a hash change, no reload)."""
        self.driver.execute_script("window.location.hash = arguments[0];", route)

    def sign_in(self, token: str, route: str = "#/projections") -> None:
        """Paste a token the APIs accept; the page shows its scopes."""
        self.paste_token(token, route)
        self.wait_for_element(".session .scopes")

    def paste_token(self, token: str, route: str = "#/projections") -> None:
        """Open the console signed out, paste the token and submit it."""
        self.open(route)
        self.driver.execute_script("sessionStorage.clear(); window.location.reload();")
        field = self.wait_for_element("#token")
        field.send_keys(token)
        self.shot("sign-in")
        self.element("form.login button[type=submit]").click()

    def element(self, css: str, within: WebElement | None = None) -> WebElement:
        return (within or self.driver).find_element(By.CSS_SELECTOR, css)

    def elements(self, css: str, within: WebElement | None = None) -> list[WebElement]:
        return (within or self.driver).find_elements(By.CSS_SELECTOR, css)

    def wait_until(
        self, condition: Callable[[WebDriver], Any], what: str, seconds: float = WAIT_SECONDS
    ) -> Any:
        """The condition's first truthy value; a screenshot and a failure when none comes."""
        try:
            # The console re-renders as data arrives: an element found a moment ago may be
            # gone when its text is read, which only means "look again".
            return WebDriverWait(
                self.driver,
                seconds,
                poll_frequency=0.2,
                ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
            ).until(condition)
        except Exception:
            self.shot("timed-out")
            raise AssertionError(f"the console never showed {what}") from None

    def wait_for_element(self, css: str, seconds: float = WAIT_SECONDS) -> WebElement:
        element: WebElement = self.wait_until(
            lambda driver: next(iter(driver.find_elements(By.CSS_SELECTOR, css)), None),
            css,
            seconds,
        )
        return element

    def wait_for_text(self, css: str, pattern: str, seconds: float = WAIT_SECONDS) -> str:
        """The text of the first element matching `css` once it matches `pattern`."""

        def matching(driver: WebDriver) -> str | None:
            for element in driver.find_elements(By.CSS_SELECTOR, css):
                if re.search(pattern, element.text):
                    return str(element.text)
            return None

        text: str = self.wait_until(matching, f"{css} reading /{pattern}/", seconds)
        return text

    def card(self, projection: str) -> WebElement:
        return self.wait_for_element(f'article[data-projection="{projection}"]')

    def shot(self, step: str) -> Path:
        """Save the viewport as artifacts/console/<test>-<nn>-<step>.png and say where."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.test_name}-{len(self.shots) + 1:02d}-{step}.png"
        self.driver.save_screenshot(str(path))
        self.shots.append(path)
        print(f"screenshot: {path.relative_to(PROJECT_ROOT)}")
        return path
