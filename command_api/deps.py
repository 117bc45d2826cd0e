"""Dependencies of the command API's routes.

A command route takes one dependency, `NewCommand` or `AccountCommand`, which yields
what a command needs (the Ledger, the caller, the idempotency key, `If-Match`), so each
route only parses its body, calls the Ledger and lets the runner map the outcome.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Header, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from command_api.execution import CommandRequest, CommandRunner, Location
from domain.context import CommandContext, trace_scope
from domain.errors import AccountNotFoundError
from domain.ledger import Ledger, Outcome
from infra.eventstore.idempotency import MAX_KEY_LENGTH
from infra.runtime.tracing import current_traceparent
from infra.security.auth import Principal, Scope, require_owner_access, require_scope


# Dependencies that do no I/O are `async def`: FastAPI runs them on the event loop instead
# of handing each to the thread pool (a hop that cost ~60 µs of CPU per dependency).
async def ledger(request: Request) -> Ledger:
    """The Ledger application built by the app's lifespan."""
    application: Ledger = request.app.state.ledger
    return application


async def expected_version(
    if_match: Annotated[
        str | None,
        Header(description='The aggregate version the client last saw, as its ETag (`"3"`)'),
    ] = None,
) -> int | None:
    """The version named by `If-Match`; -1 (matches nothing) when it names none we issue."""
    if if_match is None or if_match.strip() == "*":
        return None
    text = if_match.strip().removeprefix("W/").strip('"')
    return int(text) if text.isdigit() else -1


async def idempotency_key(
    key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=MAX_KEY_LENGTH,
            pattern=r"^[\x21-\x7e]+$",
            description="Makes a retried command return its first outcome (printable ASCII). "
            "The key belongs to its first request: reused with another method, path or body "
            "it is refused with 422 `idempotency-key-reused` (the draft IETF "
            "Idempotency-Key header's status), since answering with the first outcome would "
            "misreport the second request.",
        ),
    ] = None,
) -> str | None:
    """The client's idempotency key, if it sent one."""
    return key


LedgerApp = Annotated[Ledger, Depends(ledger)]
Writer = Annotated[Principal, require_scope(Scope.LEDGER_WRITE)]


def owned_account(ledger: Ledger, principal: Principal, account_id: UUID) -> None:
    """Refuse, as "not found", a command on an account the caller may not act for.

    404 rather than 403: a caller must not learn that another owner's account exists.
    """
    if principal.acts_for_any_owner:
        return
    if not principal.may_act_for(ledger.get_account(account_id).owner_id):
        raise AccountNotFoundError(account_id)


@dataclass(frozen=True)
class Command:
    """One command request as its route sees it: who asks, what they expect, how to run it."""

    runner: CommandRunner
    principal: Principal
    method: str
    path: str
    correlation_id: UUID
    idempotency_key: str | None
    expected_version: int | None = None
    """The aggregate version `If-Match` names (`AccountCommand` only)."""

    def for_owner(self, owner_id: UUID) -> Ledger:
        """The Ledger, once the caller may act for `owner_id` (403 `owner-forbidden` if not)."""
        require_owner_access(self.principal, owner_id)
        return self.runner.ledger

    def on_account(self, account_id: UUID) -> Ledger:
        """The Ledger, once the caller may act for the account's owner (404 if not)."""
        owned_account(self.runner.ledger, self.principal, account_id)
        return self.runner.ledger

    def run(
        self,
        body: BaseModel | None,
        execute: Callable[[CommandContext], Outcome],
        *,
        status: int = 200,
        location: Location | None = None,
    ) -> JSONResponse:
        """Carry out `execute` once per idempotency key and answer with its outcome; its
        events carry the request's trace context."""
        request = CommandRequest(
            method=self.method,
            path=self.path,
            body=body.model_dump(mode="json") if body is not None else {},
            correlation_id=self.correlation_id,
            idempotency_key=self.idempotency_key,
        )
        with trace_scope(current_traceparent()):
            return self.runner.run(request, execute, status=status, location=location)


async def command(
    request: Request,
    key: Annotated[str | None, Depends(idempotency_key)],
    principal: Writer,
) -> Command:
    """A command creating an aggregate (no `If-Match`)."""
    runner: CommandRunner = request.app.state.runner
    return Command(
        runner=runner,
        principal=principal,
        method=request.method,
        path=request.url.path,
        correlation_id=request.state.correlation_id,
        idempotency_key=key,
    )


async def account_command(
    new: Annotated[Command, Depends(command)],
    version: Annotated[int | None, Depends(expected_version)],
) -> Command:
    """A command changing an existing account, under `If-Match` when the client sends it."""
    return replace(new, expected_version=version)


NewCommand = Annotated[Command, Depends(command)]
AccountCommand = Annotated[Command, Depends(account_command)]
