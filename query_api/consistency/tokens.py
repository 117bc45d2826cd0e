"""Consistency tokens: what a command answered with, handed back to a query."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from query_api.errors import ConsistencyTokenError

VERSION_HEADER = "X-Min-Version"
POSITION_HEADER = "X-Min-Position"
CONSISTENCY_HEADER = "X-Consistency"

Freshness = Literal["fresh", "stale"]
FRESH: Freshness = "fresh"
STALE: Freshness = "stale"


@dataclass(frozen=True)
class VersionToken:
    """The version of one aggregate a command answered with."""

    version: int


@dataclass(frozen=True)
class PositionToken:
    """The global log position a command answered with."""

    position: int


ConsistencyToken = VersionToken | PositionToken


def token_from(
    header_version: int | None,
    query_version: int | None,
    header_position: int | None,
    query_position: int | None,
) -> ConsistencyToken | None:
    """The one token a request carries, from a header or a query parameter; None if none."""
    version = _one("version", header_version, query_version)
    position = _one("position", header_position, query_position)
    if version is not None and position is not None:
        raise ConsistencyTokenError(
            "Give either a version or a position token, not both: each alone says what to wait for."
        )
    if version is not None:
        return VersionToken(version)
    if position is not None:
        return PositionToken(position)
    return None


def _one(kind: str, from_header: int | None, from_query: int | None) -> int | None:
    if from_header is not None and from_query is not None and from_header != from_query:
        raise ConsistencyTokenError(
            f"The min {kind} header says {from_header} but the query parameter says {from_query}."
        )
    return from_header if from_header is not None else from_query
