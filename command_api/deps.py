"""Dependencies of the command API's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from domain.ledger import Ledger


def ledger(request: Request) -> Ledger:
    """The Ledger application built by the app's lifespan."""
    application: Ledger = request.app.state.ledger
    return application


def expected_version(
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


LedgerApp = Annotated[Ledger, Depends(ledger)]
ExpectedVersion = Annotated[int | None, Depends(expected_version)]
