"""Why a request was not authenticated or not authorised; none of them ever carries a token."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID


class AuthError(Exception):
    """Base class of every authentication and authorisation error."""


class RejectionReason(StrEnum):
    """Why a bearer token was refused; also the problem document's `reason`."""

    MISSING_TOKEN = "missing_token"  # noqa: S105 (a reason, not a secret)
    MALFORMED_TOKEN = "malformed_token"  # noqa: S105
    ALGORITHM_NOT_ALLOWED = "algorithm_not_allowed"
    UNKNOWN_KEY = "unknown_key"
    KEY_ALGORITHM_MISMATCH = "key_algorithm_mismatch"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    WRONG_ISSUER = "wrong_issuer"
    WRONG_AUDIENCE = "wrong_audience"
    MISSING_CLAIM = "missing_claim"
    INVALID_CLAIM = "invalid_claim"

    @property
    def description(self) -> str:
        """A sentence safe to show the client."""
        return _DESCRIPTIONS[self]


_DESCRIPTIONS = {
    RejectionReason.MISSING_TOKEN: "No bearer token was sent.",
    RejectionReason.MALFORMED_TOKEN: "The token is not a well-formed JWT.",
    RejectionReason.ALGORITHM_NOT_ALLOWED: "The token's signing algorithm is not accepted.",
    RejectionReason.UNKNOWN_KEY: "The token was signed by a key the issuer does not publish.",
    RejectionReason.KEY_ALGORITHM_MISMATCH: "The token's algorithm does not fit its key's type.",
    RejectionReason.BAD_SIGNATURE: "The token's signature does not verify.",
    RejectionReason.EXPIRED: "The token has expired.",
    RejectionReason.NOT_YET_VALID: "The token is not valid yet.",
    RejectionReason.WRONG_ISSUER: "The token was issued by an issuer this API does not trust.",
    RejectionReason.WRONG_AUDIENCE: "The token is meant for another audience.",
    RejectionReason.MISSING_CLAIM: "The token lacks a required claim.",
    RejectionReason.INVALID_CLAIM: "The token has a claim of the wrong shape.",
}


class TokenRejectedError(AuthError):
    """A bearer token is missing or failed verification."""

    def __init__(self, reason: RejectionReason, detail: str | None = None) -> None:
        self.reason = reason
        self.detail = detail or reason.description
        super().__init__(f"{reason}: {self.detail}")


class InsufficientScopeError(AuthError):
    """A valid token lacks a scope the route requires."""

    def __init__(self, subject: str, required: frozenset[str], granted: frozenset[str]) -> None:
        self.subject = subject
        self.required = required
        self.missing = required - granted
        super().__init__(f"{subject} lacks scope(s) {' '.join(sorted(self.missing))}")


class OwnerAccessDeniedError(AuthError):
    """A token bound to one owner (or to none) tried to act for another owner."""

    def __init__(self, subject: str, owner_id: UUID) -> None:
        self.subject = subject
        self.owner_id = owner_id
        super().__init__(f"{subject} may not act for owner {owner_id}")


class KeySetUnavailableError(AuthError):
    """The issuer's JWKS could not be fetched and no earlier copy is cached."""


class AuthConfigurationError(AuthError):
    """Authentication is neither configured nor explicitly disabled for development."""


class AuthenticationNotInstalledError(AuthError):
    """A route requires a scope but the app was built without `install_authentication`."""
