"""Dependencies of the query API's routes: the read models, paging, consistency tokens."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Header, Query, Request

from infra.eventstore.history import EventHistory, LogListener
from infra.eventstore.reader import EventStoreReader
from infra.security.auth import Principal, Scope, require_scope
from infra.settings import QueryApiSettings
from query_api.consistency.header import record_freshness
from query_api.consistency.service import Consistency
from query_api.consistency.tokens import (
    POSITION_HEADER,
    VERSION_HEADER,
    ConsistencyToken,
    Freshness,
    token_from,
)
from query_api.consistency.watcher import ConsistencyWatcher
from query_api.errors import PageSizeError
from query_api.services import ReadServices
from query_api.views.pages import PageRequest
from query_api.views.served import ReadStore, ServedProjection

INT64_MAX = 2**63 - 1

# OpenAPI cannot say that two parameters exclude each other, so each says it in words and
# the operation documents the 422 `invalid-consistency-token` that enforces it.
ONE_TOKEN = (
    f"A request carries one token: a version (`{VERSION_HEADER}` or `min_version`) or a "
    f"position (`{POSITION_HEADER}` or `min_position`), not both; a header and its query "
    "parameter may both be given only with the same value. Otherwise: 422 "
    "`invalid-consistency-token`."
)


def read_services(request: Request) -> ReadServices:
    """The read side's services, as the app's lifespan opened them (its state's one entry)."""
    services: ReadServices = request.state.read_services
    return services


Services = Annotated[ReadServices, Depends(read_services)]


def read_models(services: Services) -> ReadStore:
    """The read models, at their live builds."""
    return services.read_store


def event_store(services: Services) -> EventStoreReader:
    """The read-only event-store reader."""
    return services.event_store


def watcher(services: Services) -> ConsistencyWatcher:
    """The process's consistency watcher."""
    return services.watcher


def query_settings(services: Services) -> QueryApiSettings:
    """The query API's settings."""
    return services.settings


def event_history(services: Services) -> EventHistory:
    """The event-history reader (pages and streams of the log)."""
    return services.history


def log_listener(services: Services) -> LogListener:
    """The process's one LISTEN connection, waking followers of the log."""
    return services.log_listener


def page_request(
    settings: Annotated[QueryApiSettings, Depends(query_settings)],
    limit: Annotated[
        int | None,
        Query(ge=1, description="Items per page (default and maximum are configured; 50, 500)"),
    ] = None,
    cursor: Annotated[
        str | None, Query(description="`next_cursor` of the previous page; omit for the first")
    ] = None,
) -> PageRequest:
    """The page asked for, within the configured maximum."""
    size = settings.default_page_size if limit is None else limit
    if size > settings.max_page_size:
        raise PageSizeError(size, settings.max_page_size)
    return PageRequest(limit=size, cursor=cursor)


def consistency_token(
    header_version: Annotated[
        int | None,
        Header(
            alias=VERSION_HEADER,
            ge=1,
            le=INT64_MAX,
            description="Wait until the view shows this version of the aggregate it is about "
            "(the `version` of a command's answer). Single-aggregate views only. " + ONE_TOKEN,
        ),
    ] = None,
    min_version: Annotated[
        int | None,
        Query(ge=1, le=INT64_MAX, description=f"Same as `{VERSION_HEADER}`. " + ONE_TOKEN),
    ] = None,
    header_position: Annotated[
        int | None,
        Header(
            alias=POSITION_HEADER,
            ge=1,
            le=INT64_MAX,
            description="Wait until the view reflects every event up to this global log "
            "position (the `position` of a command's answer). " + ONE_TOKEN,
        ),
    ] = None,
    min_position: Annotated[
        int | None,
        Query(ge=1, le=INT64_MAX, description=f"Same as `{POSITION_HEADER}`. " + ONE_TOKEN),
    ] = None,
) -> ConsistencyToken | None:
    """The request's consistency token, if any."""
    return token_from(header_version, min_version, header_position, min_position)


@dataclass(frozen=True)
class ReadConsistency:
    """One request's token, bound to the process's waiting machinery."""

    request: Request
    consistency: Consistency
    token: ConsistencyToken | None

    async def account(self, account_id: UUID) -> Freshness:
        """Wait for the account summary."""
        return self._record(await self.consistency.account(account_id, self.token))

    async def statement(self, account_id: UUID) -> Freshness:
        """Wait for the account's statement."""
        return self._record(await self.consistency.statement(account_id, self.token))

    async def transfer(self, transfer_id: UUID) -> Freshness:
        """Wait for the transfer's view."""
        return self._record(await self.consistency.transfer(transfer_id, self.token))

    async def projection(self, projection: ServedProjection) -> Freshness:
        """Wait for a whole projection."""
        return self._record(await self.consistency.projection(projection, self.token))

    def _record(self, freshness: Freshness) -> Freshness:
        record_freshness(self.request, freshness)
        return freshness


def read_consistency(
    request: Request,
    services: Services,
    token: Annotated[ConsistencyToken | None, Depends(consistency_token)],
) -> ReadConsistency:
    """The request's consistency token, ready to wait on."""
    return ReadConsistency(request, services.consistency, token)


ReadModels = Annotated[ReadStore, Depends(read_models)]
EventStore = Annotated[EventStoreReader, Depends(event_store)]
Watcher = Annotated[ConsistencyWatcher, Depends(watcher)]
History = Annotated[EventHistory, Depends(event_history)]
Listener = Annotated[LogListener, Depends(log_listener)]
Page = Annotated[PageRequest, Depends(page_request)]
Consistent = Annotated[ReadConsistency, Depends(read_consistency)]


Reader = Annotated[Principal, require_scope(Scope.LEDGER_READ)]
"""The caller of a view: needs `ledger:read`; owner-bound callers see only their owner's data."""

OverallReader = Annotated[Principal, require_scope(Scope.LEDGER_READ, Scope.ALL_OWNERS)]
"""The caller of a view across every owner (statistics): needs `ledger:all-owners` too."""


def visible_to(principal: Principal, owner_id: str | UUID | None) -> bool:
    """Whether `principal` may see data of `owner_id` (unknown owner: only all-owner callers)."""
    if principal.acts_for_any_owner:
        return True
    return owner_id is not None and principal.may_act_for(UUID(str(owner_id)))
