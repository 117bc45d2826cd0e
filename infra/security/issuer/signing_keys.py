"""The issuer's ES256 signing keys: generated on first start, rotated, published as a JWKS.

Private keys live in PostgreSQL as PKCS#8 PEM encrypted with `LEDGER_AUTH_KEY_ENCRYPTION_KEY`,
so a copy of the database alone cannot mint tokens. A rotated key stops signing at once and
stays in the JWKS until its `published_until`, so tokens it signed verify until then.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from psycopg.types.json import Jsonb

from infra.security.issuer.database import KEYS_LOCK, Clock, Connect, Connection, utc_now
from infra.security.issuer.errors import KeyEncryptionError

ALGORITHM = "ES256"


@dataclass(frozen=True)
class SigningKey:
    """The private key new tokens are signed with, and its `kid`."""

    kid: str
    private_key: ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class Rotation:
    """What `rotate` did: the new signing key, and until when the old one stays published."""

    new_kid: str
    retired_kids: tuple[str, ...]
    published_until: datetime


class SigningKeyStore:
    """The `auth_signing_keys` table."""

    def __init__(
        self,
        connect: Connect,
        encryption_key: str,
        *,
        grace_seconds: int,
        clock: Clock = utc_now,
    ) -> None:
        if not encryption_key:
            raise KeyEncryptionError(
                "LEDGER_AUTH_KEY_ENCRYPTION_KEY is not set; the issuer needs it to encrypt its "
                "signing keys (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
            )
        self._connect = connect
        self._password = encryption_key.encode()
        self._grace = timedelta(seconds=grace_seconds)
        self._clock = clock
        self._decrypted: dict[str, SigningKey] = {}

    def ensure_signing_key(self) -> SigningKey:
        """The current signing key, generating the first one if there is none."""
        with self._connect() as connection, connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (KEYS_LOCK,))
            if _current_row(connection) is None:
                self._insert_new_key(connection)
        return self.signing_key()

    def signing_key(self) -> SigningKey:
        """The newest unretired key (decrypted once per process); picks up CLI rotations."""
        with self._connect() as connection:
            row = _current_row(connection)
        if row is None:
            return self.ensure_signing_key()
        kid, encrypted = row
        if kid not in self._decrypted:
            self._decrypted[kid] = SigningKey(kid, self._decrypt(kid, encrypted))
        return self._decrypted[kid]

    def rotate(self, grace_seconds: int | None = None) -> Rotation:
        """Sign with a new key from now on; keep the old ones published for the grace period."""
        grace = self._grace if grace_seconds is None else timedelta(seconds=grace_seconds)
        now = self._clock()
        with self._connect() as connection, connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(%s)", (KEYS_LOCK,))
            retired = connection.execute(
                "UPDATE auth_signing_keys SET retired_at = %s, published_until = %s"
                " WHERE retired_at IS NULL RETURNING kid",
                (now, now + grace),
            ).fetchall()
            connection.execute("DELETE FROM auth_signing_keys WHERE published_until <= %s", (now,))
            new_kid = self._insert_new_key(connection)
        return Rotation(new_kid, tuple(str(row[0]) for row in retired), now + grace)

    def published_keys(self) -> list[dict[str, Any]]:
        """The public JWKs to publish: the signing key and the retired ones still in grace."""
        with self._connect() as connection:
            rows = connection.execute(
                "SELECT public_jwk FROM auth_signing_keys"
                " WHERE published_until IS NULL OR published_until > %s"
                " ORDER BY created_at DESC",
                (self._clock(),),
            ).fetchall()
        return [dict(row[0]) for row in rows]

    def _insert_new_key(self, connection: Connection) -> str:
        private_key = ec.generate_private_key(ec.SECP256R1())
        public_jwk = public_jwk_of(private_key.public_key())
        encrypted = private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(self._password),
        ).decode()
        connection.execute(
            "INSERT INTO auth_signing_keys (kid, algorithm, public_jwk, encrypted_private_key,"
            " created_at) VALUES (%s, %s, %s, %s, %s)",
            (public_jwk["kid"], ALGORITHM, Jsonb(public_jwk), encrypted, self._clock()),
        )
        return str(public_jwk["kid"])

    def _decrypt(self, kid: str, encrypted: str) -> ec.EllipticCurvePrivateKey:
        try:
            key = serialization.load_pem_private_key(encrypted.encode(), password=self._password)
        except (ValueError, TypeError):
            raise KeyEncryptionError(
                f"cannot decrypt signing key {kid}: LEDGER_AUTH_KEY_ENCRYPTION_KEY is not the "
                "key it was stored with"
            ) from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise KeyEncryptionError(f"signing key {kid} is not an EC key")
        return key


def public_jwk_of(public_key: ec.EllipticCurvePublicKey) -> dict[str, Any]:
    """The public JWK, its `kid` the RFC 7638 thumbprint."""
    jwk: dict[str, Any] = ECAlgorithm.to_jwk(public_key, as_dict=True)
    return {**jwk, "kid": jwk_thumbprint(jwk), "use": "sig", "alg": ALGORITHM}


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638: SHA-256 of the required members in lexicographic order, base64url."""
    required = {name: jwk[name] for name in ("crv", "kty", "x", "y")}
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()


def _current_row(connection: Connection) -> tuple[str, str] | None:
    row = connection.execute(
        "SELECT kid, encrypted_private_key FROM auth_signing_keys WHERE retired_at IS NULL"
        " ORDER BY created_at DESC LIMIT 1"
    ).fetchone()
    return None if row is None else (str(row[0]), str(row[1]))
