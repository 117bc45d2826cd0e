"""Jaeger v2, the trace backend: OTLP over HTTP in, a query API out, traces kept in memory.

Built from the Go module proxy (docs/adr/0022-trace-backend.md). The module ships only a
placeholder UI (the real one is built with npm from a repository the proxy does not
serve): people read traces through `ledger trace` and the operators' admin endpoint,
both of which ask this query API.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import yaml

from infra.stack.component import Component
from infra.stack.go_build import GoProgram
from infra.stack.layout import Endpoint, write_if_changed

JAEGER = GoProgram("jaeger", "github.com/jaegertracing/jaeger", "v1.76.0", "./cmd/jaeger")
# The query API's own default; a URL without a port means this one.
DEFAULT_QUERY_PORT = 16686
MAX_TRACES = 100_000
HEALTH_PATH = "/api/services"


class Jaeger(Component):
    """Receives the processes' spans and answers queries about them."""

    name = "jaeger"
    start_timeout = 30.0

    @property
    def endpoint(self) -> Endpoint:
        """The query API, where `traces.query_url` points."""
        return Endpoint.from_url(self.settings.traces.query_url, DEFAULT_QUERY_PORT)

    @property
    def otlp_endpoint(self) -> Endpoint:
        """Where processes export their spans (OTLP over HTTP)."""
        return Endpoint(self.endpoint.host, self.settings.stack.jaeger_otlp_port)

    def extra_ports(self) -> list[Endpoint]:
        """The OTLP receiver, the query API's gRPC listener and the health check."""
        stack, host = self.settings.stack, self.endpoint.host
        return [
            self.otlp_endpoint,
            Endpoint(host, stack.jaeger_grpc_port),
            Endpoint(host, stack.jaeger_health_port),
        ]

    def install(self) -> bool:
        """Build Jaeger once (minutes cold; seconds with a warm Go build cache)."""
        if JAEGER.is_built(self.paths):
            return False
        JAEGER.build(self.name, self.paths, check=("version",))
        return True

    def prepare(self) -> None:
        """Write the configuration from the settings."""
        write_if_changed(self._config_path, yaml.safe_dump(self.config(), sort_keys=False))

    def command(self) -> list[str]:
        """Jaeger in the foreground, on our configuration alone."""
        return [str(JAEGER.path(self.paths)), f"--config=file:{self._config_path}"]

    def health(self) -> bool:
        """The query API lists the services it has spans of, within two seconds."""
        url = f"http://{self.endpoint}{HEALTH_PATH}"
        try:
            return httpx.get(url, timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def config(self) -> dict[str, Any]:
        """OTLP/HTTP in, a batch of at most 200 ms, the memory store, and every listener on
        the query API's host; its own metrics off (they would need another port)."""
        stack, host = self.settings.stack, self.endpoint.host
        return {
            "extensions": {
                "jaeger_storage": {
                    "backends": {"memstore": {"memory": {"max_traces": MAX_TRACES}}}
                },
                "jaeger_query": {
                    "storage": {"traces": "memstore"},
                    "http": {"endpoint": str(self.endpoint)},
                    "grpc": {"endpoint": f"{host}:{stack.jaeger_grpc_port}"},
                },
                "healthcheckv2": {
                    "use_v2": True,
                    "http": {"endpoint": f"{host}:{stack.jaeger_health_port}"},
                },
            },
            "receivers": {"otlp": {"protocols": {"http": {"endpoint": str(self.otlp_endpoint)}}}},
            "processors": {"batch": {"timeout": "200ms"}},
            "exporters": {"jaeger_storage_exporter": {"trace_storage": "memstore"}},
            "service": {
                "extensions": ["jaeger_storage", "jaeger_query", "healthcheckv2"],
                "pipelines": {
                    "traces": {
                        "receivers": ["otlp"],
                        "processors": ["batch"],
                        "exporters": ["jaeger_storage_exporter"],
                    }
                },
                "telemetry": {"metrics": {"level": "none"}, "logs": {"level": "warn"}},
            },
        }

    @property
    def _config_path(self) -> Path:
        return self.paths.home(self.name) / "config.yaml"
