"""Keyset filters select exactly the items after a sort key."""

from __future__ import annotations

from datetime import UTC, datetime

from query_api.views.pages import Keyset, conjunction

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


def test_a_later_page_keeps_the_query_equality_at_the_top_level() -> None:
    # FerretDB v1 passes on to PostgreSQL only top-level equalities: under `$and` the
    # owner's index would not be used and every later page would read the collection.
    assert conjunction({"owner_id": "o"}, {"_id": {"$gt": "m"}}) == {
        "owner_id": "o",
        "_id": {"$gt": "m"},
    }


def test_filters_on_the_same_field_are_still_both_applied() -> None:
    query = {"occurred_at": {"$gte": T}}
    after = {"occurred_at": {"$lt": T}}

    assert conjunction(query, after) == {"$and": [query, after]}
