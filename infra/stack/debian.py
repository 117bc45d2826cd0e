"""Install Debian packages the stack needs, once, one apt-get at a time."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from infra.stack.processes import run_command

# Components install in parallel threads, but dpkg takes a global lock: queue them up here.
_APT_LOCK = threading.Lock()
_APT_UPDATED = False


def apt_install(component: str, package: str, log_path: Path) -> None:
    """`apt-get update` (once per run) and `apt-get install -y package`."""
    global _APT_UPDATED
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with _APT_LOCK:
        if not _APT_UPDATED:
            run_command(component, ["apt-get", "update"], log_path, env=env)
            _APT_UPDATED = True
        run_command(component, ["apt-get", "install", "-y", package], log_path, env=env)
