"""The command that starts a member's node as a process of its own.

The devnet, the benchmarks and the network tests start nodes as a member
would, with ``gongfen node run``; this builds that command in one place, with
the interpreter that is running (so the project's virtual environment).
"""

from __future__ import annotations

import sys
from pathlib import Path


def node_command(
    data_dir: Path,
    genesis: Path,
    key: Path,
    rpc_port: int,
    *,
    peers: Path | None = None,
    transport_dir: Path | None = None,
    p2p_port: int | None = None,
    max_block_transactions: int | None = None,
    log_level: str | None = None,
    gateway: bool = True,
) -> list[str]:
    """The arguments of ``gongfen node run`` for one node; see ``node.cli``.

    ``peers``, ``transport_dir`` and ``p2p_port`` are for a node with peers;
    the others default to the command line's own defaults.
    """
    command = [sys.executable, "-m", "node.cli"]
    if log_level is not None:
        command += ["--log-level", log_level]
    command += ["node", "run", "--data", str(data_dir), "--genesis", str(genesis)]
    command += ["--key", str(key), "--rpc-port", str(rpc_port)]
    if max_block_transactions is not None:
        command += ["--max-block-transactions", str(max_block_transactions)]
    if peers is not None:
        command += ["--peers", str(peers)]
    if transport_dir is not None:
        command += ["--transport-key", str(transport_dir)]
    if p2p_port is not None:
        command += ["--p2p-port", str(p2p_port)]
    if not gateway:
        command.append("--no-gateway")
    return command
