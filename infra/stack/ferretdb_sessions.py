"""Run-time settings of FerretDB's own PostgreSQL sessions (ADR 0010).

FerretDB sends one prepared statement, `… WHERE _jsonb->$1 @> $2`, for an equality on any
field, `_id` included. A generic plan of it knows neither the field nor the value, so no
expression index can match it and the table is scanned; PostgreSQL switches a prepared
statement to its generic plan when that looks no dearer than the custom ones, which on a
small, young collection (a fresh rebuild generation) it can. So FerretDB's sessions, and
only theirs (the event store's statements gain nothing from planning each time), plan
every statement with its parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

FERRETDB_SESSION_SETTINGS = {"plan_cache_mode": "force_custom_plan"}


def with_session_settings(url: str, settings: Mapping[str, str]) -> str:
    """`url` with run-time settings added as query parameters (ones it names already win).

    pgx, FerretDB's driver, sends every URL parameter it does not know itself to the
    server as a run-time setting of the session, as `application_name` is sent.
    """
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    return urlunsplit(parts._replace(query=urlencode({**settings, **query})))


def ferretdb_postgresql_url(event_store_url: str) -> str:
    """The URL FerretDB connects with: the event store's database, with our settings."""
    return with_session_settings(event_store_url, FERRETDB_SESSION_SETTINGS)
