"""Ports on this machine for local nodes: the devnet, the tests and the
benchmarks all pick theirs here.

A port found free may be taken by another program before it is bound; callers
that cannot tolerate that bind with patience (``node.rpc.listener``).
"""

from __future__ import annotations

import socket

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """Return a port on ``host`` that nothing listens on right now."""
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
