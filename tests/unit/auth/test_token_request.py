"""Parsing client-credentials token requests (RFC 6749 §2.3.1, §4.4, §5.2)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from urllib.parse import quote_plus

import pytest

from infra.security.issuer.clients import Client
from infra.security.issuer.errors import (
    InvalidClientError,
    InvalidRequestError,
    InvalidScopeError,
    OAuthError,
    UnsupportedGrantTypeError,
)
from infra.security.issuer.token_request import parse_token_request
from infra.security.issuer.tokens import granted_scopes

FORM = "application/x-www-form-urlencoded"


def basic(client_id: str, secret: str) -> str:
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


def test_basic_credentials_are_read_and_form_decoded() -> None:
    request = parse_token_request(
        FORM, b"grant_type=client_credentials", basic("client:1", "s3cr3t+/=")
    )

    assert (request.client_id, request.client_secret) == ("client:1", "s3cr3t+/=")
    assert request.scopes is None


def test_form_credentials_and_scope_are_read() -> None:
    body = (
        b"grant_type=client_credentials&client_id=c1&client_secret=s1"
        b"&scope=ledger%3Aread+events%3Aread"
    )

    request = parse_token_request(f"{FORM}; charset=utf-8", body, None)

    assert (request.client_id, request.client_secret) == ("c1", "s1")
    assert request.scopes == frozenset({"ledger:read", "events:read"})


@pytest.mark.parametrize(
    ("content_type", "body", "authorization", "error"),
    [
        ("application/json", b"{}", None, InvalidRequestError),
        (FORM, b"client_id=c&client_secret=s", None, InvalidRequestError),
        (FORM, b"grant_type=password&client_id=c&client_secret=s", None, UnsupportedGrantTypeError),
        (
            FORM,
            b"grant_type=client_credentials&grant_type=client_credentials",
            basic("c", "s"),
            InvalidRequestError,
        ),
        (
            FORM,
            b"grant_type=client_credentials&client_secret=s",
            basic("c", "s"),
            InvalidRequestError,
        ),
        (FORM, b"grant_type=client_credentials", None, InvalidClientError),
        (FORM, b"grant_type=client_credentials&client_id=c", None, InvalidClientError),
        (FORM, b"grant_type=client_credentials", "Basic !!!", InvalidClientError),
        (FORM, b"grant_type=client_credentials", "Bearer abc", InvalidClientError),
        (FORM, b"grant_type=client_credentials&" + b"x" * 9000, None, InvalidRequestError),
    ],
)
def test_bad_requests_get_the_rfc_6749_error(
    content_type: str, body: bytes, authorization: str | None, error: type[OAuthError]
) -> None:
    with pytest.raises(error):
        parse_token_request(content_type, body, authorization)


def test_invalid_client_is_401_and_the_others_400() -> None:
    assert InvalidClientError("x").status == 401
    assert (InvalidRequestError("x").status, InvalidScopeError("x").status) == (400, 400)


CLIENT = Client("c", "n", frozenset({"ledger:read", "ledger:write"}), None, datetime.now(UTC))


def test_without_scope_the_client_gets_all_its_scopes() -> None:
    assert granted_scopes(CLIENT, None) == {"ledger:read", "ledger:write"}


def test_a_scope_parameter_narrows_the_grant() -> None:
    assert granted_scopes(CLIENT, frozenset({"ledger:read"})) == {"ledger:read"}


def test_a_scope_the_client_does_not_hold_is_invalid_scope() -> None:
    with pytest.raises(InvalidScopeError, match="projections:admin"):
        granted_scopes(CLIENT, frozenset({"ledger:read", "projections:admin"}))
