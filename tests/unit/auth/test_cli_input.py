"""`ledger auth create-client` refuses bad input with one line and a non-zero exit."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from infra.cli.app import app


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--name", "x", "--scopes", "ledger:read", "--owner", "nope"], "--owner must be a UUID"),
        (["--name", "x", "--scopes", "ledger:raed"], "unknown scope(s): ledger:raed"),
        (["--name", " ", "--scopes", "ledger:read"], "client name"),
        (["--name", "x", "--scopes", ""], "at least one scope"),
        (
            [
                "--name",
                "x",
                "--scopes",
                "ledger:read ledger:all-owners",
                "--owner",
                "6f1c51c4-8f60-4c1b-9a4f-2b1f4a3f1f00",
            ],
            "cannot have ledger:all-owners",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_1(arguments: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["auth", "create-client", *arguments])

    assert result.exit_code == 1
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1
