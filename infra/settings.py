"""Every setting of every Ledger process, read once from `LEDGER_*` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

import limits
from pydantic import BaseModel, Field, SecretStr, TypeAdapter, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class PostgresSettings(BaseModel):
    """The event store's PostgreSQL server."""

    url: SecretStr = SecretStr("postgresql://ledger:ledger@127.0.0.1:55432/ledger")
    pool_size: int = Field(default=10, ge=1, le=200)
    group_commit: bool = True
    idempotency_ttl_seconds: int = Field(default=86_400, ge=1)


class KafkaSettings(BaseModel):
    """The broker the relay publishes to and the projectors consume from."""

    bootstrap_servers: str = "127.0.0.1:59092"
    topic: str = "ledger.events"
    partitions: int = Field(default=6, ge=1)
    # Latency settings, chosen by measurement (docs/adr/0011-read-side-news.md): a producer
    # that sends at once (it still batches while a request is in flight), and a fetch the
    # broker answers as soon as one record is there.
    linger_ms: int = Field(default=0, ge=0, le=1_000)
    fetch_max_wait_ms: int = Field(default=500, ge=0, le=10_000)


class MongodbSettings(BaseModel):
    """The MongoDB-compatible read store."""

    url: SecretStr = SecretStr("mongodb://127.0.0.1:57017/")
    database: str = "ledger"
    # Every call to the read store fails after this long without an answer (see
    # `infra.readstore.client`); rebuilds and index builds get the longer deadline.
    deadline_seconds: float = Field(default=10.0, gt=0)
    maintenance_deadline_seconds: float = Field(default=600.0, gt=0)


class RedisSettings(BaseModel):
    """Redis, shared state for rate limiting."""

    url: SecretStr = SecretStr("redis://127.0.0.1:56379/0")


RouteClass = Literal["commands", "queries", "history", "admin"]
ROUTE_CLASSES: tuple[RouteClass, ...] = get_args(RouteClass)
_OVERRIDES = TypeAdapter(dict[str, dict[RouteClass, str]])


class RateLimitSettings(BaseModel):
    """Per-client request limits by route class, shared by every API replica through Redis."""

    enabled: bool = True
    commands: str = "100/second"
    queries: str = "300/second"
    history: str = "30/second"
    admin: str = "10/second"
    # JSON text, not a dict: every setting must survive `settings_environment`'s str().
    client_overrides: str = "{}"
    fail_open: str = "queries,history"
    # Above any event-loop lag a loaded replica shows (0.5 s was not): a slow answer from a
    # healthy Redis must not count as Redis down, which fails commands closed (ADR 0013).
    redis_timeout_seconds: float = Field(default=2.0, gt=0, le=5)

    @field_validator("commands", "queries", "history", "admin")
    @classmethod
    def _parses_as_limits(cls, value: str) -> str:
        limits.parse_many(value)
        return value

    @field_validator("client_overrides")
    @classmethod
    def _parses_as_overrides(cls, value: str) -> str:
        for per_class in _OVERRIDES.validate_json(value).values():
            for limit in per_class.values():
                limits.parse_many(limit)
        return value

    @field_validator("fail_open")
    @classmethod
    def _names_route_classes(cls, value: str) -> str:
        unknown = set(split_list(value)) - set(ROUTE_CLASSES)
        if unknown:
            raise ValueError(f"unknown route classes {sorted(unknown)}; known: {ROUTE_CLASSES}")
        return value

    def overrides(self) -> dict[str, dict[RouteClass, str]]:
        """Per-client limits that replace the class defaults, by client id then route class."""
        return _OVERRIDES.validate_json(self.client_overrides)

    def fail_open_classes(self) -> frozenset[RouteClass]:
        """Route classes whose requests pass unchecked while Redis is unreachable."""
        return frozenset(name for name in ROUTE_CLASSES if name in split_list(self.fail_open))


class GatewaySettings(BaseModel):
    """The nginx gateway in front of both APIs and the token issuer."""

    host: str = "127.0.0.1"
    http_port: int = 8080
    https_port: int = 8443
    # Comma-separated `host:port` replicas, load-balanced by the gateway.
    command_upstreams: str = "127.0.0.1:8001"
    query_upstreams: str = "127.0.0.1:8002"
    issuer_upstreams: str = "127.0.0.1:8006"
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    connect_timeout_seconds: float = Field(default=2.0, gt=0)
    read_timeout_seconds: float = Field(default=10.0, gt=0)

    @field_validator("command_upstreams", "query_upstreams", "issuer_upstreams")
    @classmethod
    def _lists_host_ports(cls, value: str) -> str:
        servers = split_list(value)
        if not servers or any(not server.rpartition(":")[2].isdigit() for server in servers):
            raise ValueError(f"expected comma-separated host:port entries, got {value!r}")
        return value


def split_list(text: str) -> list[str]:
    """The non-empty items of a comma-separated setting."""
    return [part.strip() for part in text.split(",") if part.strip()]


class HttpServiceSettings(BaseModel):
    """Where one HTTP service listens."""

    host: str = "127.0.0.1"
    port: int


class QueryApiSettings(HttpServiceSettings):
    """The query API: where it listens and how reads behave."""

    port: int = 8002
    consistency_timeout_seconds: float = Field(default=2.0, ge=0, le=30)
    # Waiting reads are woken by the projector's news (docs/adr/0011-read-side-news.md);
    # this slow look is only the safety net for news lost or never sent.
    consistency_fallback_seconds: float = Field(default=0.1, gt=0, le=10)
    default_page_size: int = Field(default=50, ge=1)
    max_page_size: int = Field(default=500, ge=1)


class RelaySettings(BaseModel):
    """The outbox publisher."""

    host: str = "127.0.0.1"
    port: int = 8004
    batch_size: int = Field(default=500, ge=1, le=10_000)
    poll_interval_seconds: float = Field(default=1.0, gt=0)
    source: str = "urn:ledger:event-store"


class ProjectorSettings(BaseModel):
    """The projector consumer group."""

    host: str = "127.0.0.1"
    port: int = 8003
    group_id: str = "ledger-projector"
    max_batch: int = Field(default=1_000, ge=1)
    max_attempts: int = Field(default=3, ge=1, le=20)
    retry_backoff_seconds: float = Field(default=0.2, ge=0)
    commit_interval_seconds: float = Field(default=1.0, ge=0, le=60)
    """How often a worker commits the offsets it has applied (0: after every batch)."""


class TransfersSettings(BaseModel):
    """The transfer process worker."""

    host: str = "127.0.0.1"
    port: int = 8005


class StackSettings(BaseModel):
    """The local stack (`ledger stack …`): where it installs and keeps its state."""

    dir: Path = PROJECT_ROOT / ".stack"
    kafka_controller_port: int = 59093
    ferretdb_debug_port: int = 57018
    # Jaeger's query API listens where `traces.query_url` points; its other listeners here.
    # The OTLP port is the standard one, where an OpenTelemetry SDK exports by default.
    jaeger_otlp_port: int = 4318
    jaeger_grpc_port: int = 16685
    jaeger_health_port: int = 13133
    # Comma-separated URL-named servers (postgres, mongodb) the stack runs itself even
    # though their URL variable is set: a child of `ledger up` inherits every variable.
    managed_servers: str = ""


class TracesSettings(BaseModel):
    """Where traces are read back from: the trace backend's query API (Jaeger's)."""

    query_url: str = "http://127.0.0.1:16686"
    timeout_seconds: float = Field(default=5.0, gt=0, le=60)


class ApiSettings(BaseModel):
    """What both HTTP APIs share at their edge."""

    cors_allowed_origins: str = ""
    """Comma-separated origins allowed to call the APIs from a browser; empty: none (closed)."""

    def cors_origins(self) -> list[str]:
        """The allowed origins as a list."""
        return [o.strip() for o in self.cors_allowed_origins.split(",") if o.strip()]


class AuthSettings(BaseModel):
    """Bearer-token verification by the APIs, and the local issuer (`infra.security.issuer`)."""

    issuer: str = ""
    jwks_url: str = ""
    audience: str = "ledger-api"
    leeway_seconds: int = Field(default=30, ge=0, le=300)
    jwks_cache_seconds: int = Field(default=300, ge=0)
    jwks_min_refresh_seconds: float = Field(default=30.0, ge=0)
    disabled_for_development: bool = False
    token_url: str = ""
    issuer_host: str = "127.0.0.1"
    issuer_port: int = 8006
    token_lifetime_seconds: int = Field(default=900, ge=1, le=86_400)
    key_grace_seconds: int = Field(default=1_800, ge=0)
    key_encryption_key: SecretStr = SecretStr("")

    def local_issuer_url(self) -> str:
        """The `iss` the local issuer stamps: `issuer` when set, else its own address."""
        return self.issuer or f"http://{self.issuer_host}:{self.issuer_port}"

    def advertised_token_url(self) -> str:
        """The token endpoint the APIs' OpenAPI names: `token_url`, else the local issuer's."""
        return self.token_url or f"{self.local_issuer_url().rstrip('/')}/oauth/token"


class Settings(BaseSettings):
    """All settings; `LEDGER_POSTGRES_URL` sets `postgres.url`, and so on."""

    model_config = SettingsConfigDict(
        env_prefix="LEDGER_",
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="ignore",
    )

    postgres: PostgresSettings = PostgresSettings()
    kafka: KafkaSettings = KafkaSettings()
    mongodb: MongodbSettings = MongodbSettings()
    redis: RedisSettings = RedisSettings()
    api: ApiSettings = ApiSettings()
    command: HttpServiceSettings = HttpServiceSettings(port=8001)
    query: QueryApiSettings = QueryApiSettings()
    relay: RelaySettings = RelaySettings()
    projector: ProjectorSettings = ProjectorSettings()
    transfers: TransfersSettings = TransfersSettings()
    ratelimit: RateLimitSettings = RateLimitSettings()
    gateway: GatewaySettings = GatewaySettings()
    stack: StackSettings = StackSettings()
    traces: TracesSettings = TracesSettings()
    auth: AuthSettings = AuthSettings()


def settings_environment(settings: Settings) -> dict[str, str]:
    """The `LEDGER_*` variables that make a child process build these same settings."""
    environment: dict[str, str] = {}
    for section_name in type(settings).model_fields:
        section = getattr(settings, section_name)
        for field_name in type(section).model_fields:
            value = getattr(section, field_name)
            text = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
            environment[f"LEDGER_{section_name}_{field_name}".upper()] = text
    return environment
