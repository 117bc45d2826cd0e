"""The operators' console in a real browser, against the whole system behind its gateway.

Every step leaves a screenshot in artifacts/console/ (git-ignored); each test prints where.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import threading
import time
from collections.abc import Iterator
from uuid import uuid4

import httpx
import pytest
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.support.select import Select

from domain.envelope import EVENT_TOPICS
from infra.settings import Settings
from projectors.projections.registry import PROJECTIONS
from query_api.console.app import STATIC
from tests.e2e.conftest import RunningSystem, running
from tests.e2e.console_browser import (
    ARTIFACTS,
    SLOW_WAIT_SECONDS,
    Console,
    install_chromium,
    start_chromium,
)
from tests.e2e.http_helpers import open_account, wait_for_view
from tests.e2e.test_history_api import deposit
from tests.integration.test_dead_letters import deposited, opened, publish

pytestmark = pytest.mark.e2e

ADMIN_SCOPES = "projections:admin events:read ledger:read ledger:all-owners"


@pytest.fixture(scope="module")
def shared_system(
    module_settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningSystem]:
    """The whole system, exporting its traces to the stack's Jaeger (as `ledger up` does),
    so that the console's trace links open real traces."""
    with pytest.MonkeyPatch.context() as patch:
        otlp = f"http://127.0.0.1:{module_settings.stack.jaeger_otlp_port}"
        patch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp)
        patch.setenv("OTEL_BSP_SCHEDULE_DELAY", "100")
        with running(module_settings, tmp_path_factory.mktemp("system")) as started:
            yield started


@pytest.fixture(scope="module")
def browser(
    shared_system: RunningSystem, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WebDriver]:
    install_chromium(tmp_path_factory.mktemp("apt") / "apt.log")
    assert shared_system.gateway is not None
    certificate = shared_system.gateway.files.certificate
    driver = start_chromium(certificate, tmp_path_factory.mktemp("chromium-profile"))
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def admin_token(shared_system: RunningSystem) -> str:
    return shared_system.token(ADMIN_SCOPES)


@pytest.fixture
def console(
    browser: WebDriver, shared_system: RunningSystem, request: pytest.FixtureRequest
) -> Iterator[Console]:
    page = Console(browser, shared_system.gateway_url, request.node.name)
    yield page
    print(f"{len(page.shots)} screenshots of {request.node.name} in {ARTIFACTS}")


@pytest.fixture
def client(shared_system: RunningSystem) -> Iterator[httpx.Client]:
    with shared_system.client() as http:
        yield http


def card_in_state(projection: str, state: str) -> str:
    return f'article[data-projection="{projection}"][data-state="{state}"]'


def test_signing_in_with_a_pasted_token_shows_every_projection_and_its_scopes(
    console: Console, admin_token: str
) -> None:
    console.sign_in(admin_token)

    for name in PROJECTIONS:
        console.wait_for_element(f'article[data-projection="{name}"][data-state]')
    scopes = {element.text for element in console.elements(".session .scope")}
    console.shot("projections")
    assert set(ADMIN_SCOPES.split()) <= scopes


def test_a_token_without_the_admin_scope_is_told_what_it_lacks(
    console: Console, shared_system: RunningSystem
) -> None:
    console.sign_in(shared_system.token("ledger:read"))

    message = console.wait_for_text(".notice.error", r"403")
    console.shot("forbidden")
    assert "projections:admin" in message
    assert "This token carries: ledger:read" in message


def forged_token() -> str:
    """Readable claims, unexpired, but signed by nobody the APIs trust."""

    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    claims = {"sub": "forger", "scope": ADMIN_SCOPES, "exp": int(time.time()) + 3600}
    return f"{part({'alg': 'ES256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


def test_a_token_the_api_refuses_sends_the_operator_back_to_sign_in(console: Console) -> None:
    console.paste_token(forged_token())

    message = console.wait_for_text("#login-feedback .notice.error", r"refused the token \(401\)")
    console.shot("refused")
    assert "Paste a new token" in message


def test_an_operator_pauses_then_resumes_a_projection(
    console: Console, admin_token: str, client: httpx.Client
) -> None:
    console.sign_in(admin_token)
    card = console.wait_for_element(card_in_state("daily_volume", "running"))

    console.element('button[data-action="pause"]', card).click()
    console.wait_for_element(card_in_state("daily_volume", "paused"), SLOW_WAIT_SECONDS)
    console.shot("paused")
    assert client.get("/v1/admin/projections/daily_volume").json()["state"] == "paused"

    console.element('button[data-action="resume"]', console.card("daily_volume")).click()
    console.wait_for_element(card_in_state("daily_volume", "running"), SLOW_WAIT_SECONDS)
    console.shot("resumed")
    assert client.get("/v1/admin/projections/daily_volume").json()["state"] == "running"


def test_a_rebuild_started_from_the_console_runs_to_completion_and_the_view_still_answers(
    console: Console, admin_token: str, client: httpx.Client
) -> None:
    account = open_account(client, deposit=500)
    wait_for_view(client, f"/v1/accounts/{account}", lambda view: view["balance"] == 500)
    console.sign_in(admin_token)
    card = console.wait_for_element(card_in_state("accounts", "running"))
    live_before = console.element('[data-field="collection"]', card).text

    console.element('button[data-action="rebuild"]', card).click()
    console.wait_for_element('article[data-projection="accounts"] [data-action="confirm-rebuild"]')
    console.shot("confirm")
    console.element('article[data-projection="accounts"] [data-action="confirm-rebuild"]').click()
    console.wait_for_element('article[data-projection="accounts"] section.rebuild:not([hidden])')
    console.shot("progress")
    console.wait_for_element(
        'article[data-projection="accounts"] section.rebuild[data-status="succeeded"]',
        SLOW_WAIT_SECONDS,
    )
    card = console.wait_for_element(card_in_state("accounts", "running"))
    console.shot("done")

    assert console.element('[data-field="collection"]', card).text != live_before
    assert "succeeded" in console.element('[data-field="rebuild-text"]', card).text
    assert client.get(f"/v1/accounts/{account}").json()["balance"] == 500


def pending_letters(client: httpx.Client, projection: str) -> list[dict[str, object]]:
    body = wait_for_view(
        client, f"/v1/admin/projections/{projection}/dead-letters", lambda page: bool(page["items"])
    )
    letters: list[dict[str, object]] = body["items"]
    return letters


def test_a_dead_letter_is_read_then_retried_from_the_console_once_its_cause_is_fixed(
    console: Console, admin_token: str, shared_system: RunningSystem, client: httpx.Client
) -> None:
    account = uuid4()
    early = deposited(account, 2, 100, 100)  # its account is not opened yet: a gap
    asyncio.run(publish(shared_system.settings, [early]))
    letter = f"accounts:{early.event_id}"
    wait_for_view(
        client,
        "/v1/admin/projections/accounts/dead-letters",
        lambda page: any(item["id"] == letter for item in page["items"]),
    )
    console.sign_in(admin_token, "#/dead-letters/accounts")
    row = console.wait_for_element(f'tr[data-letter="{letter}"]')

    console.element('button[data-action="view"]', row).click()
    detail = console.wait_for_element(f'section.letter-detail[data-letter="{letter}"]')
    console.shot("letter")
    assert str(early.event_id) in detail.text
    assert str(account) in detail.text

    asyncio.run(publish(shared_system.settings, [opened(account)]))
    wait_for_view(client, f"/v1/accounts/{account}", lambda view: view["version"] == 1)
    console.element(f'tr[data-letter="{letter}"] button[data-action="retry"]').click()
    console.wait_for_text(".feedback .notice", r"Retried: 1 applied, 0 still failing")
    console.shot("retried")
    assert client.get(f"/v1/accounts/{account}").json()["balance"] == 100


def test_a_record_that_is_no_event_is_discarded_from_the_console(
    console: Console, admin_token: str, shared_system: RunningSystem, client: httpx.Client
) -> None:
    asyncio.run(publish(shared_system.settings, [b"not a cloud event"]))
    (letter,) = pending_letters(client, "*")
    console.sign_in(admin_token, "#/dead-letters/*")
    row = console.wait_for_element(f'tr[data-letter="{letter["id"]}"]')
    assert not console.elements('button[data-action="retry"]', row)

    console.element('button[data-action="discard"]', row).click()
    console.wait_for_text(".feedback .notice", r"Discarded 1 letter\.")
    console.shot("discarded")
    discarded = client.get("/v1/admin/projections/*/dead-letters", params={"status": "discarded"})
    assert [item["id"] for item in discarded.json()["items"]] == [letter["id"]]


RESULT_ROWS = "section[aria-labelledby=page-title] table.events tbody tr"


def test_the_event_browser_filters_by_aggregate_and_type(
    console: Console, admin_token: str, client: httpx.Client
) -> None:
    account = open_account(client, deposit=100)
    deposit(client, account, 200)
    open_account(client, deposit=300)
    console.sign_in(admin_token, "#/events")

    console.wait_for_element("#filter-aggregate").send_keys(account)
    Select(console.element("#filter-types")).select_by_value("FundsDeposited")
    console.element("form.filters button[type=submit]").click()
    console.wait_until(
        lambda driver: len(console.elements(RESULT_ROWS)) == 2, "two deposits of the account"
    )
    console.shot("filtered")

    rows = console.elements(RESULT_ROWS)
    assert {row.get_attribute("data-aggregate") for row in rows} == {account}
    assert {row.get_attribute("data-type") for row in rows} == {"FundsDeposited"}


def test_following_the_log_live_shows_a_command_as_it_is_recorded(
    console: Console, admin_token: str, client: httpx.Client
) -> None:
    account = open_account(client)
    console.sign_in(admin_token, f"#/events?aggregate_id={account}")
    console.wait_for_element('button[data-action="follow"]').click()
    console.wait_for_element('section.follow[data-live="true"]')

    recorded = deposit(client, account, 4200)
    row = console.wait_for_element(
        f'section.follow tbody tr[data-position="{recorded["position"]}"]'
    )
    console.shot("followed")
    assert row.get_attribute("data-type") == "FundsDeposited"

    console.element('button[data-action="stop"]').click()
    console.wait_for_element('section.follow[data-following="false"]')


def test_the_account_timeline_shows_the_state_as_of_an_earlier_version(
    console: Console, admin_token: str, client: httpx.Client
) -> None:
    account = open_account(client, deposit=100)  # versions 1 (opened) and 2
    deposit(client, account, 200)
    deposit(client, account, 300)
    console.sign_in(admin_token, f"#/accounts/{account}")
    console.wait_for_element('section.state[data-version="4"] [data-minor-units="600"]')

    console.element('tr[data-version="2"] button[data-action="as-of"]').click()
    balance = console.wait_for_element('section.state[data-version="2"] [data-field="balance"]')
    console.shot("as-of-version-2")

    assert balance.get_attribute("data-minor-units") == "100"
    assert balance.text == "1.00 EUR"
    assert console.element("#as-of-version").get_attribute("value") == "2"


def test_an_events_trace_link_opens_the_trace_of_the_command_that_recorded_it(
    console: Console, admin_token: str, client: httpx.Client
) -> None:
    account = open_account(client)
    event = client.get("/v1/events", params={"aggregate_id": account}).json()["events"][0]
    trace_id = event["traceparent"].split("-")[1]
    wait_for_trace(client, trace_id, {"ledger-command-api", "ledger-relay", "ledger-projector"})
    console.sign_in(admin_token, f"#/events?aggregate_id={account}")

    console.wait_for_element(f"{RESULT_ROWS} a.trace-link").click()
    console.wait_for_text("#trace-result table.waterfall", "ledger-projector")
    console.shot("trace")

    assert console.driver.execute_script("return window.location.hash;") == f"#/traces/{trace_id}"
    rows = console.elements("#trace-result table.waterfall tbody tr")
    depths = {row.get_attribute("data-depth") for row in rows}
    assert rows[0].text.startswith("POST /v1/accounts")
    assert {"0", "1", "2"} <= depths  # a tree: request, relay, projector


def wait_for_trace(client: httpx.Client, trace_id: str, services: set[str]) -> None:
    """Until the trace backend holds spans of every one of `services` (they export in
    batches), through the admin endpoint the console reads."""
    deadline = time.monotonic() + SLOW_WAIT_SECONDS
    while time.monotonic() < deadline:
        answer = client.get(f"/v1/admin/traces/{trace_id}")
        if answer.status_code == 200 and services <= {s["service"] for s in answer.json()["spans"]}:
            return
        time.sleep(0.2)
    raise AssertionError(f"trace {trace_id} never had spans of {sorted(services)}")


def test_the_projections_page_charts_lag_and_throughput_under_traffic(
    console: Console, admin_token: str, shared_system: RunningSystem
) -> None:
    stop = threading.Event()
    traffic = threading.Thread(target=keep_depositing, args=(shared_system, stop), daemon=True)
    traffic.start()
    try:
        console.sign_in(admin_token)
        throughput = 'article[data-projection="accounts"] .chart:nth-child(2) svg'
        console.wait_until(
            lambda driver: int(console.element(throughput).get_attribute("data-points") or 0) >= 12,
            "a dozen throughput samples",
            SLOW_WAIT_SECONDS,
        )
        console.wait_for_text(
            'article[data-projection="accounts"] [data-field="events_per_second"]', r"^[1-9]"
        )
        console.shot("charts")
    finally:
        stop.set()
        traffic.join()


def keep_depositing(system: RunningSystem, stop: threading.Event) -> None:
    with system.client() as client:
        accounts = [open_account(client) for _ in range(4)]
        while not stop.is_set():
            for account in accounts:
                deposit(client, account, 1)


def test_the_event_types_the_console_offers_are_the_ledgers() -> None:
    source = (STATIC / "event-types.js").read_text()

    offered = re.findall(r'"([A-Za-z]+)"', source)
    assert sorted(offered) == sorted(EVENT_TOPICS)
