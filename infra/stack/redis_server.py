"""Redis from Debian's package, in memory only (no RDB snapshots, no AOF)."""

from __future__ import annotations

import shutil
import socket

from infra.stack.component import Component
from infra.stack.debian import apt_install
from infra.stack.errors import StackError
from infra.stack.layout import Endpoint


class Redis(Component):
    """Shared state for rate limiting."""

    name = "redis"
    start_timeout = 20.0

    @property
    def endpoint(self) -> Endpoint:
        """Host and port from the URL."""
        return Endpoint.from_url(self.settings.redis.url.get_secret_value(), 6379)

    def install(self) -> bool:
        """Install the Debian package when `redis-server` is missing."""
        if shutil.which("redis-server"):
            return False
        # Debian's postinst may also start a system-wide redis on 6379; that one is not ours.
        apt_install(self.name, "redis-server", self.paths.log("apt"))
        if not shutil.which("redis-server"):
            raise StackError(self.name, "apt-get installed redis-server but it is not on PATH")
        return True

    def command(self) -> list[str]:
        """Foreground redis-server, everything on the command line (no config file)."""
        endpoint = self.endpoint
        return [
            shutil.which("redis-server") or "redis-server",
            *("--bind", endpoint.host, "--port", str(endpoint.port)),
            *("--daemonize", "no", "--protected-mode", "yes"),
            *("--save", "", "--appendonly", "no"),
            *("--dir", str(self.paths.home(self.name))),
            # An empty logfile means stdout, which start_process sends to our log.
            *("--logfile", ""),
        ]

    def health(self) -> bool:
        """PING answers +PONG (raw RESP; the `redis` client is not a dependency)."""
        try:
            with socket.create_connection((self.endpoint.host, self.endpoint.port), 2) as conn:
                conn.sendall(b"*1\r\n$4\r\nPING\r\n")
                return conn.recv(64).startswith(b"+PONG")
        except OSError:
            return False
