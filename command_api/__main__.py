"""`python -m command_api`: serve the command API."""

from __future__ import annotations

import uvicorn

from command_api.app import create_app
from infra.service import configure_logging
from infra.settings import Settings


def main() -> None:
    """Serve on the configured address until SIGTERM."""
    configure_logging("command-api")
    settings = Settings()
    uvicorn.run(
        create_app(settings),
        host=settings.command.host,
        port=settings.command.port,
        log_config=None,
        access_log=False,
        loop="uvloop",
        http="httptools",
    )


if __name__ == "__main__":
    main()
