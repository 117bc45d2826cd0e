"""`python -m tests.benchmarks.visibility RATE [SECONDS]`: where command → visible goes.

Every process running, through the gateway with TLS and a token, open loop at RATE
deposits/s over 200 accounts; each deposit is read back with `X-Min-Version` until the
query API answers fresh. Besides the end-to-end figure, the chain is cut into stages by
timestamps the system already produces, without changing its behaviour:

- the event's `occurred_at` (the command API, when it built the event);
- the Kafka record's timestamp (the relay, when it handed the record to its producer);
- this probe's own consumer of the events topic (when a consumer could first see it);
- the fresh read coming back (the projector fetched, wrote, the watcher looked, HTTP).

It also reads the projector's batch durations and the query API's watcher looks from
their `/metrics`. All clocks are this machine's. Prints one JSON document.
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
from aiokafka import AIOKafkaConsumer

from infra.messaging.cloudevents import from_record
from infra.settings import Settings
from tests.conftest import isolated
from tests.e2e.conftest import RunningSystem, running

ACCOUNTS = 200
WARM_UP_SECONDS = 3.0


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    """p50 / p95 / p99 in ms of samples in seconds."""
    if len(samples) < 2:
        return {"n": len(samples)}
    cuts = statistics.quantiles([s * 1000 for s in samples], n=100)
    return {"n": len(samples), "p50": cuts[49], "p95": cuts[94], "p99": cuts[98]}


class KafkaTimes:
    """When each event (by position) was stamped by the relay and first seen by a consumer."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self.stamped: dict[int, float] = {}
        self.seen: dict[int, float] = {}
        self.occurred: dict[int, float] = {}

    async def follow(self, ready: asyncio.Event) -> None:
        consumer = AIOKafkaConsumer(
            self._settings.kafka.topic,
            bootstrap_servers=self._settings.kafka.bootstrap_servers,
            group_id=None,
            auto_offset_reset="latest",
            fetch_max_wait_ms=500,
        )
        await consumer.start()
        try:
            while not consumer.assignment():
                await asyncio.sleep(0.05)
            await consumer.seek_to_end()
            ready.set()
            while True:
                batches = await consumer.getmany(timeout_ms=500)
                now = time.time()
                for records in batches.values():
                    for record in records:
                        event = from_record(record.value, list(record.headers))
                        self.seen[event.position] = now
                        self.stamped[event.position] = record.timestamp / 1000
                        self.occurred[event.position] = _epoch(event.occurred_at)
        finally:
            await consumer.stop()


def _epoch(moment: datetime) -> float:
    return moment.timestamp()


async def metrics(url: str, token: str | None) -> str:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(timeout=10) as client:
        return (await client.get(f"{url}/metrics", headers=headers)).text


def metric_sum(text: str, name: str, labels: str = "") -> float:
    pattern = re.compile(rf"^{re.escape(name)}(\{{[^}}]*\}})?\s+([0-9.e+-]+)$", re.MULTILINE)
    return sum(float(m.group(2)) for m in pattern.finditer(text) if labels in (m.group(1) or ""))


async def load(system: RunningSystem, rate: int, seconds: float) -> dict[str, Any]:
    settings = system.settings
    kafka = KafkaTimes(settings)
    ready = asyncio.Event()
    follower = asyncio.create_task(kafka.follow(ready))
    limits = httpx.Limits(max_connections=400, max_keepalive_connections=400)
    headers = {"Authorization": f"Bearer {system.service_token}"}
    client = httpx.AsyncClient(
        base_url=system.gateway_url, verify=system.tls(), headers=headers, limits=limits, timeout=30
    )
    results: list[dict[str, float]] = []
    stale = 0
    try:
        account_ids = []
        for _ in range(ACCOUNTS):
            opened = await client.post(
                "/v1/accounts", json={"owner_id": str(uuid4()), "currency": "EUR"}
            )
            account_ids.append(opened.json()["aggregate_id"])
        await asyncio.wait_for(ready.wait(), 30)
        projector_url = f"http://{settings.projector.host}:{settings.projector.port}"
        query_url = f"http://127.0.0.1:{settings.query.port}"

        async def one(index: int, measured: bool) -> None:
            nonlocal stale
            account = account_ids[index % len(account_ids)]
            sent = time.time()
            answer = await client.post(
                f"/v1/accounts/{account}/deposits", json={"amount": 1, "reference": "probe"}
            )
            accepted = time.time()
            body = answer.json()
            read = await client.get(
                f"/v1/accounts/{account}", headers={"X-Min-Version": str(body["version"])}
            )
            visible = time.time()
            if not measured:
                return
            if read.headers.get("x-consistency") != "fresh":
                stale += 1
                return
            results.append(
                {
                    "sent": sent,
                    "accepted": accepted,
                    "visible": visible,
                    "position": body["position"],
                }
            )

        async def run_for(duration: float, measured: bool) -> list[asyncio.Task[None]]:
            tasks = []
            started = time.perf_counter()
            for index in range(int(rate * duration)):
                delay = started + index / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(index, measured)))
            return tasks

        await asyncio.gather(*await run_for(WARM_UP_SECONDS, False))
        before = [
            await metrics(projector_url, None),
            await metrics(query_url, system.service_token),
        ]
        started = time.time()
        await asyncio.gather(*await run_for(seconds, True))
        elapsed = time.time() - started
        after = [await metrics(projector_url, None), await metrics(query_url, system.service_token)]
    finally:
        follower.cancel()
        await client.aclose()
    return summary(rate, elapsed, results, stale, kafka, before, after)


def summary(
    rate: int,
    elapsed: float,
    results: list[dict[str, float]],
    stale: int,
    kafka: KafkaTimes,
    before: list[str],
    after: list[str],
) -> dict[str, Any]:
    staged = [r for r in results if r["position"] in kafka.seen]
    batch = "ledger_projector_batch_duration_seconds"
    batches = metric_sum(after[0], f"{batch}_count") - metric_sum(before[0], f"{batch}_count")
    batch_seconds = metric_sum(after[0], f"{batch}_sum") - metric_sum(before[0], f"{batch}_sum")
    looks = {
        cause: metric_sum(after[1], "ledger_query_consistency_looks_total", f'cause="{cause}"')
        - metric_sum(before[1], "ledger_query_consistency_looks_total", f'cause="{cause}"')
        for cause in ("new waiter", "news", "fallback")
    }
    return {
        "rate": rate,
        "achieved_per_second": len(results) / elapsed if elapsed else 0,
        "fresh": len(results),
        "stale": stale,
        "command_ms": percentiles([r["accepted"] - r["sent"] for r in results]),
        "visible_after_accepted_ms": percentiles([r["visible"] - r["accepted"] for r in results]),
        "stages_ms": {
            "sent → event occurred": percentiles(
                [kafka.occurred[r["position"]] - r["sent"] for r in staged]
            ),
            "event occurred → relay stamped record": percentiles(
                [kafka.stamped[r["position"]] - kafka.occurred[r["position"]] for r in staged]
            ),
            "relay stamped → consumer saw it": percentiles(
                [kafka.seen[r["position"]] - kafka.stamped[r["position"]] for r in staged]
            ),
            "consumer saw it → fresh read back": percentiles(
                [r["visible"] - kafka.seen[r["position"]] for r in staged]
            ),
        },
        "projector_batches": batches,
        "projector_batch_mean_ms": 1000 * batch_seconds / batches if batches else None,
        "watcher_looks": looks,
    }


def with_overrides(settings: Settings, overrides: Sequence[str]) -> Settings:
    """`section.field=value` arguments (e.g. `kafka.linger_ms=5`) applied to `settings`."""
    for override in overrides:
        path, _, value = override.partition("=")
        section_name, _, field = path.partition(".")
        section = getattr(settings, section_name)
        parsed = type(section).model_validate({**section.model_dump(), field: value})
        settings = settings.model_copy(update={section_name: parsed})
    return settings


def main() -> int:
    """Measure at the rate given, print JSON."""
    rate = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 20.0
    overrides = sys.argv[3:]
    with (
        isolated(Settings()) as base,
        running(with_overrides(base, overrides), Path(tempfile.mkdtemp())) as system,
    ):
        result = asyncio.run(load(system, rate, seconds))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
