"""`python -m infra.security.issuer`: serve the local token issuer, its composition root."""

from __future__ import annotations

from infra.runtime.process import run_process, serve_app
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
    host, port = settings.auth.issuer_host, settings.auth.issuer_port
    run_process(
        "token-issuer",
        lambda stop: serve_app(app, host, port, stop, http="httptools"),
        loop="uvloop",
    )


if __name__ == "__main__":
    main()
