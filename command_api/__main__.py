"""`python -m command_api`: serve the command API, its composition root."""

from __future__ import annotations

from command_api.app import create_app
from infra.runtime.process import run_process, serve_app
from infra.settings import Settings


def main() -> None:
    """Serve on the configured address until SIGTERM."""
    settings = Settings()
    app = create_app(settings)
    host, port = settings.command.host, settings.command.port
    run_process(
        "command-api",
        lambda stop: serve_app(app, host, port, stop, http="httptools"),
        loop="uvloop",
    )


if __name__ == "__main__":
    main()
