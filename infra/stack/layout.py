"""Where the stack keeps its files, and the addresses its servers listen on."""

from __future__ import annotations

import contextlib
import fcntl
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit


@dataclass(frozen=True)
class StackPaths:
    """The stack dir and its fixed sub-folders: installs, data, logs and pid files."""

    root: Path

    @classmethod
    def create(cls, root: Path) -> StackPaths:
        """Make sure the stack dir and its logs/run/bin folders exist."""
        paths = cls(root.resolve())
        for folder in (paths.root, paths.logs, paths.run, paths.bin):
            folder.mkdir(parents=True, exist_ok=True)
        return paths

    @property
    def logs(self) -> Path:
        """Every server's and installer's log file."""
        return self.root / "logs"

    @property
    def run(self) -> Path:
        """Pid files."""
        return self.root / "run"

    @property
    def bin(self) -> Path:
        """Binaries we build (FerretDB)."""
        return self.root / "bin"

    def log(self, name: str) -> Path:
        """The log file called `name`."""
        return self.logs / f"{name}.log"

    def pid(self, name: str) -> Path:
        """The pid file of the component called `name`."""
        return self.run / f"{name}.pid"

    def home(self, name: str) -> Path:
        """A component's own folder (config, data), created on first use."""
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        return folder


@dataclass(frozen=True)
class Endpoint:
    """A host and TCP port."""

    host: str
    port: int

    @classmethod
    def from_url(cls, url: str, default_port: int) -> Endpoint:
        """The host and port of a URL such as `postgresql://user:pw@127.0.0.1:55432/db`."""
        parts = urlsplit(url)
        return cls(parts.hostname or "127.0.0.1", parts.port or default_port)

    @classmethod
    def from_host_port(cls, bootstrap: str) -> Endpoint:
        """The first `host:port` of a comma-separated list such as Kafka's bootstrap servers."""
        host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
        return cls(host or "127.0.0.1", int(port))

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"

    def accepts_connections(self, timeout: float = 0.5) -> bool:
        """Whether something accepts TCP connections here (ours or not)."""
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout):
                return True
        except OSError:
            return False


def write_if_changed(path: Path, text: str) -> bool:
    """Write `text` unless the file already holds it; True when it wrote."""
    if path.exists() and path.read_text() == text:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return True


@contextlib.contextmanager
def stack_lock(paths: StackPaths) -> Iterator[None]:
    """Serialise `up`/`down` of one stack dir, e.g. across pytest-xdist workers."""
    with (paths.root / ".lock").open("w") as lock_file:
        fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)
