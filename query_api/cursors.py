"""Opaque page cursors: the last item's sort key, bound to the query that issued it.

A cursor is unpadded URL-safe base64 of compact JSON `{"v": 1, "s": scope, "k": [...]}`:
`k` is the sort key of the last item on the page (datetimes as RFC 3339 text) and `s`
fingerprints the endpoint and its filters, so a cursor cannot continue a different query.
Nothing in it is secret; decoding checks every part, so a tampered or truncated cursor is
an `InvalidCursorError` (a 422 problem), never a failed database query.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime

from query_api.errors import InvalidCursorError

FORMAT_VERSION = 1
MAX_CURSOR_LENGTH = 512
_BASE64URL = re.compile(r"^[A-Za-z0-9_-]+$")
_INT64 = 2**63 - 1

KeyValue = str | int | datetime
KeyShape = tuple[type[str] | type[int] | type[datetime], ...]


def query_scope(endpoint: str, filters: Mapping[str, object]) -> str:
    """A short fingerprint of an endpoint and its filters (unset filters left out)."""
    given = sorted((name, str(value)) for name, value in filters.items() if value is not None)
    canonical = json.dumps([endpoint, given])
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def encode_cursor(key: Sequence[KeyValue], scope: str) -> str:
    """The cursor that continues after an item with this sort key."""
    payload = {"v": FORMAT_VERSION, "s": scope, "k": [_encode_value(value) for value in key]}
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str, scope: str, shape: KeyShape) -> tuple[KeyValue, ...]:
    """The sort key in `cursor`, checked against the query's scope and the key's types."""
    payload = _payload(cursor)
    if payload.get("v") != FORMAT_VERSION:
        raise InvalidCursorError("unknown cursor format")
    if payload.get("s") != scope:
        raise InvalidCursorError("it was issued for a different query")
    key = payload.get("k")
    if not isinstance(key, list) or len(key) != len(shape):
        raise InvalidCursorError("malformed sort key")
    return tuple(_decode_value(value, kind) for value, kind in zip(key, shape, strict=True))


def _payload(cursor: str) -> dict[str, object]:
    if not cursor or len(cursor) > MAX_CURSOR_LENGTH or not _BASE64URL.match(cursor):
        raise InvalidCursorError("not a cursor this API issued")
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        payload = json.loads(raw.decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursorError("not a cursor this API issued") from None
    if not isinstance(payload, dict):
        raise InvalidCursorError("not a cursor this API issued")
    return payload


def _encode_value(value: KeyValue) -> str | int:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("cursor timestamps must be timezone-aware")
        return value.isoformat()
    return value


def _decode_value(value: object, kind: type[str] | type[int] | type[datetime]) -> KeyValue:
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int) or abs(value) > _INT64:
            raise InvalidCursorError("malformed sort key")
        return value
    if not isinstance(value, str):
        raise InvalidCursorError("malformed sort key")
    if kind is str:
        return value
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidCursorError("malformed sort key") from None
    if moment.tzinfo is None:
        raise InvalidCursorError("malformed sort key")
    return moment
