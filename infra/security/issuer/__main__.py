"""`python -m infra.security.issuer`: serve the local token issuer."""

from __future__ import annotations

import uvicorn

from infra.runtime.process import configure_logging
from infra.security.auth.errors import AuthError
from infra.security.issuer.app import create_app
from infra.settings import Settings


def main() -> None:
    """Serve on `LEDGER_AUTH_ISSUER_HOST:LEDGER_AUTH_ISSUER_PORT` until SIGTERM."""
    configure_logging("token-issuer")
    settings = Settings()
    try:
        app = create_app(settings)
    except AuthError as error:
        raise SystemExit(f"token issuer: {error}") from None
    uvicorn.run(
        app,
        host=settings.auth.issuer_host,
        port=settings.auth.issuer_port,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
