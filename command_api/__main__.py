"""`python -m command_api`: serve the command API, its composition root."""

from __future__ import annotations

from command_api.app import create_app
from infra.runtime.process import serve_api
from infra.settings import Settings


def main() -> None:
    """Serve on the configured address until SIGTERM."""
    settings = Settings()
    serve_api("command-api", create_app(settings), settings.command.host, settings.command.port)


if __name__ == "__main__":
    main()
