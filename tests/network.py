"""Loopback ports for the processes tests start."""

from __future__ import annotations

import random
import socket
from pathlib import Path

# Ports are drawn below the kernel's ephemeral range. A port the kernel hands
# out for `bind(("127.0.0.1", 0))` is free only until the next outgoing
# connection, and the kernel may hand the same port out again on the next call:
# one stack asks for a dozen ports, so two of its servers could be given the
# same one. Drawing from a range no client connection uses, and never drawing
# a port twice in one test run, rules both out.
_ISSUED: set[int] = set()
_LOWEST = 20000


def _ephemeral_floor() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on and no earlier call returned."""
    ceiling = _ephemeral_floor()
    if ceiling - _LOWEST < 1000:
        raise RuntimeError(f"the ephemeral port range starts at {ceiling}; too few ports below it")
    draw = random.Random()
    for _ in range(1000):
        port = draw.randrange(_LOWEST, ceiling)
        if port not in _ISSUED and _bindable(port):
            _ISSUED.add(port)
            return port
    raise RuntimeError(f"no free loopback port in {_LOWEST}..{ceiling - 1} after 1000 tries")
