"""`python -m query_api`: serve the query API, its composition root."""

from __future__ import annotations

from infra.runtime.process import serve_api
from infra.settings import Settings
from query_api.app import create_app


def main() -> None:
    """Serve on the configured address until SIGTERM."""
    settings = Settings()
    serve_api("query-api", create_app(settings), settings.query.host, settings.query.port)


if __name__ == "__main__":
    main()
