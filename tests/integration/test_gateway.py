"""The nginx gateway, started by the stack's own component on free ports, in front of tiny
upstream servers that say who they are and what they received."""

from __future__ import annotations

import contextlib
import json
import re
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from infra.problems import PROBLEM_JSON, problem_type
from infra.settings import PROJECT_ROOT, GatewaySettings, Settings, StackSettings
from infra.stack.errors import StackError
from infra.stack.gateway.config import TEMPLATE, fill
from infra.stack.layout import StackPaths
from infra.stack.nginx_gateway import NginxGateway
from infra.stack.processes import read_record
from tests.network import free_port

pytestmark = pytest.mark.integration

READ_TIMEOUT_SECONDS = 1.0
SLOW_SECONDS = 3.0
MAX_BODY_BYTES = 64 * 1024
CONSOLE_POLICY = "default-src 'self'"


@dataclass
class Upstream:
    """A tiny HTTP server standing in for one API replica."""

    name: str
    server: ThreadingHTTPServer
    peers: list[tuple[str, int]] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"


def start_upstream(name: str) -> Upstream:
    upstream: Upstream

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as nginx's upstream keepalive expects

        def _answer(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            upstream.peers.append(self.client_address)
            if self.path.startswith("/v1/transfers/slow"):
                time.sleep(SLOW_SECONDS)
            if self.path.startswith("/v1/transfers/broken"):
                self.close_connection = True
                return  # no response at all: nginx must call that a bad gateway
            echo = {
                "upstream": name,
                "method": self.command,
                "path": self.path,
                "body_bytes": len(body),
                "headers": {key.lower(): value for key, value in self.headers.items()},
            }
            payload = json.dumps(echo).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Cache-Control", "max-age=600")
            if self.path.startswith("/console"):
                self.send_header("Content-Security-Policy", CONSOLE_POLICY)
            self.end_headers()
            # The gateway may have given up on a slow answer: what the 504 test wants.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _answer

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.block_on_close = False  # a slow handler must not hold up the teardown
    upstream = Upstream(name, server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return upstream


@pytest.fixture(scope="module")
def upstreams() -> Iterator[dict[str, Upstream]]:
    started = {name: start_upstream(name) for name in ("command-1", "command-2", "query", "issuer")}
    yield started
    for upstream in started.values():
        upstream.server.shutdown()
        upstream.server.server_close()


def gateway_settings(directory: Path, upstreams: dict[str, Upstream]) -> Settings:
    command = f"{upstreams['command-1'].address},{upstreams['command-2'].address}"
    return Settings(
        gateway=GatewaySettings(
            http_port=free_port(),
            https_port=free_port(),
            command_upstreams=command,
            query_upstreams=upstreams["query"].address,
            issuer_upstreams=upstreams["issuer"].address,
            max_body_bytes=MAX_BODY_BYTES,
            connect_timeout_seconds=0.5,
            read_timeout_seconds=READ_TIMEOUT_SECONDS,
        ),
        stack=StackSettings(dir=directory),
    )


@pytest.fixture(scope="module")
def gateway(
    upstreams: dict[str, Upstream], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[NginxGateway]:
    """Our own nginx, with its own prefix dir and ports, through the stack's component."""
    directory = tmp_path_factory.mktemp("gateway")
    component = NginxGateway(gateway_settings(directory, upstreams), StackPaths.create(directory))
    component.up()
    yield component
    component.down()


def tls_context(component: NginxGateway) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(component.files.certificate))


@pytest.fixture
def https(gateway: NginxGateway) -> Iterator[httpx.Client]:
    base_url = f"https://127.0.0.1:{gateway.settings.gateway.https_port}"
    with httpx.Client(base_url=base_url, verify=tls_context(gateway), timeout=10) as client:
        yield client


def served_by(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    upstream: str = response.json()["upstream"]
    return upstream


@pytest.mark.parametrize(
    "path",
    [
        "/v1/accounts",
        "/v1/accounts/a-1/deposits",
        "/v1/accounts/a-1/withdrawals",
        "/v1/accounts/a-1/freeze",
        "/v1/accounts/a-1/unfreeze",
        "/v1/accounts/a-1/close",
        "/v1/transfers",
    ],
)
def test_commands_are_routed_to_the_command_api(https: httpx.Client, path: str) -> None:
    response = https.post(path, json={"amount": 100})

    assert served_by(response).startswith("command-")
    assert response.json()["path"] == path


@pytest.mark.parametrize(
    "path",
    [
        "/v1/accounts/a-1",
        "/v1/accounts/a-1/statement?limit=5",
        "/v1/owners/o-1/portfolio",
        "/v1/transfers/t-1",
        "/v1/stats/daily",
        "/v1/events?after=10",
    ],
)
def test_reads_are_routed_to_the_query_api(https: httpx.Client, path: str) -> None:
    response = https.get(path)

    assert served_by(response) == "query"
    assert response.json()["path"] == path


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/v1/admin/projections"), ("POST", "/v1/admin/projections/accounts/rebuild")],
)
def test_admin_requests_go_to_the_query_api(https: httpx.Client, method: str, path: str) -> None:
    assert served_by(https.request(method, path)) == "query"


@pytest.mark.parametrize("path", ["/console", "/console/", "/console/pages/events.js"])
def test_the_operators_console_is_served_by_the_query_api(https: httpx.Client, path: str) -> None:
    assert served_by(https.get(path)) == "query"


def test_the_console_keeps_the_script_policy_and_caching_its_api_sets(
    https: httpx.Client,
) -> None:
    headers = https.get("/console/app.js").headers

    assert headers["content-security-policy"] == CONSOLE_POLICY
    assert headers["cache-control"] == "max-age=600"
    assert headers["x-frame-options"] == "DENY"


@pytest.mark.parametrize("path", ["/v1/stats/daily", "/consoles", "/nowhere"])
def test_other_answers_keep_the_gateways_strict_policy_and_no_caching(
    https: httpx.Client, path: str
) -> None:
    headers = https.get(path).headers

    assert headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/oauth/token"), ("GET", "/.well-known/jwks.json")],
)
def test_token_requests_go_to_the_issuer(https: httpx.Client, method: str, path: str) -> None:
    assert served_by(https.request(method, path)) == "issuer"


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/v1/accounts/a-1/rename"), ("GET", "/v1/nowhere"), ("GET", "/docs")],
)
def test_unrouted_requests_get_a_404_problem(https: httpx.Client, method: str, path: str) -> None:
    response = https.request(method, path)

    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["type"] == problem_type("not-found")
    assert "allow" not in response.headers


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("DELETE", "/v1/accounts/a-1", "GET"),
        ("PUT", "/v1/accounts", "GET, POST"),
        ("GET", "/v1/transfers", "POST"),
        ("PATCH", "/v1/accounts/a-1/deposits", "POST"),
        ("TRACE", "/v1/transfers", "POST"),  # nginx refuses TRACE itself, before any location
    ],
)
def test_an_undeclared_method_gets_a_405_problem_with_allow(
    https: httpx.Client, method: str, path: str, allow: str
) -> None:
    response = https.request(method, path)

    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["type"] == problem_type("method-not-allowed")


def test_commands_are_balanced_across_both_replicas(https: httpx.Client) -> None:
    served = {served_by(https.post("/v1/transfers", json={})) for _ in range(10)}

    assert served == {"command-1", "command-2"}


def test_connections_to_an_upstream_are_kept_alive(
    https: httpx.Client, upstreams: dict[str, Upstream]
) -> None:
    query = upstreams["query"]
    before = len(query.peers)

    for _ in range(6):
        served_by(https.get("/v1/stats/daily"))

    assert len(set(query.peers[before:])) < 6


def test_plain_http_is_redirected_to_https_keeping_path_and_query(gateway: NginxGateway) -> None:
    ports = gateway.settings.gateway
    response = httpx.post(
        f"http://127.0.0.1:{ports.http_port}/v1/transfers?dry=1", follow_redirects=False
    )

    assert response.status_code == 308
    assert response.headers["location"] == (
        f"https://127.0.0.1:{ports.https_port}/v1/transfers?dry=1"
    )


def test_tls_serves_the_certificate_the_stack_generated(gateway: NginxGateway) -> None:
    port = gateway.settings.gateway.https_port
    served = ssl.get_server_certificate(("127.0.0.1", port))

    assert ssl.PEM_cert_to_DER_cert(served) == ssl.PEM_cert_to_DER_cert(
        gateway.files.certificate.read_text()
    )


def test_clients_that_do_not_trust_the_certificate_are_refused(gateway: NginxGateway) -> None:
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"https://127.0.0.1:{gateway.settings.gateway.https_port}/v1/stats/daily")


def test_an_oversized_body_gets_a_413_problem(https: httpx.Client) -> None:
    response = https.post("/v1/transfers", content=b"x" * (MAX_BODY_BYTES + 1))

    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["type"] == problem_type("content-too-large")


def test_a_body_within_the_limit_reaches_the_api(https: httpx.Client) -> None:
    response = https.post("/v1/transfers", content=b"x" * MAX_BODY_BYTES)

    assert response.json()["body_bytes"] == MAX_BODY_BYTES


def test_a_slow_upstream_gets_a_504_problem_after_the_read_timeout(https: httpx.Client) -> None:
    began = time.monotonic()
    response = https.get("/v1/transfers/slow")
    elapsed = time.monotonic() - began

    assert response.status_code == 504
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["type"] == problem_type("gateway-timeout")
    assert READ_TIMEOUT_SECONDS - 0.1 <= elapsed < SLOW_SECONDS


def test_an_upstream_that_hangs_up_gets_a_503_problem_with_retry_after(
    https: httpx.Client,
) -> None:
    response = https.get("/v1/transfers/broken")

    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["type"] == problem_type("service-unavailable")
    assert response.headers["retry-after"] == "1"


@pytest.fixture(scope="module")
def gateway_to_nobody(
    upstreams: dict[str, Upstream], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[NginxGateway]:
    """A gateway whose command API replicas are both down: nothing listens on their ports."""
    directory = tmp_path_factory.mktemp("gateway-to-nobody")
    settings = gateway_settings(directory, upstreams)
    dead = f"127.0.0.1:{free_port()},127.0.0.1:{free_port()}"
    settings.gateway.command_upstreams = dead
    component = NginxGateway(settings, StackPaths.create(directory))
    component.up()
    yield component
    component.down()


def test_an_unreachable_upstream_gets_a_503_problem_with_retry_after(
    gateway_to_nobody: NginxGateway,
) -> None:
    base_url = f"https://127.0.0.1:{gateway_to_nobody.settings.gateway.https_port}"
    with httpx.Client(base_url=base_url, verify=tls_context(gateway_to_nobody)) as client:
        response = client.post("/v1/transfers", json={})

    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM_JSON
    assert response.json()["type"] == problem_type("service-unavailable")
    assert response.headers["retry-after"] == "1"


def test_a_request_id_is_generated_and_passed_upstream_and_back(https: httpx.Client) -> None:
    response = https.get("/v1/stats/daily")

    request_id = response.headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)
    assert response.json()["headers"]["x-request-id"] == request_id


def test_a_clients_request_id_is_kept(https: httpx.Client) -> None:
    response = https.get("/v1/stats/daily", headers={"X-Request-Id": "trace-42.a"})

    assert response.headers["x-request-id"] == "trace-42.a"
    assert response.json()["headers"]["x-request-id"] == "trace-42.a"


def test_a_malformed_request_id_is_replaced(https: httpx.Client) -> None:
    response = https.get("/v1/stats/daily", headers={"X-Request-Id": "two words"})

    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])


def test_error_responses_carry_a_request_id_too(https: httpx.Client) -> None:
    response = https.get("/nowhere")

    assert response.json()["request_id"] == response.headers["x-request-id"]


def test_the_api_learns_the_client_address_scheme_and_bearer_token(https: httpx.Client) -> None:
    response = https.get("/v1/stats/daily", headers={"Authorization": "Bearer token-1"})

    headers = response.json()["headers"]
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-proto"] == "https"
    assert headers["authorization"] == "Bearer token-1"


@pytest.mark.parametrize("path", ["/v1/stats/daily", "/nowhere", "/gateway/health"])
def test_security_headers_are_on_every_response(https: httpx.Client, path: str) -> None:
    headers = https.get(path).headers

    assert headers["strict-transport-security"] == "max-age=31536000"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"
    assert headers["server"] == "nginx"


def test_tokens_and_query_strings_stay_out_of_the_access_log(
    https: httpx.Client, gateway: NginxGateway
) -> None:
    https.get(
        "/v1/stats/daily?access_token=query-secret", headers={"Authorization": "Bearer hdr-secret"}
    )

    log = gateway.files.access_log.read_text()
    assert "/v1/stats/daily" in log
    assert "query-secret" not in log
    assert "hdr-secret" not in log


def test_nothing_listens_outside_loopback(gateway: NginxGateway) -> None:
    ports = {gateway.settings.gateway.http_port, gateway.settings.gateway.https_port}

    listeners = [row for row in _listening_sockets() if row[1] in ports]

    assert {port for _, port in listeners} == ports
    assert {address for address, _ in listeners} == {"127.0.0.1"}


def test_workers_run_as_an_unprivileged_user(gateway: NginxGateway) -> None:
    record = read_record(gateway.pid_path)
    assert record is not None

    workers = [pid for pid, parent in _processes() if parent == record.pid]

    assert workers
    assert all(_real_uid(pid) != 0 for pid in workers)


def test_nginx_keeps_its_pid_file_in_the_stack_dir(gateway: NginxGateway) -> None:
    record = read_record(gateway.pid_path)
    assert record is not None

    assert int(gateway.files.pid_file.read_text()) == record.pid
    assert gateway.files.pid_file.is_relative_to(gateway.paths.root)


def test_changed_settings_are_reloaded_without_a_restart_and_down_stops_it(
    upstreams: dict[str, Upstream], tmp_path: Path
) -> None:
    settings = gateway_settings(tmp_path, upstreams)
    component = NginxGateway(settings, StackPaths.create(tmp_path))
    component.up()
    try:
        before = read_record(component.pid_path)
        moved = settings.gateway.model_copy(update={"query_upstreams": upstreams["issuer"].address})
        reloaded = NginxGateway(settings.model_copy(update={"gateway": moved}), component.paths)

        reloaded.up()

        url = f"https://127.0.0.1:{moved.https_port}/v1/stats/daily"
        assert served_by(httpx.get(url, verify=tls_context(reloaded))) == "issuer"
        assert read_record(component.pid_path) == before
    finally:
        assert component.down()
    assert component.status().state == "down"


def test_a_changed_config_nginx_rejects_fails_up_and_leaves_nginx_serving(
    upstreams: dict[str, Upstream], tmp_path: Path
) -> None:
    settings = gateway_settings(tmp_path, upstreams)
    component = NginxGateway(settings, StackPaths.create(tmp_path))
    component.up()
    try:
        broken = settings.gateway.model_copy(update={"query_upstreams": "127.0.0.1:99999"})
        rejected = NginxGateway(settings.model_copy(update={"gateway": broken}), component.paths)

        with pytest.raises(StackError, match="invalid port"):
            rejected.up()

        assert component.health()
        with pytest.raises(StackError, match="invalid port"):
            rejected.up()
    finally:
        component.down()


def _listening_sockets() -> list[tuple[str, int]]:
    """(address, port) of every listening TCP socket, from /proc (IPv4 and IPv6)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            if state != "0A":
                continue
            address, port = local.split(":")
            found.append((_address(address), int(port, 16)))
    return found


def _address(hex_address: str) -> str:
    if len(hex_address) == 8:
        return ".".join(str(int(hex_address[i : i + 2], 16)) for i in (6, 4, 2, 0))
    return hex_address  # any IPv6 listener shows up as itself, never as "127.0.0.1"


def _processes() -> list[tuple[int, int]]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            found.append((int(entry.name), int(stat[stat.rindex(")") + 2 :].split()[1])))
    return found


def _real_uid(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    uid_line = next(line for line in status.splitlines() if line.startswith("Uid:"))
    return int(uid_line.split()[1])


def test_the_compose_environment_renders_a_config_nginx_accepts(
    gateway: NginxGateway, tmp_path: Path
) -> None:
    """compose.yaml fills the same template through envsubst; nginx must accept the result."""
    environment = yaml.safe_load((PROJECT_ROOT / "compose.yaml").read_text())["services"]["nginx"][
        "environment"
    ]
    # Container paths and service names mean nothing here: point them at this machine.
    local = {
        "/etc/nginx/tls/gateway.crt": str(gateway.files.certificate),
        "/etc/nginx/tls/gateway.key": str(gateway.files.certificate_key),
        "/var/cache/nginx": str(tmp_path),
        "/var/run/nginx.pid": str(tmp_path / "nginx.pid"),
        "command-api": "127.0.0.1",
        "query-api": "127.0.0.1",
        "token-issuer": "127.0.0.1",
        "user nginx;": "",
    }
    values = {name: _localised(value, local) for name, value in environment.items()}
    config = tmp_path / "nginx.conf"
    config.write_text(fill(TEMPLATE.read_text(), values))

    check = subprocess.run(
        ["/usr/sbin/nginx", "-t", "-p", str(tmp_path), "-c", str(config)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert check.returncode == 0, check.stderr


def _localised(value: str, local: dict[str, str]) -> str:
    for container_text, local_text in local.items():
        value = value.replace(container_text, local_text)
    return value
