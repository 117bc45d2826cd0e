"""Reading an RFC 6749 client-credentials token request: form body and client authentication."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote_plus

from infra.security.issuer.errors import (
    InvalidClientError,
    InvalidRequestError,
    UnsupportedGrantTypeError,
)

CLIENT_CREDENTIALS = "client_credentials"
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
MAX_BODY_BYTES = 8 * 1024


@dataclass(frozen=True)
class TokenRequest:
    """A well-formed client-credentials request, its client not yet authenticated."""

    client_id: str
    client_secret: str = field(repr=False)
    scopes: frozenset[str] | None


def parse_token_request(
    content_type: str | None, body: bytes, authorization: str | None
) -> TokenRequest:
    """The request's parts; raises the RFC 6749 §5.2 error that fits what is wrong."""
    parameters = _form_parameters(content_type, body)
    grant_type = parameters.get("grant_type")
    if not grant_type:
        raise InvalidRequestError("The grant_type parameter is missing.")
    if grant_type != CLIENT_CREDENTIALS:
        raise UnsupportedGrantTypeError("Only the client_credentials grant is supported.")
    client_id, client_secret = _client_credentials(parameters, authorization)
    scope = parameters.get("scope", "")
    return TokenRequest(client_id, client_secret, frozenset(scope.split()) if scope else None)


def _form_parameters(content_type: str | None, body: bytes) -> dict[str, str]:
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type != FORM_CONTENT_TYPE:
        raise InvalidRequestError(f"The request body must be {FORM_CONTENT_TYPE}.")
    if len(body) > MAX_BODY_BYTES:
        raise InvalidRequestError("The request body is too large.")
    try:
        pairs = parse_qsl(body.decode(), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequestError("The request body is not a valid form.") from None
    parameters: dict[str, str] = {}
    for name, value in pairs:
        if name in parameters:
            # RFC 6749 §3.2: parameters must not be repeated.
            raise InvalidRequestError(f"The {name} parameter is repeated.")
        parameters[name] = value
    return parameters


def _client_credentials(parameters: dict[str, str], authorization: str | None) -> tuple[str, str]:
    basic = _basic_credentials(authorization)
    form_id, form_secret = parameters.get("client_id"), parameters.get("client_secret")
    if basic is not None:
        if form_secret is not None or (form_id is not None and form_id != basic[0]):
            raise InvalidRequestError("Use one client authentication method, not two.")
        return basic
    if form_id and form_secret is not None:
        return form_id, form_secret
    raise InvalidClientError("Client authentication is missing.")


def _basic_credentials(authorization: str | None) -> tuple[str, str] | None:
    if not authorization:
        return None
    scheme, _, encoded = authorization.strip().partition(" ")
    if scheme.lower() != "basic":
        raise InvalidClientError("Only HTTP Basic client authentication is supported.")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidClientError("The Basic credentials are not valid base64.") from None
    client_id, colon, secret = decoded.partition(":")
    if not colon or not client_id:
        raise InvalidClientError("The Basic credentials lack a client id or secret.")
    # RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
    return unquote_plus(client_id), unquote_plus(secret)
