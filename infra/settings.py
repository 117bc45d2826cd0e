"""Every setting of every Ledger process, read once from `LEDGER_*` environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr
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


class MongodbSettings(BaseModel):
    """The MongoDB-compatible read store."""

    url: SecretStr = SecretStr("mongodb://127.0.0.1:57017/")
    database: str = "ledger"


class RedisSettings(BaseModel):
    """Redis, shared state for rate limiting."""

    url: SecretStr = SecretStr("redis://127.0.0.1:56379/0")


class HttpServiceSettings(BaseModel):
    """Where one HTTP service listens."""

    host: str = "127.0.0.1"
    port: int


class QueryApiSettings(HttpServiceSettings):
    """The query API: where it listens and how reads behave."""

    port: int = 8002
    consistency_timeout_seconds: float = Field(default=2.0, ge=0, le=30)
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


class TransfersSettings(BaseModel):
    """The transfer process worker."""

    host: str = "127.0.0.1"
    port: int = 8005


class StackSettings(BaseModel):
    """The local stack (`ledger stack …`): where it installs and keeps its state."""

    dir: Path = PROJECT_ROOT / ".stack"
    kafka_controller_port: int = 59093
    ferretdb_debug_port: int = 57018


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
    command: HttpServiceSettings = HttpServiceSettings(port=8001)
    query: QueryApiSettings = QueryApiSettings()
    relay: RelaySettings = RelaySettings()
    projector: ProjectorSettings = ProjectorSettings()
    transfers: TransfersSettings = TransfersSettings()
    stack: StackSettings = StackSettings()


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
