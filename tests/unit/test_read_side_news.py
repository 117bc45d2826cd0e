"""The read side's news on the wire: a JSON list of collections, anything else means 'look'."""

from __future__ import annotations

from infra.messaging.read_side_news import decode, encode, news_channel
from infra.settings import MongodbSettings, Settings


def test_news_names_the_collections_written() -> None:
    assert decode(encode(["statements_v1", "accounts_v1", "accounts_v1"])) == frozenset(
        {"accounts_v1", "statements_v1"}
    )


def test_news_that_cannot_be_read_means_anything_may_have_changed() -> None:
    assert decode(b"not json") is None
    assert decode(b'{"accounts_v1": 1}') is None
    assert decode(b"[1, 2]") is None


def test_each_read_store_database_has_its_own_channel() -> None:
    first = Settings(mongodb=MongodbSettings(database="one"))
    second = Settings(mongodb=MongodbSettings(database="two"))

    assert news_channel(first) != news_channel(second)
