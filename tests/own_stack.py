"""Settings for a whole Ledger of a test's own: every server and process on a free port.

Used by the supervisor test (PostgreSQL and the read store stay the shared ones) and by
the chaos suite (which stops and starts them, so it runs its own: `own_stores`).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from infra.settings import (
    PROJECT_ROOT,
    GatewaySettings,
    HttpServiceSettings,
    MongodbSettings,
    PostgresSettings,
    RateLimitSettings,
    RedisSettings,
    Settings,
    StackSettings,
    TracesSettings,
)
from tests.auth_fixtures import with_local_issuer
from tests.network import free_port


def own_stack_settings(
    base: Settings, folder: Path, *, own_stores: bool = False, **auth_overrides: Any
) -> Settings:
    """`base` moved onto free ports with the stack folder `folder`."""
    ports = {name: free_port() for name in ("command", "query", "relay", "projector", "transfers")}
    issuer_port = free_port()
    update: dict[str, Any] = {
        "kafka": base.kafka.model_copy(update={"bootstrap_servers": f"127.0.0.1:{free_port()}"}),
        "redis": RedisSettings(url=SecretStr(f"redis://127.0.0.1:{free_port()}/0")),
        # One client may send a whole workload: the per-client limit is not under test.
        "ratelimit": RateLimitSettings(commands="100000/second", queries="100000/second"),
        "stack": StackSettings(
            dir=folder,
            kafka_controller_port=free_port(),
            ferretdb_debug_port=free_port(),
            jaeger_otlp_port=free_port(),
            jaeger_grpc_port=free_port(),
            jaeger_health_port=free_port(),
            managed_servers="postgres,mongodb" if own_stores else "",
        ),
        "traces": TracesSettings(query_url=f"http://127.0.0.1:{free_port()}"),
        "command": HttpServiceSettings(port=ports["command"]),
        "query": base.query.model_copy(update={"port": ports["query"]}),
        "relay": base.relay.model_copy(update={"port": ports["relay"]}),
        "projector": base.projector.model_copy(update={"port": ports["projector"]}),
        "transfers": base.transfers.model_copy(update={"port": ports["transfers"]}),
        "gateway": GatewaySettings(
            http_port=free_port(),
            https_port=free_port(),
            command_upstreams=f"127.0.0.1:{ports['command']}",
            query_upstreams=f"127.0.0.1:{ports['query']}",
            issuer_upstreams=f"127.0.0.1:{issuer_port}",
        ),
    }
    if own_stores:
        postgres = f"postgresql://ledger:ledger@127.0.0.1:{free_port()}/ledger"
        update["postgres"] = PostgresSettings(url=SecretStr(postgres))
        update["mongodb"] = MongodbSettings(url=SecretStr(f"mongodb://127.0.0.1:{free_port()}/"))
    settings = base.model_copy(update=update)
    issuer_url = f"http://127.0.0.1:{issuer_port}"
    return with_local_issuer(settings, issuer_url, issuer_port=issuer_port, **auth_overrides)


def run_ledger(
    environment: Mapping[str, str], *arguments: str, timeout: float
) -> subprocess.CompletedProcess[str]:
    """Run `ledger …` as a user would, in a child process with `environment`."""
    return subprocess.run(
        [sys.executable, "-m", "infra.cli", *arguments],
        env=dict(environment),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
