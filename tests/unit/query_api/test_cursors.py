"""Cursors round-trip their sort key and refuse anything they did not issue."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from query_api.cursors import MAX_CURSOR_LENGTH, decode_cursor, encode_cursor, query_scope
from query_api.errors import InvalidCursorError

SCOPE = query_scope("statement", {"account_id": "a"})
STATEMENT_KEY = (datetime, int)


def forge(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()


def test_a_cursor_returns_the_sort_key_it_was_made_from() -> None:
    moment = datetime(2026, 11, 28, 9, 30, 0, 123000, tzinfo=UTC)

    cursor = encode_cursor([moment, 42], SCOPE)

    assert decode_cursor(cursor, SCOPE, STATEMENT_KEY) == (moment, 42)


def test_a_cursor_keeps_a_non_utc_offset_as_the_same_instant() -> None:
    moment = datetime(2026, 11, 28, 10, 0, tzinfo=timezone(timedelta(hours=2)))

    (decoded, _) = decode_cursor(encode_cursor([moment, 1], SCOPE), SCOPE, STATEMENT_KEY)

    assert decoded == moment


def test_a_cursor_is_url_safe_text_without_padding() -> None:
    cursor = encode_cursor(["3f1c2b4e-8f7a-4c1e-9d2b-5a6f7e8d9c0b"], SCOPE)

    assert cursor.isascii() and "=" not in cursor and "+" not in cursor and "/" not in cursor


def test_the_scope_depends_on_the_filters_but_not_on_unset_ones() -> None:
    assert query_scope("accounts", {"owner_id": "a", "status": None}) == query_scope(
        "accounts", {"owner_id": "a"}
    )
    assert query_scope("accounts", {"owner_id": "a"}) != query_scope("accounts", {"owner_id": "b"})
    assert query_scope("accounts", {}) != query_scope("statement", {})


def test_a_cursor_of_another_query_is_refused() -> None:
    cursor = encode_cursor(["x"], query_scope("accounts", {"owner_id": "a"}))

    with pytest.raises(InvalidCursorError, match="different query"):
        decode_cursor(cursor, query_scope("accounts", {"owner_id": "b"}), (str,))


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not base64!",
        "a" * (MAX_CURSOR_LENGTH + 1),
        "YQ",  # "a": not JSON
        "_w",  # b"\xff": not UTF-8
        "a",  # impossible base64 length
        forge([1, 2]),
        forge({"v": 2, "s": SCOPE, "k": ["2026-11-28T09:30:00+00:00", 1]}),
        forge({"v": 1, "s": SCOPE}),
        forge({"v": 1, "s": SCOPE, "k": ["2026-11-28T09:30:00+00:00"]}),
        forge({"v": 1, "s": SCOPE, "k": ["2026-11-28T09:30:00+00:00", "1"]}),
        forge({"v": 1, "s": SCOPE, "k": ["2026-11-28T09:30:00+00:00", True]}),
        forge({"v": 1, "s": SCOPE, "k": ["2026-11-28T09:30:00+00:00", 2**64]}),
        forge({"v": 1, "s": SCOPE, "k": ["2026-11-28T09:30:00", 1]}),
        forge({"v": 1, "s": SCOPE, "k": ["yesterday", 1]}),
        forge({"v": 1, "s": SCOPE, "k": [1732786200, 1]}),
    ],
)
def test_a_tampered_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursorError):
        decode_cursor(cursor, SCOPE, STATEMENT_KEY)


def test_a_naive_timestamp_cannot_go_into_a_cursor() -> None:
    with pytest.raises(ValueError, match="timezone"):
        encode_cursor([datetime(2026, 11, 28), 1], SCOPE)
