"""Free loopback ports for the servers that tests and the bench start.

A port from `bind(("127.0.0.1", 0))` comes from the kernel's ephemeral range, the range outgoing
connections take their source ports from. Between the probe and the server's own bind, a client
connection opened meanwhile (a Redis replica dialing its primary, a readiness probe, another test's
client) can take that port, and the server fails with "Address already in use". A port outside the
range can only be held by a listener, which the probe sees.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST = 20_000  # below: ports that well-known local services tend to use
ATTEMPTS = 200


def ephemeral_range() -> range:
    """Return the kernel's ephemeral port range (Linux's default where it cannot be read)."""
    try:
        low, high = (int(part) for part in EPHEMERAL_RANGE.read_text().split())
    except (OSError, ValueError):
        low, high = 32_768, 60_999
    return range(low, high + 1)


def free_port() -> int:
    """Return a TCP port on 127.0.0.1, outside the ephemeral range, that nobody listens on right now."""
    ephemeral = ephemeral_range()
    choices = [port for port in range(LOWEST, 65_536) if port not in ephemeral]
    for port in random.sample(choices, min(ATTEMPTS, len(choices))):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port outside the ephemeral range {ephemeral.start}-{ephemeral.stop - 1}")
