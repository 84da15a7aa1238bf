"""Ports on this machine for local nodes: the devnet, the tests and the
benchmarks all pick theirs here.

A port is picked some time before its node binds it, and meanwhile the
kernel hands out ports of its own: the local port of every outgoing
connection, and every bind to port 0, come from its ephemeral range. A port
picked from that range can be taken so by a node started a moment earlier
(CI once saw a devnet's fourth node fail to start that way). So ports are
picked outside it, where the kernel hands out none by itself.

Another program may still take a picked port first; callers that cannot
tolerate that bind with patience (``node.rpc.listener``).
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

LOOPBACK = "127.0.0.1"

# Linux's default when /proc does not say.
DEFAULT_EPHEMERAL_RANGE = (32768, 60999)
# Below this sit the well-known and many registered services' ports.
LOWEST_PICKED_PORT = 10000
ATTEMPTS = 200

_ephemeral_range_file = Path("/proc/sys/net/ipv4/ip_local_port_range")
# Ports this process has handed out, so two nodes of one devnet never get the
# same port before either has bound it.
_handed_out: set[int] = set()
_random = random.SystemRandom()


def free_port(host: str = LOOPBACK) -> int:
    """Return a port on ``host`` that nothing listens on right now, outside
    the kernel's ephemeral range and not handed out before by this process."""
    candidates = _ports_outside_ephemeral_range()
    for _ in range(ATTEMPTS):
        port = _random.choice(candidates)
        if port not in _handed_out and port_is_free(port, host):
            _handed_out.add(port)
            return port
    # Everything tried was taken: let the kernel choose, and take the risk.
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """Whether ``port`` on ``host`` can be bound right now."""
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def ephemeral_range() -> tuple[int, int]:
    """The kernel's range for ports it picks itself (both ends included)."""
    try:
        low, high = (int(part) for part in _ephemeral_range_file.read_text().split())
    except (OSError, ValueError):
        return DEFAULT_EPHEMERAL_RANGE
    return low, high


def _ports_outside_ephemeral_range() -> range | list[int]:
    low, high = ephemeral_range()
    below = range(LOWEST_PICKED_PORT, max(LOWEST_PICKED_PORT, low))
    above = range(max(LOWEST_PICKED_PORT, high + 1), 65536)
    if not below and not above:
        # The kernel keeps every high port for itself; share its range.
        return range(LOWEST_PICKED_PORT, 65536)
    return [*below, *above]
