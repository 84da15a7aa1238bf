"""The node command that the devnet, benchmarks and network tests start."""

from __future__ import annotations

import sys
from pathlib import Path

from node.cli import _parser
from node.process import node_command


def test_command_parses_as_gongfen_node_run_with_every_option() -> None:
    command = node_command(
        Path("/data"),
        Path("/genesis.json"),
        Path("/key"),
        8600,
        peers=Path("/peers.json"),
        transport_dir=Path("/transport"),
        p2p_port=30400,
        max_block_transactions=200,
        log_level="WARNING",
    )

    assert command[:3] == [sys.executable, "-m", "node.cli"]
    args = _parser().parse_args(command[3:])
    assert (args.data, args.genesis, args.key) == (
        Path("/data"),
        Path("/genesis.json"),
        Path("/key"),
    )
    assert (args.rpc_port, args.p2p_port, args.max_block_transactions) == (
        8600,
        30400,
        200,
    )
    assert (args.peers, args.transport_key) == (
        Path("/peers.json"),
        Path("/transport"),
    )
    assert args.log_level == "WARNING"


def test_a_lone_node_needs_no_peer_options() -> None:
    command = node_command(Path("/data"), Path("/genesis.json"), Path("/key"), 8545)

    args = _parser().parse_args(command[3:])
    assert args.peers is None and args.p2p_port is None
    assert args.max_block_transactions == 500
