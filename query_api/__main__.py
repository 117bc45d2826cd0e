"""`python -m query_api`: serve the query API."""

from __future__ import annotations

import uvicorn

from infra.service import configure_logging
from infra.settings import Settings
from query_api.app import create_app


def main() -> None:
    """Serve on the configured address until SIGTERM."""
    configure_logging("query-api")
    settings = Settings()
    uvicorn.run(
        create_app(settings),
        host=settings.query.host,
        port=settings.query.port,
        log_config=None,
        access_log=False,
        loop="uvloop",
        http="httptools",
    )


if __name__ == "__main__":
    main()
