"""Who a verified token speaks for, and what it may do."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from infra.security.auth.scopes import Scope


@dataclass(frozen=True)
class Principal:
    """The caller behind a verified bearer token.

    `owner_id` set: an owner-bound token, it may touch that owner's accounts only.
    `owner_id` unset: a service token; it may act for every owner only when it also
    carries the `ledger:all-owners` scope, otherwise for none.
    """

    subject: str
    client_id: str
    scopes: frozenset[str]
    owner_id: UUID | None = None
    token_id: str | None = None
    expires_at: float | None = None
    """The token's `exp` (seconds since the epoch), when it came from a token."""

    @property
    def acts_for_any_owner(self) -> bool:
        """Whether this caller may act for every owner."""
        return self.owner_id is None and Scope.ALL_OWNERS in self.scopes

    def has_scopes(self, *scopes: str) -> bool:
        """Whether the token grants every one of `scopes`."""
        return frozenset(scopes) <= self.scopes

    def may_act_for(self, owner_id: UUID) -> bool:
        """Whether this caller may see and change the accounts of `owner_id`."""
        return self.acts_for_any_owner or self.owner_id == owner_id
