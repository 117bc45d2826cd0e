"""`python -m query_api`: serve the query API, its composition root."""

from __future__ import annotations

from infra.runtime.process import run_process, serve_app
from infra.settings import Settings
from query_api.app import create_app


def main() -> None:
    """Serve on the configured address until SIGTERM."""
    settings = Settings()
    app = create_app(settings)
    host, port = settings.query.host, settings.query.port
    run_process(
        "query-api",
        lambda stop: serve_app(app, host, port, stop, http="httptools"),
        loop="uvloop",
    )


if __name__ == "__main__":
    main()
