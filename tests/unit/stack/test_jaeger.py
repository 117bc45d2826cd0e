"""The stack's trace backend: where it listens, and that a stack of a test's own moves it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from infra.settings import Settings, StackSettings, TracesSettings
from infra.stack.jaeger import Jaeger
from infra.stack.layout import Endpoint, StackPaths
from infra.stack.lifecycle import stack_components
from tests.own_stack import own_stack_settings


def _jaeger(folder: Path, **traces: Any) -> Jaeger:
    settings = Settings(stack=StackSettings(dir=folder), traces=TracesSettings(**traces))
    return Jaeger(settings, StackPaths.create(folder))


def _listeners(config: dict[str, Any]) -> list[str]:
    """Every `endpoint` anywhere in the configuration."""
    found: list[str] = []
    for key, value in config.items():
        if isinstance(value, dict):
            found.extend(_listeners(value))
        elif key == "endpoint":
            found.append(value)
    return found


def test_every_listener_is_on_loopback_at_the_configured_ports(tmp_path: Path) -> None:
    jaeger = _jaeger(tmp_path)

    assert sorted(_listeners(jaeger.config())) == [
        "127.0.0.1:13133",
        "127.0.0.1:16685",
        "127.0.0.1:16686",
        "127.0.0.1:4318",
    ]


def test_the_query_api_listens_where_the_trace_readers_look(tmp_path: Path) -> None:
    jaeger = _jaeger(tmp_path, query_url="http://127.0.0.1:41686")

    assert jaeger.endpoint == Endpoint("127.0.0.1", 41686)
    assert jaeger.config()["extensions"]["jaeger_query"]["http"]["endpoint"] == "127.0.0.1:41686"


def test_only_the_otlp_http_receiver_is_configured(tmp_path: Path) -> None:
    receivers = _jaeger(tmp_path).config()["receivers"]

    assert list(receivers) == ["otlp"]
    assert list(receivers["otlp"]["protocols"]) == ["http"]


def test_the_stack_runs_jaeger_after_redis_and_before_the_gateway(tmp_path: Path) -> None:
    names = [c.name for c in stack_components(Settings(stack=StackSettings(dir=tmp_path)))]

    assert names.index("redis") < names.index("jaeger") < names.index("nginx")


def test_a_stack_of_a_tests_own_gives_jaeger_ports_of_its_own(tmp_path: Path) -> None:
    default = _jaeger(tmp_path)
    own_settings = own_stack_settings(Settings(), tmp_path / "own")
    own = Jaeger(own_settings, StackPaths.create(own_settings.stack.dir))

    ports = {endpoint.port for endpoint in (own.endpoint, *own.extra_ports())}
    default_ports = {endpoint.port for endpoint in (default.endpoint, *default.extra_ports())}

    assert len(ports) == 4
    assert not ports & default_ports
