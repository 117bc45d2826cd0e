"""An analyst's query over a Parquet export: net money flow per day and currency, as a chart.

    ledger events export --format parquet --out events.parquet \\
        --type FundsDeposited --type FundsWithdrawn
    python docs/examples/daily_net_flow.py events.parquet --png net_flow.png

The export's columns are typed (`amount` int64, `currency` text, `occurred_at` a UTC
timestamp, ...), so DuckDB reads them as they are: no JSON to parse. Net flow is money
paid into the ledger less money paid out; transfers move money inside it and are left
out. Prints one CSV line per day and currency (`day,currency,deposits,withdrawals,net`,
amounts in minor units) and draws one line per currency into the PNG.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path

import duckdb
import matplotlib

matplotlib.use("Agg")  # files only: no display needed
import matplotlib.pyplot as plt

QUERY = """
SELECT
    CAST(occurred_at AT TIME ZONE 'UTC' AS DATE) AS day,
    currency,
    sum(amount) FILTER (WHERE event_type = 'FundsDeposited') AS deposits,
    sum(amount) FILTER (WHERE event_type = 'FundsWithdrawn') AS withdrawals
FROM read_parquet($path)
WHERE event_type IN ('FundsDeposited', 'FundsWithdrawn')
GROUP BY ALL
ORDER BY day, currency
"""

Row = tuple[date, str, int, int, int]


def daily_net_flow(export: Path) -> list[Row]:
    """(day, currency, deposits, withdrawals, net) for every day with money in or out."""
    rows = duckdb.execute(QUERY, {"path": str(export)}).fetchall()
    return [
        (
            day,
            currency,
            int(paid_in or 0),
            int(paid_out or 0),
            int(paid_in or 0) - int(paid_out or 0),
        )
        for day, currency, paid_in, paid_out in rows
    ]


def draw(rows: list[Row], png: Path) -> None:
    """One line of net flow per currency, days along the bottom."""
    figure, axes = plt.subplots(figsize=(9, 4))
    for currency in sorted({row[1] for row in rows}):
        days = [row[0] for row in rows if row[1] == currency]
        axes.plot(days, [row[4] / 100 for row in rows if row[1] == currency], label=currency)
    axes.axhline(0, color="grey", linewidth=0.5)
    axes.set_title("Net flow per day (deposits - withdrawals)")
    axes.set_ylabel("major units")
    axes.legend()
    figure.autofmt_xdate()
    figure.savefig(png, dpi=100, bbox_inches="tight")
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", type=Path, help="a Parquet file from `ledger events export`")
    parser.add_argument("--png", type=Path, default=Path("net_flow.png"), help="chart to write")
    arguments = parser.parse_args(argv)
    if not arguments.export.is_file():
        print(f"error: {arguments.export} is not a file", file=sys.stderr)
        return 2
    try:
        rows = daily_net_flow(arguments.export)
    except duckdb.Error as error:
        print(
            f"error: cannot read {arguments.export}: {str(error).splitlines()[0]}", file=sys.stderr
        )
        return 1
    print("day,currency,deposits,withdrawals,net")
    for day, currency, paid_in, paid_out, net in rows:
        print(f"{day.isoformat()},{currency},{paid_in},{paid_out},{net}")
    draw(rows, arguments.png)
    print(f"chart: {arguments.png}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
