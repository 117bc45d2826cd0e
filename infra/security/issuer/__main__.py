"""`python -m infra.security.issuer`: serve the local token issuer, its composition root."""

from __future__ import annotations

from infra.runtime.process import serve_api
from infra.security.auth.errors import AuthError
from infra.security.issuer.app import create_app
from infra.settings import Settings


def main() -> None:
    """Serve on `LEDGER_AUTH_ISSUER_HOST:LEDGER_AUTH_ISSUER_PORT` until SIGTERM."""
    settings = Settings()
    try:
        app = create_app(settings)
    except AuthError as error:
        raise SystemExit(f"token issuer: {error}") from None
    serve_api("token-issuer", app, settings.auth.issuer_host, settings.auth.issuer_port)


if __name__ == "__main__":
    main()
