"""An analyst's projection for `ledger events replay`: net money flow per month and currency.

    ledger events replay --projection docs/examples/monthly_net_flow.py:fold \\
        --type FundsDeposited --type FundsWithdrawn

Each event arrives as the JSON shape of the history API (`event_type`, `occurred_at`,
`data`, ...). The function folds it into a plain dict and returns it; the CLI prints the
final dict (or writes it with --out). Keys look like "2026-11 EUR".
"""

from __future__ import annotations

from typing import Any

SIGN = {"FundsDeposited": 1, "FundsWithdrawn": -1}


def fold(state: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """Add one deposit or withdrawal to its month's totals; ignore every other event."""
    sign = SIGN.get(event["event_type"])
    if sign is None:
        return state
    data = event["data"]
    key = f"{event['occurred_at'][:7]} {data['currency']}"
    totals = state.setdefault(key, {"deposits": 0, "withdrawals": 0, "net": 0})
    totals["deposits" if sign > 0 else "withdrawals"] += data["amount"]
    totals["net"] += sign * data["amount"]
    return state
