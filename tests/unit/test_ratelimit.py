"""Rate limiting without Redis: the sliding-window arithmetic, route classes, settings."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from starlette.requests import Request

from infra.security.auth import Principal, RejectionReason, TokenRejectedError
from infra.security.ratelimit import Decision, classify_request, principal_client_id
from infra.security.ratelimit.middleware import rate_limit_headers
from infra.security.ratelimit.window import WindowCounts, limit_state, seconds_until_admitted
from infra.settings import RateLimitSettings


def counts(
    previous: int, previous_ttl: float, current: int, window_left: float, window: int = 1
) -> WindowCounts:
    """Counters as Redis holds them: the current key lives one window past its own window."""
    return WindowCounts(previous, previous_ttl, current, window + window_left if current else 0.0)


def test_a_fresh_client_is_admitted_at_once() -> None:
    assert seconds_until_admitted(5, 1, WindowCounts(0, 0.0, 0, 0.0)) == 0.0


def test_a_full_current_window_waits_for_it_to_roll_over() -> None:
    wait = seconds_until_admitted(5, 1, counts(0, 0.0, 5, window_left=0.3))

    assert wait == pytest.approx(0.3)


def test_a_heavy_previous_window_waits_until_enough_of_it_fades() -> None:
    # 5 previous requests weigh 5 * 0.9 = 4.5; with 1 current that is 5.5 > 5 - 1.
    wait = seconds_until_admitted(5, 1, WindowCounts(5, 0.9, 1, 1.9))

    # Admitted once 5 * (0.9 - t) < 4, i.e. t > 0.1.
    assert wait == pytest.approx(0.1)


def test_a_longer_window_rolls_over_at_its_own_end() -> None:
    wait = seconds_until_admitted(4, 60, counts(2, 10.0, 4, window_left=10.0, window=60))

    assert wait == pytest.approx(10.0)


def test_a_refused_request_gets_a_whole_second_retry_after_at_least() -> None:
    state = limit_state(5, 1, counts(0, 0.0, 5, window_left=0.01), allowed=False)

    assert (state.remaining, state.retry_after_seconds, state.reset_seconds) == (0, 1, 1)


def test_remaining_counts_the_faded_previous_window_like_redis_does() -> None:
    # floor(4 * 0.6) = 2 previous + 1 current: 2 of 5 left.
    state = limit_state(5, 1, WindowCounts(4, 0.6, 1, 1.6), allowed=True)

    assert state.remaining == 2
    assert state.retry_after_seconds == 0


def test_reset_is_the_end_of_the_current_window_while_quota_remains() -> None:
    state = limit_state(100, 60, WindowCounts(0, 0.0, 10, 60 + 12.5), allowed=True)

    assert state.reset_seconds == 13


def _request(method: str, path: str, state: dict[str, object] | None = None) -> Request:
    scope: dict[str, object] = {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [],
        "query_string": b"",
    }
    if state is not None:
        scope["state"] = state
    return Request(scope)


@pytest.mark.parametrize(
    ("method", "path", "route_class"),
    [
        ("POST", "/v1/accounts", "commands"),
        ("POST", "/v1/accounts/a-1/deposits", "commands"),
        ("POST", "/v1/transfers", "commands"),
        ("GET", "/v1/accounts/a-1", "queries"),
        ("HEAD", "/v1/owners/o-1/accounts", "queries"),
        ("GET", "/v1/stats", "queries"),
        ("GET", "/v1/events", "history"),
        ("GET", "/v1/events/stream", "history"),
        ("GET", "/v1/accounts/a-1/history", "history"),
        ("GET", "/v1/accounts/a-1/events", "history"),
        ("POST", "/v1/admin/projections/accounts/rebuild", "admin"),
        ("GET", "/v1/admin/projections", "admin"),
        ("GET", "/health", None),
        ("GET", "/metrics", None),
        ("GET", "/docs", None),
    ],
)
def test_requests_are_classified_by_method_and_path(
    method: str, path: str, route_class: str | None
) -> None:
    assert classify_request(_request(method, path)) == route_class


class StubAuthenticator:
    """Accepts exactly `Bearer good`, as the client `bulk-importer`."""

    async def authenticate(self, authorization: str | None) -> Principal:
        if authorization == "Bearer good":
            return Principal("bulk-importer", "bulk-importer", frozenset({"ledger:write"}))
        raise TokenRejectedError(RejectionReason.MALFORMED_TOKEN)


def _request_with_token(authorization: str | None) -> Request:
    app = FastAPI()
    app.state.ledger_authenticator = StubAuthenticator()
    headers = [] if authorization is None else [(b"authorization", authorization.encode())]
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/accounts",
        "headers": headers,
        "query_string": b"",
        "app": app,
    }
    return Request(scope)


async def test_the_client_id_comes_from_a_valid_bearer_token() -> None:
    assert await principal_client_id(_request_with_token("Bearer good")) == "bulk-importer"


@pytest.mark.parametrize("authorization", [None, "Bearer forged", "Basic dXNlcjpwdw=="])
async def test_a_request_without_a_valid_token_is_anonymous(authorization: str | None) -> None:
    assert await principal_client_id(_request_with_token(authorization)) is None


def test_headers_report_the_binding_limit_and_retry_after_only_when_refused() -> None:
    refused = limit_state(5, 1, counts(0, 0.0, 5, window_left=0.4), allowed=False)
    allowed = limit_state(5, 1, counts(0, 0.0, 2, window_left=0.4), allowed=True)

    assert rate_limit_headers(Decision("commands", "limited", refused, "5;w=1")) == {
        "RateLimit-Limit": "5",
        "RateLimit-Remaining": "0",
        "RateLimit-Reset": "1",
        "RateLimit-Policy": "5;w=1",
        "Retry-After": "1",
    }
    assert "Retry-After" not in rate_limit_headers(Decision("commands", "allowed", allowed, ""))


def test_an_unchecked_request_gets_no_ratelimit_headers() -> None:
    assert rate_limit_headers(Decision("queries", "unchecked")) == {}


def test_client_overrides_are_read_from_json() -> None:
    settings = RateLimitSettings(client_overrides='{"bulk-importer": {"commands": "1000/second"}}')

    assert settings.overrides() == {"bulk-importer": {"commands": "1000/second"}}


def test_by_default_commands_and_admin_fail_closed_and_reads_fail_open() -> None:
    assert RateLimitSettings().fail_open_classes() == {"queries", "history"}


@pytest.mark.parametrize(
    "field",
    [
        {"commands": "lots"},
        {"client_overrides": '{"bulk-importer": {"commands": "many"}}'},
        {"client_overrides": '{"bulk-importer": {"writes": "5/second"}}'},
        {"client_overrides": "not json"},
        {"fail_open": "queries,reads"},
    ],
)
def test_malformed_limits_are_refused_when_settings_load(field: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        RateLimitSettings.model_validate(field)


def test_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from infra.settings import Settings

    monkeypatch.setenv("LEDGER_RATELIMIT_COMMANDS", "7/second;100/minute")
    monkeypatch.setenv(
        "LEDGER_RATELIMIT_CLIENT_OVERRIDES", '{"bulk-importer": {"commands": "1000/second"}}'
    )

    settings = Settings().ratelimit

    assert settings.commands == "7/second;100/minute"
    assert settings.overrides()["bulk-importer"]["commands"] == "1000/second"


def test_reset_of_a_window_that_just_began_is_its_whole_length() -> None:
    state = limit_state(5, 1, WindowCounts(0, 0.0, 1, 2.0), allowed=True)

    assert state.reset_seconds == 1
