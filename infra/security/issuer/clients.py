"""OAuth2 clients: created with a secret shown once, stored as an argon2 hash, revocable."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any
from uuid import UUID, uuid4

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from infra.security.auth.scopes import Scope, unknown_scopes
from infra.security.issuer.database import Clock, Connect, utc_now
from infra.security.issuer.errors import (
    ClientDefinitionError,
    InvalidClientError,
    UnknownClientError,
)

log = logging.getLogger(__name__)

MAX_NAME_LENGTH = 200
MAX_CREDENTIAL_LENGTH = 512


@dataclass(frozen=True)
class Client:
    """A registered client; `owner_id` binds every token it gets to one owner."""

    client_id: str
    name: str
    scopes: frozenset[str]
    owner_id: UUID | None
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class IssuedClient:
    """A client just created, with the only copy of its secret."""

    client: Client
    secret: str = field(repr=False)


def check_client_definition(name: str, scopes: frozenset[str], owner_id: UUID | None) -> None:
    """Refuse clients with no name, no or unknown scopes, or an owner with `ledger:all-owners`."""
    if not name.strip() or len(name) > MAX_NAME_LENGTH:
        raise ClientDefinitionError(f"a client name must be 1 to {MAX_NAME_LENGTH} characters")
    if not scopes:
        raise ClientDefinitionError("a client needs at least one scope")
    unknown = unknown_scopes(scopes)
    if unknown:
        raise ClientDefinitionError(f"unknown scope(s): {' '.join(sorted(unknown))}")
    if owner_id is not None and Scope.ALL_OWNERS in scopes:
        raise ClientDefinitionError(f"a client bound to an owner cannot have {Scope.ALL_OWNERS}")


class ClientRegistry:
    """The `auth_clients` table."""

    def __init__(
        self, connect: Connect, *, hasher: PasswordHasher | None = None, clock: Clock = utc_now
    ) -> None:
        self._connect = connect
        self._hasher = hasher or PasswordHasher()
        self._clock = clock

    def create(
        self, name: str, scopes: frozenset[str], owner_id: UUID | None = None
    ) -> IssuedClient:
        """Register a client; its secret is returned here and never again."""
        check_client_definition(name, scopes, owner_id)
        client = Client(str(uuid4()), name.strip(), scopes, owner_id, self._clock())
        secret = secrets.token_urlsafe(32)
        with self._connect() as connection:
            connection.execute(
                "INSERT INTO auth_clients (client_id, name, secret_hash, scopes, owner_id,"
                " created_at) VALUES (%s, %s, %s, %s, %s, %s)",
                (
                    client.client_id,
                    client.name,
                    self._hasher.hash(secret),
                    sorted(scopes),
                    owner_id,
                    client.created_at,
                ),
            )
        return IssuedClient(client, secret)

    def clients(self) -> list[Client]:
        """Every client, oldest first, revoked ones included."""
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT client_id, name, scopes, owner_id, created_at, revoked_at"
                " FROM auth_clients ORDER BY created_at, client_id"
            ).fetchall()
        return [_client(row) for row in rows]

    def revoke(self, client_id: str) -> Client:
        """Stop issuing tokens to a client (tokens already issued live until they expire)."""
        with self._connect() as connection:
            row = connection.execute(
                "UPDATE auth_clients SET revoked_at = coalesce(revoked_at, %s)"
                " WHERE client_id = %s"
                " RETURNING client_id, name, scopes, owner_id, created_at, revoked_at",
                (self._clock(), client_id),
            ).fetchone()
        if row is None:
            raise UnknownClientError(client_id)
        return _client(row)

    def authenticate(self, client_id: str, secret: str) -> Client:
        """The active client these credentials belong to; `InvalidClientError` otherwise."""
        if len(client_id) > MAX_CREDENTIAL_LENGTH or len(secret) > MAX_CREDENTIAL_LENGTH:
            raise InvalidClientError("Client authentication failed.")
        with self._connect() as connection:
            row = connection.execute(
                "SELECT client_id, name, scopes, owner_id, created_at, revoked_at, secret_hash"
                " FROM auth_clients WHERE client_id = %s",
                (client_id,),
            ).fetchone()
        if row is None:
            # Spend the same time as a real check, so timing does not reveal which ids exist.
            self._matches(self._decoy_hash, secret)
            log.info("token refused: unknown client")
            raise InvalidClientError("Client authentication failed.")
        client, secret_hash = _client(row), str(row[-1])
        if not self._matches(secret_hash, secret):
            log.info("token refused: wrong secret for client %s", client_id)
            raise InvalidClientError("Client authentication failed.")
        if client.revoked_at is not None:
            log.info("token refused: client %s is revoked", client_id)
            raise InvalidClientError("This client has been revoked.")
        if self._hasher.check_needs_rehash(secret_hash):
            self._store_hash(client_id, self._hasher.hash(secret))
        return client

    @cached_property
    def _decoy_hash(self) -> str:
        return self._hasher.hash(secrets.token_urlsafe(32))

    def _matches(self, secret_hash: str, secret: str) -> bool:
        try:
            return self._hasher.verify(secret_hash, secret)
        except (VerificationError, InvalidHashError):
            return False

    def _store_hash(self, client_id: str, secret_hash: str) -> None:
        with self._connect() as connection:
            connection.execute(
                "UPDATE auth_clients SET secret_hash = %s WHERE client_id = %s",
                (secret_hash, client_id),
            )


def _client(row: tuple[Any, ...]) -> Client:
    client_id, name, scopes, owner_id, created_at, revoked_at = row[:6]
    return Client(client_id, name, frozenset(scopes), owner_id, created_at, revoked_at)
