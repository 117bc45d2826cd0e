"""Carrying out one command: context, idempotency, and the response it earns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from fastapi.responses import JSONResponse

from command_api.problems import mapping_for
from domain.context import CommandContext
from domain.errors import LedgerError
from domain.ledger import Ledger, Outcome
from infra.eventstore.idempotency import (
    DuplicateIdempotencyKeyError,
    IdempotencyRecord,
    IdempotencyStore,
    StoredOutcome,
    fingerprint,
)
from infra.problems import PROBLEM_JSON, problem_response, problem_type

Location = Callable[[str], str]
REPLAYED_HEADER = "Idempotent-Replayed"
ACCEPTED_KEYS = ("aggregate_id", "version", "position", "correlation_id")
PROBLEM_KEYS = ("type", "title", "status", "detail", "instance")


@dataclass(frozen=True)
class CommandRequest:
    """What identifies one command request: its route, body and optional idempotency key."""

    method: str
    path: str
    body: dict[str, Any]
    correlation_id: UUID
    idempotency_key: str | None


class CommandRunner:
    """Runs a command against the Ledger and shapes its response, replaying retried keys."""

    def __init__(self, ledger: Ledger, store: IdempotencyStore, ttl_seconds: int) -> None:
        self._ledger = ledger
        self._store = store
        self._ttl_seconds = ttl_seconds

    @property
    def ledger(self) -> Ledger:
        """The Ledger the commands run against."""
        return self._ledger

    def run(
        self,
        request: CommandRequest,
        execute: Callable[[CommandContext], Outcome],
        *,
        status: int = 200,
        location: Location | None = None,
    ) -> JSONResponse:
        """Carry out `execute` once per idempotency key; map refusals to problem details."""
        if request.idempotency_key is None:
            outcome = execute(CommandContext(correlation_id=request.correlation_id))
            return _accepted(_body(outcome, request.correlation_id), status, location)
        return self._run_once(request, execute, status, location)

    def _run_once(
        self,
        request: CommandRequest,
        execute: Callable[[CommandContext], Outcome],
        status: int,
        location: Location | None,
    ) -> JSONResponse:
        key = request.idempotency_key
        assert key is not None
        request_fingerprint = fingerprint(request.method, request.path, request.body)
        stored = self._store.find(key)
        if stored is not None:
            return _replay(stored, request_fingerprint, location)
        record = IdempotencyRecord(
            key=key,
            fingerprint=request_fingerprint,
            status=status,
            body={"correlation_id": str(request.correlation_id)},
            ttl_seconds=self._ttl_seconds,
        )
        context = CommandContext(correlation_id=request.correlation_id, idempotency=record)
        try:
            outcome = execute(context)
        except DuplicateIdempotencyKeyError:
            return self._replay_winner(key, request_fingerprint, location)
        except LedgerError as error:
            return self._refused(error, record, request)
        return _accepted(_body(outcome, request.correlation_id), status, location)

    def _refused(
        self, error: LedgerError, record: IdempotencyRecord, request: CommandRequest
    ) -> JSONResponse:
        mapping = mapping_for(error)
        body = {
            "type": problem_type(mapping.slug),
            "title": mapping.title,
            "status": mapping.status,
            "detail": str(error),
            "instance": request.path,
        }
        refusal = IdempotencyRecord(
            key=record.key,
            fingerprint=record.fingerprint,
            status=mapping.status,
            body=body,
            ttl_seconds=record.ttl_seconds,
            fill_outcome=False,
        )
        try:
            # No events: the recorder stores the refusal under the key, under the same lock.
            self._ledger.recorder.insert_events([], idempotency=refusal)
        except DuplicateIdempotencyKeyError:
            return self._replay_winner(record.key, record.fingerprint, None)
        return JSONResponse(body, status_code=mapping.status, media_type=PROBLEM_JSON)

    def _replay_winner(
        self, key: str, request_fingerprint: str, location: Location | None
    ) -> JSONResponse:
        stored = self._store.find(key)
        if stored is None:  # expired in between: vanishingly rare, and safe to ask again
            return problem_response(409, "idempotency-key-in-flight", "Retry the request")
        return _replay(stored, request_fingerprint, location)


def _body(outcome: Outcome, correlation_id: UUID) -> dict[str, Any]:
    return {
        "aggregate_id": str(outcome.aggregate_id),
        "version": outcome.version,
        "position": outcome.position,
        "correlation_id": str(correlation_id),
    }


def _ordered(body: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: body[key] for key in keys if key in body} | body


def _accepted(body: dict[str, Any], status: int, location: Location | None) -> JSONResponse:
    headers = {"ETag": f'"{body["version"]}"'}
    if location is not None:
        headers["Location"] = location(body["aggregate_id"])
    return JSONResponse(body, status_code=status, headers=headers)


def _replay(
    stored: StoredOutcome, request_fingerprint: str, location: Location | None
) -> JSONResponse:
    if stored.fingerprint != request_fingerprint:
        return problem_response(
            422,
            "idempotency-key-reused",
            "Idempotency key reused with a different request",
            "This Idempotency-Key was first used with another method, path or body.",
        )
    # jsonb keeps keys in its own order; answer in the order the first response used.
    if stored.status >= 400:
        body = _ordered(stored.body, PROBLEM_KEYS)
        response = JSONResponse(body, status_code=stored.status, media_type=PROBLEM_JSON)
    else:
        response = _accepted(_ordered(stored.body, ACCEPTED_KEYS), stored.status, location)
    response.headers[REPLAYED_HEADER] = "true"
    return response
