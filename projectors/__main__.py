"""`python -m projectors`: one projector process (a worker per projection), its composition root."""

from __future__ import annotations

import asyncio

from infra.readstore.client import close_client, make_client, read_models
from infra.runtime.probes import serve_probes
from infra.runtime.process import run_process
from infra.settings import Settings
from projectors.engine.supervisor import ProjectorProcess
from projectors.projections.registry import PROJECTIONS


def main() -> None:
    """Run one projector process, with its probes, until SIGTERM."""
    settings = Settings()

    async def work(stop: asyncio.Event) -> None:
        client = make_client(settings.mongodb)
        try:
            process = ProjectorProcess(
                settings, read_models(client, settings.mongodb), PROJECTIONS.values()
            )
            probes = asyncio.create_task(
                serve_probes(
                    process.probes(), settings.projector.host, settings.projector.port, stop
                )
            )
            try:
                await process.run(stop)
            finally:
                stop.set()
                await probes
        finally:
            await close_client(client)

    run_process("projector", work)


if __name__ == "__main__":
    main()
