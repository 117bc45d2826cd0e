"""A request carries at most one consistency token, from a header or the query."""

from __future__ import annotations

import pytest

from query_api.consistency.tokens import PositionToken, VersionToken, token_from
from query_api.errors import ConsistencyTokenError


def test_no_token_means_nothing_to_wait_for() -> None:
    assert token_from(None, None, None, None) is None


def test_a_version_comes_from_the_header_or_the_query() -> None:
    assert token_from(3, None, None, None) == VersionToken(3)
    assert token_from(None, 3, None, None) == VersionToken(3)
    assert token_from(3, 3, None, None) == VersionToken(3)


def test_a_position_comes_from_the_header_or_the_query() -> None:
    assert token_from(None, None, 40, None) == PositionToken(40)
    assert token_from(None, None, None, 40) == PositionToken(40)


def test_a_header_and_a_query_parameter_that_disagree_are_refused() -> None:
    with pytest.raises(ConsistencyTokenError, match="header says 3"):
        token_from(3, 4, None, None)


def test_a_version_and_a_position_together_are_refused() -> None:
    with pytest.raises(ConsistencyTokenError, match="not both"):
        token_from(3, None, 40, None)
