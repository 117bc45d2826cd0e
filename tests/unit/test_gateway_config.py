"""The gateway's nginx.conf as rendered from the settings (nginx itself runs in integration)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from infra.runtime.process import KEEP_ALIVE_SECONDS
from infra.settings import GatewaySettings
from infra.stack.gateway.config import GatewayConfigError, GatewayFiles, fill, render_config

FILES = GatewayFiles(
    prefix=Path("/stack/nginx"),
    certificate=Path("/stack/nginx/tls/gateway.crt"),
    certificate_key=Path("/stack/nginx/tls/gateway.key"),
    access_log=Path("/stack/logs/nginx-access.log"),
)


def render(worker_user: str | None = "www-data", **settings: object) -> str:
    return render_config(GatewaySettings.model_validate(settings), FILES, worker_user=worker_user)


def test_every_placeholder_is_filled_in() -> None:
    assert "${GATEWAY_" not in render()


def test_each_replica_becomes_a_server_of_its_upstream() -> None:
    config = render(command_upstreams="127.0.0.1:8001, 127.0.0.1:8011")

    assert "server 127.0.0.1:8001; server 127.0.0.1:8011;" in config


def test_it_listens_on_the_configured_host_and_ports() -> None:
    config = render(http_port=18080, https_port=18443)

    assert "listen 127.0.0.1:18080;" in config
    assert "listen 127.0.0.1:18443 ssl;" in config
    assert "return 308 https://$host:18443$request_uri;" in config


def test_timeouts_keep_fractions_of_a_second() -> None:
    config = render(connect_timeout_seconds=0.5, read_timeout_seconds=10)

    assert "proxy_connect_timeout 500ms;" in config
    assert "proxy_read_timeout 10000ms;" in config


def test_the_body_limit_is_enforced_and_told_in_the_413_problem() -> None:
    config = render(max_body_bytes=4096)

    assert "client_max_body_size 4096;" in config
    assert "Request bodies are limited to 4096 bytes." in config


def test_pid_file_and_certificate_live_in_the_given_files() -> None:
    config = render()

    assert "pid /stack/nginx/nginx.pid;" in config
    assert "ssl_certificate /stack/nginx/tls/gateway.crt;" in config
    assert "access_log /stack/logs/nginx-access.log ledger;" in config


def test_workers_switch_user_only_when_one_is_given() -> None:
    assert "user www-data;" in render("www-data")
    assert "\nuser " not in render(None)


def test_the_access_log_format_leaves_out_query_strings_and_headers() -> None:
    log_format = render().split("log_format ledger", 1)[1].split(";", 1)[0]

    assert "$request " not in log_format and "$request_uri" not in log_format
    assert "$args" not in log_format and "$http_" not in log_format


def test_nginx_variables_are_left_alone() -> None:
    assert fill("proxy_pass http://$ledger_api${GATEWAY_X};", {"GATEWAY_X": "/"}) == (
        "proxy_pass http://$ledger_api/;"
    )


def test_a_placeholder_without_a_value_is_refused() -> None:
    with pytest.raises(GatewayConfigError, match="GATEWAY_MISSING"):
        fill("listen ${GATEWAY_MISSING};", {})


@pytest.mark.parametrize("upstreams", ["", "127.0.0.1", "127.0.0.1:80,localhost:http"])
def test_upstreams_must_be_host_port_lists(upstreams: str) -> None:
    with pytest.raises(ValidationError):
        GatewaySettings(query_upstreams=upstreams)


def test_the_gateway_drops_idle_upstream_connections_before_the_apis_do() -> None:
    idle = re.findall(r"upstream (\w+) \{[^}]*keepalive_timeout (\d+)s;", render())

    assert {name for name, _ in idle} == {"command_api", "query_api", "token_issuer"}
    assert all(int(seconds) < KEEP_ALIVE_SECONDS for _, seconds in idle)
