"""Errors of the local token issuer; the OAuth ones render as RFC 6749 §5.2 documents."""

from __future__ import annotations

from typing import ClassVar

from infra.security.auth.errors import AuthError


class IssuerError(AuthError):
    """Base class of the token issuer's errors."""


class OAuthError(IssuerError):
    """A token request refused with an RFC 6749 §5.2 error code."""

    status: ClassVar[int] = 400
    error: ClassVar[str] = "invalid_request"

    def __init__(self, description: str) -> None:
        self.description = description
        super().__init__(f"{self.error}: {description}")


class InvalidRequestError(OAuthError):
    """The request is malformed: wrong content type, repeated or missing parameters."""


class InvalidClientError(OAuthError):
    """Client authentication failed: unknown client, wrong secret, revoked client."""

    status = 401
    error = "invalid_client"


class InvalidScopeError(OAuthError):
    """A requested scope is unknown or not granted to the client."""

    error = "invalid_scope"


class UnsupportedGrantTypeError(OAuthError):
    """A grant other than client credentials was asked for."""

    error = "unsupported_grant_type"


class ClientDefinitionError(IssuerError):
    """A client cannot be created as described (bad name, scopes or owner)."""


class UnknownClientError(IssuerError):
    """No client has this id."""

    def __init__(self, client_id: str) -> None:
        self.client_id = client_id
        super().__init__(f"no client has the id {client_id!r}")


class KeyEncryptionError(IssuerError):
    """Signing keys cannot be encrypted or decrypted with the configured key."""
