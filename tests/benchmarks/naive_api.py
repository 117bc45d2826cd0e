"""`python -m tests.benchmarks.naive_api --port N`: the naive design the write-path bench
measures ours against.

One FastAPI `def` endpoint per deposit that loads the account and calls `save()` through
the eventsourcing library's own PostgreSQL recorder: no aggregate cache, one table lock,
one transaction and one fsync per request. Served by one uvicorn process on uvloop and
httptools, with nothing in front of it: no gateway, TLS, token, rate limit, idempotency
or correlation id. It reads the stack's PostgreSQL URL from `LEDGER_POSTGRES_URL`, like
every Ledger process, and writes to the same event store.
"""

from __future__ import annotations

import argparse
from typing import Annotated
from uuid import UUID, uuid4

import uvicorn
from fastapi import FastAPI
from pydantic import BaseModel, Field

from domain.context import CommandContext
from domain.ledger import Ledger
from infra.eventstore.library import library_environment
from infra.settings import Settings

# The parts of our wiring the naive design does without: our recorder and the cache.
OURS = ("APPLICATION_RECORDER_TOPIC", "AGGREGATE_CACHE_MAXSIZE")


class Deposit(BaseModel):
    """The deposit body, validated as the command API's is."""

    amount: Annotated[int, Field(gt=0)]
    reference: Annotated[str, Field(min_length=1, max_length=140)]


def naive_app(settings: Settings) -> FastAPI:
    """The one-route application."""
    env = {k: v for k, v in library_environment(settings).items() if k not in OURS}
    ledger = Ledger(env=env)
    app = FastAPI(title="naive deposits")

    @app.post("/v1/accounts/{account_id}/deposits")
    def deposit(account_id: UUID, body: Deposit) -> dict[str, object]:
        outcome = ledger.deposit(
            account_id,
            body.amount,
            body.reference,
            context=CommandContext(correlation_id=uuid4()),
        )
        return {"aggregate_id": str(outcome.aggregate_id), "version": outcome.version}

    return app


def main() -> None:
    """Serve on 127.0.0.1 until stopped."""
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.naive_api")
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    uvicorn.run(
        naive_app(Settings()),
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
