"""Prometheus metrics of the query API beyond requests (those are in infra.runtime.probes)."""

from __future__ import annotations

from prometheus_client import Histogram

CONSISTENCY_WAIT_SECONDS = Histogram(
    "ledger_query_consistency_wait_seconds",
    "Time queries spent waiting for a view to catch up with a token, by outcome",
    ["outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0),
)
