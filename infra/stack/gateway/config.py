"""The gateway's nginx.conf: the template filled in from the settings and one file layout."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from infra.settings import GatewaySettings, split_list

TEMPLATE = Path(__file__).with_name("nginx.conf.template")
# The same syntax envsubst fills in compose.yaml; nginx's own variables are never braced
# upper case, so they pass through untouched.
_PLACEHOLDER = re.compile(r"\$\{(GATEWAY_[A-Z_]+)\}")


class GatewayConfigError(ValueError):
    """The template names a placeholder nobody filled in."""


@dataclass(frozen=True)
class GatewayFiles:
    """Where one nginx instance keeps its config, pid file, temp dirs, certificate and log."""

    prefix: Path
    certificate: Path
    certificate_key: Path
    access_log: Path

    @property
    def config(self) -> Path:
        """The rendered nginx.conf."""
        return self.prefix / "nginx.conf"

    @property
    def pid_file(self) -> Path:
        """nginx's own pid file (the stack keeps its own record beside it)."""
        return self.prefix / "nginx.pid"

    @property
    def temp_dir(self) -> Path:
        """nginx's temp paths (never written to: see the template)."""
        return self.prefix / "temp"


def render_config(
    settings: GatewaySettings, files: GatewayFiles, *, worker_user: str | None
) -> str:
    """nginx.conf for these settings; `worker_user` None leaves workers as nginx's own user."""
    return fill(TEMPLATE.read_text(), placeholder_values(settings, files, worker_user))


def placeholder_values(
    settings: GatewaySettings, files: GatewayFiles, worker_user: str | None
) -> dict[str, str]:
    """The value of every `${GATEWAY_*}` placeholder of the template."""
    return {
        "GATEWAY_USER_DIRECTIVE": f"user {worker_user};" if worker_user else "",
        "GATEWAY_PID_FILE": str(files.pid_file),
        "GATEWAY_TEMP_DIR": str(files.temp_dir),
        "GATEWAY_ACCESS_LOG": str(files.access_log),
        "GATEWAY_CERTIFICATE": str(files.certificate),
        "GATEWAY_CERTIFICATE_KEY": str(files.certificate_key),
        "GATEWAY_LISTEN_HOST": settings.host,
        "GATEWAY_HTTP_PORT": str(settings.http_port),
        "GATEWAY_HTTPS_PORT": str(settings.https_port),
        "GATEWAY_MAX_BODY_BYTES": str(settings.max_body_bytes),
        "GATEWAY_CONNECT_TIMEOUT": _duration(settings.connect_timeout_seconds),
        "GATEWAY_READ_TIMEOUT": _duration(settings.read_timeout_seconds),
        "GATEWAY_COMMAND_SERVERS": upstream_servers(settings.command_upstreams),
        "GATEWAY_QUERY_SERVERS": upstream_servers(settings.query_upstreams),
        "GATEWAY_ISSUER_SERVERS": upstream_servers(settings.issuer_upstreams),
    }


def upstream_servers(replicas: str) -> str:
    """`server host:port;` for each comma-separated replica, on one line."""
    return " ".join(f"server {replica};" for replica in split_list(replicas))


def placeholders(template: str) -> set[str]:
    """The names of the `${GATEWAY_*}` placeholders in a template."""
    return set(_PLACEHOLDER.findall(template))


def fill(template: str, values: Mapping[str, str]) -> str:
    """The template with every placeholder replaced; refuses to leave one unfilled."""
    missing = placeholders(template) - set(values)
    if missing:
        raise GatewayConfigError(f"no value for {', '.join(sorted(missing))}")
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], template)


def _duration(seconds: float) -> str:
    """An nginx time in milliseconds, so fractions of a second survive."""
    return f"{max(1, round(seconds * 1000))}ms"
