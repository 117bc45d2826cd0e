"""Checking a verified token's claims and turning them into a `Principal`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from infra.security.auth.errors import RejectionReason, TokenRejectedError
from infra.security.auth.principal import Principal
from infra.security.auth.scopes import Scope

OWNER_CLAIM = "ledger_owner"
REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "nbf", "iat")


@dataclass(frozen=True)
class ClaimExpectations:
    """What every accepted token must say about who issued it, for whom, and when."""

    issuer: str
    audience: str
    leeway_seconds: float = 30.0


def principal_from_claims(
    claims: Mapping[str, Any], expected: ClaimExpectations, now: float
) -> Principal:
    """The caller the claims describe; raises `TokenRejectedError` naming the first failed check."""
    for name in REQUIRED_CLAIMS:
        if claims.get(name) is None:
            raise TokenRejectedError(RejectionReason.MISSING_CLAIM, f"The token has no `{name}`.")
    _check_times(claims, expected.leeway_seconds, now)
    if claims["iss"] != expected.issuer:
        raise TokenRejectedError(RejectionReason.WRONG_ISSUER)
    if expected.audience not in _audiences(claims["aud"]):
        raise TokenRejectedError(RejectionReason.WRONG_AUDIENCE)
    subject = _non_empty_text(claims, "sub")
    scopes = _scopes(claims)
    owner_id = _owner(claims)
    if owner_id is not None and Scope.ALL_OWNERS in scopes:
        raise TokenRejectedError(
            RejectionReason.INVALID_CLAIM,
            f"An owner-bound token cannot carry `{Scope.ALL_OWNERS}`.",
        )
    client_id = claims.get("client_id", claims.get("azp", subject))
    token_id = claims.get("jti")
    return Principal(
        subject=subject,
        client_id=client_id if isinstance(client_id, str) and client_id else subject,
        scopes=scopes,
        owner_id=owner_id,
        token_id=token_id if isinstance(token_id, str) else None,
        expires_at=_numeric_date(claims, "exp"),
    )


def _check_times(claims: Mapping[str, Any], leeway: float, now: float) -> None:
    expires, not_before, issued = (_numeric_date(claims, name) for name in ("exp", "nbf", "iat"))
    if expires <= now - leeway:
        raise TokenRejectedError(RejectionReason.EXPIRED)
    if not_before > now + leeway:
        raise TokenRejectedError(RejectionReason.NOT_YET_VALID)
    if issued > now + leeway:
        raise TokenRejectedError(
            RejectionReason.NOT_YET_VALID, "The token was issued in the future."
        )


def _numeric_date(claims: Mapping[str, Any], name: str) -> float:
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TokenRejectedError(RejectionReason.INVALID_CLAIM, f"`{name}` must be a NumericDate.")
    return float(value)


def _audiences(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return value
    raise TokenRejectedError(RejectionReason.INVALID_CLAIM, "`aud` must be a string or a list.")


def _non_empty_text(claims: Mapping[str, Any], name: str) -> str:
    value = claims[name]
    if not isinstance(value, str) or not value.strip():
        raise TokenRejectedError(RejectionReason.INVALID_CLAIM, f"`{name}` must be a string.")
    return value


def _scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    """`scope` (RFC 8693/9068, space-separated) or `scp` (a list, as some providers send)."""
    value = claims.get("scope", claims.get("scp", ""))
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return frozenset(value)
    raise TokenRejectedError(RejectionReason.INVALID_CLAIM, "`scope` must be a string.")


def _owner(claims: Mapping[str, Any]) -> UUID | None:
    if OWNER_CLAIM not in claims:
        return None
    value = claims[OWNER_CLAIM]
    invalid = TokenRejectedError(RejectionReason.INVALID_CLAIM, f"`{OWNER_CLAIM}` must be a UUID.")
    if not isinstance(value, str):
        raise invalid
    try:
        return UUID(value)
    except ValueError:
        raise invalid from None
