"""Install Debian packages the stack needs, once, one apt-get at a time."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from infra.stack.processes import run_command

# Components install in parallel threads, but dpkg takes a global lock: queue them up here.
_APT_LOCK = threading.Lock()
_APT_UPDATED = False

# Debian starts a package's own service on install (PostgreSQL on 5432, Redis on 6379,
# nginx on 0.0.0.0:80). We run our own instances on loopback, so forbid that start:
# invoke-rc.d obeys policy-rc.d, and exit status 101 means "action forbidden".
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")
POLICY_FORBID_ALL = (
    "#!/bin/sh\n# written by Ledger's local stack during apt-get install\nexit 101\n"
)


def apt_install(component: str, package: str, log_path: Path) -> None:
    """`apt-get update` (once per run) and `apt-get install -y package`."""
    global _APT_UPDATED
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with _APT_LOCK:
        if not _APT_UPDATED:
            run_command(component, ["apt-get", "update"], log_path, env=env)
            _APT_UPDATED = True
        with _services_not_started():
            run_command(component, ["apt-get", "install", "-y", package], log_path, env=env)


@contextmanager
def _services_not_started() -> Iterator[None]:
    """Keep Debian from starting the packages' system services while we install them."""
    if POLICY_RC_D.exists():
        yield
        return
    POLICY_RC_D.write_text(POLICY_FORBID_ALL)
    POLICY_RC_D.chmod(0o755)
    try:
        yield
    finally:
        POLICY_RC_D.unlink(missing_ok=True)
