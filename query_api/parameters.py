"""Query-parameter types: strict formats, so a sloppy filter is a problem, not a guess."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field

_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _rfc3339_text(value: object) -> object:
    if isinstance(value, str) and not _RFC3339.match(value):
        raise ValueError("must be an RFC 3339 timestamp with an offset, e.g. 2026-11-28T09:30:00Z")
    return value


def _iso_date_text(value: object) -> object:
    if isinstance(value, str) and not _ISO_DATE.match(value):
        raise ValueError("must be an ISO 8601 date, e.g. 2026-11-28")
    return value


Timestamp = Annotated[datetime, BeforeValidator(_rfc3339_text)]
IsoDate = Annotated[date, BeforeValidator(_iso_date_text)]
CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
StatusFilter = Literal["open", "frozen", "closed"]
