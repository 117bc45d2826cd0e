"""Authentication for the local stack: the APIs trust the local issuer out of the box.

When no issuer is configured (`LEDGER_AUTH_ISSUER` unset), every `ledger` command points
the APIs at the local issuer and gives it a key-encryption key kept in the stack folder
(created once, readable by its owner only). Production sets `LEDGER_AUTH_ISSUER` and
`LEDGER_AUTH_JWKS_URL` to a real OIDC provider instead, and this does nothing.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from infra.settings import AuthSettings, Settings

KEY_FILE = Path("auth") / "key-encryption-key"
_PREFIX = "LEDGER_AUTH_"


def local_auth_environment(settings: Settings) -> dict[str, str]:
    """The `LEDGER_AUTH_*` variables that wire the local issuer, or {} when one is configured."""
    if settings.auth.issuer or settings.auth.disabled_for_development:
        return {}
    issuer = f"http://{settings.auth.issuer_host}:{settings.auth.issuer_port}"
    gateway = f"https://{settings.gateway.host}:{settings.gateway.https_port}"
    environment = {
        "LEDGER_AUTH_ISSUER": issuer,
        "LEDGER_AUTH_JWKS_URL": f"{issuer}/.well-known/jwks.json",
        "LEDGER_AUTH_TOKEN_URL": f"{gateway}/oauth/token",
    }
    if not settings.auth.key_encryption_key.get_secret_value():
        environment["LEDGER_AUTH_KEY_ENCRYPTION_KEY"] = _key(settings.stack.dir / KEY_FILE)
    return environment


def apply_local_auth(settings: Settings) -> Settings:
    """Export the local issuer's wiring into this process's environment (unset keys only),
    for the processes it starts, and return `settings` as they read with it exported."""
    exported: dict[str, str] = {}
    for name, value in local_auth_environment(settings).items():
        if name not in os.environ:
            os.environ[name] = value
            exported[name.removeprefix(_PREFIX).lower()] = value
    if not exported:
        return settings
    auth = AuthSettings.model_validate({**settings.auth.model_dump(), **exported})
    return settings.model_copy(update={"auth": auth})


def _key(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(secrets.token_urlsafe(32))
    return path.read_text().strip()
