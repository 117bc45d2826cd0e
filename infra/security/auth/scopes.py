"""The OAuth2 scopes Ledger's APIs understand."""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    """One permission a token can carry; the value is what appears in the `scope` claim."""

    LEDGER_WRITE = "ledger:write"
    LEDGER_READ = "ledger:read"
    EVENTS_READ = "events:read"
    PROJECTIONS_ADMIN = "projections:admin"
    # Not a permission of its own: it lifts the owner restriction of the others.
    ALL_OWNERS = "ledger:all-owners"


SCOPE_DESCRIPTIONS: dict[str, str] = {
    Scope.LEDGER_WRITE: "Open accounts, move money and request transfers.",
    Scope.LEDGER_READ: "Read accounts, balances and transfers.",
    Scope.EVENTS_READ: "Read the raw event log.",
    Scope.PROJECTIONS_ADMIN: "Inspect, pause and rebuild projections.",
    Scope.ALL_OWNERS: "Act for every owner; only for tokens that carry no owner claim.",
}

KNOWN_SCOPES: frozenset[str] = frozenset(SCOPE_DESCRIPTIONS)


def unknown_scopes(scopes: frozenset[str]) -> frozenset[str]:
    """The members of `scopes` that Ledger does not define."""
    return scopes - KNOWN_SCOPES


def scope_text(scopes: frozenset[str]) -> str:
    """Scopes as an OAuth2 `scope` value: space-separated, in a stable order."""
    return " ".join(sorted(scopes))
