"""FerretDB's PostgreSQL sessions plan each statement with its parameters (ADR 0010)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from infra.stack.ferretdb_sessions import ferretdb_postgresql_url, with_session_settings


def test_ferretdb_sessions_are_told_to_plan_every_statement_with_its_parameters() -> None:
    url = ferretdb_postgresql_url("postgresql://ledger:secret@127.0.0.1:55432/ledger")

    parts = urlsplit(url)
    assert parse_qs(parts.query) == {"plan_cache_mode": ["force_custom_plan"]}
    assert parts._replace(query="").geturl() == "postgresql://ledger:secret@127.0.0.1:55432/ledger"


def test_settings_already_in_the_url_are_kept_and_win() -> None:
    url = with_session_settings(
        "postgresql://h/db?sslmode=disable&plan_cache_mode=auto",
        {"plan_cache_mode": "force_custom_plan"},
    )

    assert parse_qs(urlsplit(url).query) == {
        "plan_cache_mode": ["auto"],
        "sslmode": ["disable"],
    }
