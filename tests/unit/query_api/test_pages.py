"""Keyset filters select exactly the items after a sort key."""

from __future__ import annotations

from datetime import UTC, datetime

from query_api.views.pages import Keyset

T = datetime(2026, 11, 28, tzinfo=UTC)


def test_a_single_field_key_continues_strictly_after_the_last_value() -> None:
    order = Keyset(("_id",), (str,))

    assert order.after(["m"]) == {"_id": {"$gt": "m"}}
    assert order.sort() == [("_id", 1)]


def test_a_compound_descending_key_breaks_ties_on_its_second_field() -> None:
    order = Keyset(("occurred_at", "version"), (datetime, int), descending=True)

    assert order.after([T, 7]) == {
        "$or": [{"occurred_at": {"$lt": T}}, {"occurred_at": T, "version": {"$lt": 7}}]
    }
    assert order.sort() == [("occurred_at", -1), ("version", -1)]


def test_the_key_of_a_document_follows_the_order_fields() -> None:
    order = Keyset(("occurred_at", "version"), (datetime, int), descending=True)

    assert order.key_of({"version": 3, "occurred_at": T, "amount": 1}) == (T, 3)
