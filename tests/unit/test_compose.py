"""compose.yaml cannot run here (no Docker engine), so check it describes the same system."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from infra.settings import Settings, settings_environment
from infra.stack.gateway.config import TEMPLATE, placeholders
from infra.stack.runner import services as stack_services

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yaml"
SERVERS = {"postgres", "kafka", "mongodb", "redis", "jaeger", "nginx"}
PROCESSES = {service.name for service in stack_services(Settings())}
MODULES = {service.name: service.module for service in stack_services(Settings())}
SCRIPTS: dict[str, str] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    document = yaml.safe_load(COMPOSE.read_text())
    result: dict[str, Any] = document["services"]
    return result


def test_every_server_and_process_of_the_native_stack_is_a_service(
    services: dict[str, Any],
) -> None:
    assert set(services) >= SERVERS | PROCESSES


@pytest.mark.parametrize("name", sorted(SERVERS | PROCESSES))
def test_every_long_running_service_has_a_health_check(services: dict[str, Any], name: str) -> None:
    assert services[name]["healthcheck"]["test"]


@pytest.mark.parametrize("name", sorted(PROCESSES))
def test_ledger_processes_use_only_setting_names_the_code_reads(
    services: dict[str, Any], name: str
) -> None:
    known = set(settings_environment(Settings()))

    names = set(services[name]["environment"])

    # OpenTelemetry's standard variables are read by its SDK (infra.runtime.tracing).
    assert {name for name in names if not name.startswith("OTEL_")} <= known
    assert {"LEDGER_POSTGRES_URL", "LEDGER_KAFKA_BOOTSTRAP_SERVERS", "LEDGER_MONGODB_URL"} <= names


@pytest.mark.parametrize("name", sorted(SERVERS))
def test_servers_use_official_images(services: dict[str, Any], name: str) -> None:
    image = services[name]["image"]

    assert image.split(":")[0] in {
        "postgres",
        "apache/kafka",
        "mongo",
        "redis",
        "jaegertracing/jaeger",
        "nginx",
    }


def test_the_gateway_fills_in_every_placeholder_of_the_stacks_template(
    services: dict[str, Any],
) -> None:
    environment = services["nginx"]["environment"]
    gateway_names = {name for name in environment if name.startswith("GATEWAY_")}

    assert gateway_names == placeholders(TEMPLATE.read_text())


def test_the_gateway_mounts_the_stacks_template_as_the_whole_nginx_conf(
    services: dict[str, Any],
) -> None:
    nginx = services["nginx"]

    assert any(
        volume.startswith(f"./{TEMPLATE.relative_to(ROOT)}:/etc/nginx/templates/")
        for volume in nginx["volumes"]
    )
    assert nginx["environment"]["NGINX_ENVSUBST_OUTPUT_DIR"] == "/etc/nginx"


def test_the_gateway_publishes_https_and_http_on_loopback_only(services: dict[str, Any]) -> None:
    ports = services["nginx"]["ports"]

    assert sorted(ports) == ["127.0.0.1:8080:8080", "127.0.0.1:8443:8443"]


def test_the_gateway_sends_commands_and_queries_to_the_api_services(
    services: dict[str, Any],
) -> None:
    environment = services["nginx"]["environment"]

    assert environment["GATEWAY_COMMAND_SERVERS"] == "server command-api:8001;"
    assert environment["GATEWAY_QUERY_SERVERS"] == "server query-api:8002;"


@pytest.mark.parametrize("name", sorted(PROCESSES | {"migrate"}))
def test_ledger_services_run_the_image_built_from_the_dockerfile(
    services: dict[str, Any], name: str
) -> None:
    service = services[name]

    assert service["build"] == "."
    assert service["image"] == "ledger:local"


@pytest.mark.parametrize("name", sorted(PROCESSES))
def test_ledger_processes_run_the_console_script_of_the_module_ledger_up_runs(
    services: dict[str, Any], name: str
) -> None:
    [script] = services[name]["command"]

    assert SCRIPTS[script] == f"{MODULES[name]}.__main__:main"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_process_ledger_up_runs_has_a_console_script(name: str) -> None:
    assert f"{MODULES[name]}.__main__:main" in SCRIPTS.values()


def test_migrate_runs_the_ledger_command(services: dict[str, Any]) -> None:
    command = services["migrate"]["command"]

    assert command == ["ledger", "migrate"]
    assert command[0] in SCRIPTS
