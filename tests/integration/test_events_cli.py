"""`ledger events`: exports that round-trip, resume, replay an analyst's fold, refuse bad input."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from domain.context import CommandContext
from infra.cli.app import app
from infra.eventstore.export import DATA_FIELDS, ENVELOPE_SCHEMA
from infra.eventstore.history import EventFilter, open_history
from infra.eventstore.library import open_ledger
from infra.settings import PROJECT_ROOT, Settings, settings_environment
from tests.conftest import isolated
from tests.integration import synthetic_log
from tests.unit.domain.test_schema_evolution import store_v1_deposit

pytestmark = pytest.mark.integration

EVENTS = 100_000
EXAMPLE = str(PROJECT_ROOT / "docs" / "examples" / "monthly_net_flow.py") + ":fold"


@pytest.fixture(scope="module")
def log_of_100k(stack: Settings) -> Iterator[Settings]:
    with isolated(stack) as settings:
        synthetic_log.load(settings, EVENTS, accounts=500)
        yield settings


def ledger_cli(settings: Settings, *arguments: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(arguments), env=settings_environment(settings))
    return result.exit_code, result.output


def stored_events(settings: Settings) -> list[dict[str, object]]:
    async def read() -> list[dict[str, object]]:
        async with open_history(settings) as history:
            return [e.to_json() async for e in history.stream(EventFilter(), page_size=10_000)]

    return asyncio.run(read())


def test_a_jsonl_export_holds_every_event_of_the_store(
    log_of_100k: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "events.jsonl"

    code, output = ledger_cli(log_of_100k, "events", "export", "--out", str(out))

    exported = [json.loads(line) for line in out.read_text().splitlines()]
    assert code == 0, output
    assert exported == stored_events(log_of_100k)


def test_a_parquet_export_reads_back_with_pyarrow_identical(
    log_of_100k: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "events.parquet"

    code, output = ledger_cli(
        log_of_100k, "events", "export", "--format", "parquet", "--out", str(out)
    )

    assert code == 0, output
    assert [envelope_of(row) for row in pq.read_table(out).to_pylist()] == stored_events(
        log_of_100k
    )


@pytest.fixture(scope="module")
def mixed_log(stack: Settings) -> Iterator[Settings]:
    """Every kind of event the mix records, and one deposit stored in its version 1 shape."""
    with isolated(stack) as settings:
        synthetic_log.load(settings, 3_000, accounts=40, mixed=True)
        ledger = open_ledger(settings)
        account_id = ledger.open_account(
            uuid4(), "EUR", context=CommandContext(correlation_id=uuid4())
        ).aggregate_id
        store_v1_deposit(ledger, account_id, version=2, amount=70)
        ledger.close()
        yield settings


def test_a_parquet_export_has_a_typed_column_per_event_field(
    mixed_log: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "events.parquet"

    code, output = ledger_cli(
        mixed_log, "events", "export", "--format", "parquet", "--out", str(out), "--workers", "2"
    )

    table = pq.read_table(out)
    assert code == 0, output
    assert {name: str(table.schema.field(name).type) for name in ("amount", "occurred_at")} == {
        "amount": "int64",
        "occurred_at": "timestamp[us, tz=UTC]",
    }
    assert {str(table.schema.field(name).type) for name in ("currency", "debit_reversed")} == {
        "string",
        "bool",
    }
    stored = stored_events(mixed_log)
    assert [envelope_of(row) for row in table.to_pylist()] == stored
    assert stored[-1]["data"]["channel"] == "unknown"  # upcast, as the mapper reads it


def test_a_single_worker_export_equals_a_parallel_one(mixed_log: Settings, tmp_path: Path) -> None:
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"

    ledger_cli(mixed_log, "events", "export", "--out", str(one), "--workers", "1")
    ledger_cli(
        mixed_log, "events", "export", "--out", str(two), "--workers", "2", "--page-size", "7"
    )

    exported = [json.loads(line) for line in one.read_text().splitlines()]
    assert exported == stored_events(mixed_log)
    assert two.read_text() == one.read_text()


def envelope_of(row: dict[str, Any]) -> dict[str, Any]:
    """A typed Parquet row back in the envelope's JSON shape (a field left null is absent)."""
    data = {name: row[name] for name in DATA_FIELDS if row[name] is not None}
    return {name: row[name] for name in ENVELOPE_SCHEMA.names} | {
        "occurred_at": row["occurred_at"].isoformat(),
        "data": data,
    }


def test_an_export_resumed_after_a_position_completes_the_file(
    log_of_100k: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "events.csv"
    ledger_cli(
        log_of_100k,
        "events",
        "export",
        "--format",
        "csv",
        "--out",
        str(out),
        "--type",
        "AccountOpened",
    )

    code, output = ledger_cli(
        log_of_100k,
        "events",
        "export",
        "--format",
        "csv",
        "--out",
        str(out),
        "--append",
        "--after",
        "250",
    )

    lines = out.read_text().splitlines()
    assert code == 0, output
    assert lines[0].startswith("position,")
    assert len(lines) == 1 + 500 + (EVENTS - 250)


def test_a_time_window_export_holds_only_that_window(log_of_100k: Settings, tmp_path: Path) -> None:
    out = tmp_path / "window.jsonl"

    code, _ = ledger_cli(
        log_of_100k,
        "events",
        "export",
        "--out",
        str(out),
        "--from",
        "2026-01-01T00:01:00+00:00",
        "--to",
        "2026-01-01T00:02:00+00:00",
    )

    positions = [json.loads(line)["position"] for line in out.read_text().splitlines()]
    assert code == 0
    assert positions == list(range(6_001, 12_001))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--type", "MoneyPrinted"], "unknown event type"),
        (["--from", "2026-01-01T00:00:00"], "timezone"),
        (["--from", "2026-01-02T00:00:00Z", "--to", "2026-01-01T00:00:00Z"], "earlier"),
        (["--format", "parquet", "--append"], "cannot be appended"),
    ],
)
def test_bad_export_input_is_one_line_and_a_non_zero_exit(
    log_of_100k: Settings, tmp_path: Path, arguments: list[str], message: str
) -> None:
    code, output = ledger_cli(
        log_of_100k, "events", "export", "--out", str(tmp_path / "x"), *arguments
    )

    assert code == 2
    assert message in output
    assert output.count("\n") <= 2


def test_replaying_the_example_gives_the_monthly_net_flow(isolated_settings: Settings) -> None:
    ledger = open_ledger(isolated_settings)
    context = CommandContext(correlation_id=uuid4())
    euros = ledger.open_account(uuid4(), "EUR", context=context).aggregate_id
    dollars = ledger.open_account(uuid4(), "USD", context=context).aggregate_id
    for amount in (500, 250):
        ledger.deposit(euros, amount, "in", context=context)
    ledger.withdraw(euros, 100, "out", context=context)
    ledger.deposit(dollars, 40, "in", context=context)
    ledger.close()
    month = time.strftime("%Y-%m", time.gmtime())

    code, output = ledger_cli(isolated_settings, "events", "replay", "--projection", EXAMPLE)

    assert code == 0, output
    assert json.loads(output) == {
        f"{month} EUR": {"deposits": 750, "withdrawals": 100, "net": 650},
        f"{month} USD": {"deposits": 40, "withdrawals": 0, "net": 40},
    }


def test_a_projection_that_cannot_be_loaded_is_refused(isolated_settings: Settings) -> None:
    code, output = ledger_cli(
        isolated_settings, "events", "replay", "--projection", "no_such_module:fold"
    )

    assert code == 2
    assert "cannot import" in output


def test_show_lists_an_aggregates_events_and_refuses_an_unknown_one(
    isolated_settings: Settings,
) -> None:
    ledger = open_ledger(isolated_settings)
    account = ledger.open_account(uuid4(), "EUR", context=CommandContext(correlation_id=uuid4()))
    ledger.close()

    shown = ledger_cli(isolated_settings, "events", "show", str(account.aggregate_id))
    unknown = ledger_cli(isolated_settings, "events", "show", str(uuid4()))

    assert shown[0] == 0 and "AccountOpened" in shown[1]
    assert unknown[0] == 2


def test_tail_prints_events_recorded_after_it_started(isolated_settings: Settings) -> None:
    environment = {**os.environ, **settings_environment(isolated_settings), "COLUMNS": "200"}
    follower = subprocess.Popen(
        [sys.executable, "-m", "infra.cli", "events", "tail"],
        cwd=PROJECT_ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # The follower says when it listens; only then may we append (it may take seconds
        # to start on a busy machine). readline returns "" if it exits instead.
        assert follower.stderr is not None
        said = follower.stderr.readline()
        while said and "following after position" not in said:
            said = follower.stderr.readline()
        assert "following after position" in said, "the follower exited before it listened"
        ledger = open_ledger(isolated_settings)
        opened = ledger.open_account(uuid4(), "EUR", context=CommandContext(correlation_id=uuid4()))
        ledger.close()
        assert follower.stdout is not None
        line = follower.stdout.readline()
    finally:
        follower.terminate()
        follower.wait(timeout=10)
    assert "AccountOpened" in line
    assert str(UUID(str(opened.aggregate_id))) in line


def test_the_duckdb_example_charts_the_daily_net_flow_of_an_export(
    stack: Settings, tmp_path: Path
) -> None:
    with isolated(stack) as settings:
        synthetic_log.load(settings, 400, accounts=10, mixed=True, step=timedelta(hours=1))
        export = tmp_path / "money.parquet"
        ledger_cli(settings, "events", "export", "--format", "parquet", "--out", str(export))
        expected: dict[tuple[str, str], list[int]] = {}
        for event in stored_events(settings):
            sign = {"FundsDeposited": 1, "FundsWithdrawn": -1}.get(str(event["event_type"]))
            if sign:
                data: dict[str, Any] = event["data"]  # type: ignore[assignment]
                key = (str(event["occurred_at"])[:10], data["currency"])
                totals = expected.setdefault(key, [0, 0])
                totals[0 if sign > 0 else 1] += data["amount"]

    png = tmp_path / "flow.png"
    script = PROJECT_ROOT / "docs" / "examples" / "daily_net_flow.py"
    result = subprocess.run(
        [sys.executable, str(script), str(export), "--png", str(png)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "day,currency,deposits,withdrawals,net"
    assert lines[1:] == [
        f"{day},{currency},{paid_in},{paid_out},{paid_in - paid_out}"
        for (day, currency), (paid_in, paid_out) in sorted(expected.items())
    ]
    assert len(lines) - 1 >= 10  # the log spans more than ten days
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_duckdb_example_refuses_a_file_that_is_not_an_export(tmp_path: Path) -> None:
    script = PROJECT_ROOT / "docs" / "examples" / "daily_net_flow.py"
    bad = tmp_path / "notes.parquet"
    bad.write_text("not parquet")

    result = subprocess.run(
        [sys.executable, str(script), str(bad)], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 1
    assert result.stderr.startswith("error: cannot read")
    assert result.stderr.count("\n") == 1
