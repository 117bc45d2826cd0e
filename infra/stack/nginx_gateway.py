"""nginx from Debian's package: the gateway, with TLS on a certificate the stack makes once."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import pwd
import shutil
import signal
import ssl
from pathlib import Path

import httpx

from infra.stack.component import Component, UpReport
from infra.stack.debian import apt_install
from infra.stack.errors import StackError
from infra.stack.gateway.config import GatewayFiles, render_config
from infra.stack.layout import Endpoint, write_if_changed
from infra.stack.processes import is_running, read_record, run_command, wait_until

# The master runs as root (it reads the private key); workers, which face clients, do not.
WORKER_USERS = ("www-data", "nobody")
CERTIFICATE_DAYS = 825
HEALTH_PATH = "/gateway/health"


class NginxGateway(Component):
    """Routing, TLS termination, body limits, timeouts and request ids in front of the APIs."""

    name = "nginx"
    start_timeout = 20.0

    @property
    def endpoint(self) -> Endpoint:
        """The HTTPS listener."""
        return Endpoint(self.settings.gateway.host, self.settings.gateway.https_port)

    def extra_ports(self) -> list[Endpoint]:
        """The plain-HTTP listener, which only redirects to HTTPS."""
        return [Endpoint(self.settings.gateway.host, self.settings.gateway.http_port)]

    @property
    def files(self) -> GatewayFiles:
        """Config, pid file and temp dirs in the stack's nginx folder; TLS files beside them."""
        home = self.paths.home(self.name)
        return GatewayFiles(
            prefix=home,
            certificate=home / "tls" / "gateway.crt",
            certificate_key=home / "tls" / "gateway.key",
            access_log=self.paths.log("nginx-access"),
        )

    def install(self) -> bool:
        """Install the Debian package when nginx is missing; make the certificate once."""
        installed = False
        if _nginx_binary() is None:
            # Outside containers Debian's postinst also starts a system nginx on port 80
            # (its default site); that one is not ours.
            apt_install(self.name, "nginx", self.paths.log("apt"))
            if _nginx_binary() is None:
                raise StackError(self.name, "apt-get installed nginx but it is not on PATH")
            installed = True
        return self._make_certificate() or installed

    def command(self) -> list[str]:
        """nginx in the foreground, on our config and prefix dir."""
        files = self.files
        return [
            _nginx_binary() or "nginx",
            *("-p", str(files.prefix), "-c", str(files.config)),
            *("-g", "daemon off;"),
        ]

    def prepare(self) -> None:
        """Render the config and check it before nginx starts on it."""
        self.files.temp_dir.mkdir(parents=True, exist_ok=True)
        self._render()
        self._check_config()

    def up(self) -> UpReport:
        """As for every component, after reloading a running nginx whose settings changed."""
        record = read_record(self.pid_path)
        if record is not None and is_running(self.pid_path) and self._render():
            try:
                self._check_config()
            except StackError:
                # nginx keeps its old config; without the file the next `up` checks again.
                self.files.config.unlink(missing_ok=True)
                raise
            self._reload(record.pid)
        return super().up()

    def health(self) -> bool:
        """nginx's own health location answers over HTTPS, verified with our certificate."""
        certificate = self.files.certificate
        if not certificate.exists():
            return False
        url = f"https://{self.endpoint}{HEALTH_PATH}"
        try:
            context = ssl.create_default_context(cafile=str(certificate))
            return httpx.get(url, verify=context, timeout=2.0).status_code == 200
        except (httpx.HTTPError, ssl.SSLError, OSError):
            return False

    def _reload(self, master: int) -> None:
        """SIGHUP: the master re-reads its config, starts new workers and retires the old."""
        old_workers = set(_children(master))
        os.kill(master, signal.SIGHUP)
        # Old workers serve the old config until they exit; a busy one may take a while.
        with contextlib.suppress(TimeoutError):
            wait_until(
                lambda: not old_workers & set(_children(master)),
                self.stop_timeout,
                "nginx's old workers to exit after a reload",
            )

    def _render(self) -> bool:
        """Write nginx.conf from the current settings; True when it changed."""
        files = self.files
        text = render_config(self.settings.gateway, files, worker_user=_worker_user())
        return write_if_changed(files.config, text)

    def _check_config(self) -> None:
        files = self.files
        check = [_nginx_binary() or "nginx", "-t", "-q", "-p", str(files.prefix)]
        run_command(self.name, [*check, "-c", str(files.config)], self.paths.log("nginx-setup"))

    def _make_certificate(self) -> bool:
        """A self-signed certificate for localhost and the listen address; False if it exists."""
        files = self.files
        if files.certificate.exists() and files.certificate_key.exists():
            return False
        files.certificate.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        names = ["DNS:localhost", "IP:127.0.0.1", _subject_name(self.settings.gateway.host)]
        openssl = [
            "openssl",
            *("req", "-x509", "-nodes", "-days", str(CERTIFICATE_DAYS)),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-keyout", str(files.certificate_key), "-out", str(files.certificate)),
            *(
                "-subj",
                "/CN=localhost",
                "-addext",
                f"subjectAltName={','.join(dict.fromkeys(names))}",
            ),
        ]
        run_command(self.name, openssl, self.paths.log("nginx-setup"))
        files.certificate_key.chmod(0o600)
        # Only now open the folder: clients read the certificate to verify the gateway.
        files.certificate.parent.chmod(0o755)
        return True


def _nginx_binary() -> str | None:
    # /usr/sbin is not on every user's PATH.
    return shutil.which("nginx", path=f"{os.environ.get('PATH', '')}{os.pathsep}/usr/sbin")


def _children(parent: int) -> list[int]:
    """Pids whose parent is `parent` (nginx's workers, for its master)."""
    children = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited while we looked
        if int(stat[stat.rindex(")") + 2 :].split()[1]) == parent:
            children.append(int(entry.name))
    return children


def _worker_user() -> str | None:
    """The unprivileged user for workers; None when we are not root (nginx cannot switch)."""
    if os.geteuid() != 0:
        return None
    for user in WORKER_USERS:
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        return user
    raise StackError(NginxGateway.name, f"none of the users {WORKER_USERS} exists for workers")


def _subject_name(host: str) -> str:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return f"DNS:{host}"
    return f"IP:{host}"
