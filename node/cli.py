"""The ``gongfen`` command line: run a node, manage a local devnet, make keys."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from pathlib import Path

from chain.errors import ChainError
from chain.genesis import load_genesis
from node.devnet import DevnetError, DevnetOptions, down, status, up
from node.keys import NodeKeyError, generate_node_key, read_node_key, write_node_key
from node.node import Node, NodeConfig

logger = logging.getLogger("gongfen")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gongfen`` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.handler(args))
    except (ChainError, DevnetError, NodeKeyError) as error:
        print(f"gongfen: {error}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gongfen", description=__doc__)
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    node = commands.add_parser("node", help="run one member's node")
    node_commands = node.add_subparsers(required=True, metavar="ACTION")
    run = node_commands.add_parser("run", help="run a node until interrupted")
    run.add_argument("--data", type=Path, required=True, help="data folder")
    run.add_argument("--genesis", type=Path, required=True, help="genesis.json")
    run.add_argument("--key", type=Path, required=True, help="node key file")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--rpc-port", type=int, default=8545)
    run.add_argument("--max-block-transactions", type=int, default=500)
    run.set_defaults(handler=_run_node)

    key = commands.add_parser("key", help="member keys")
    key_commands = key.add_subparsers(required=True, metavar="ACTION")
    new = key_commands.add_parser("new", help="create a node key file")
    new.add_argument("--out", type=Path, required=True)
    new.set_defaults(handler=_new_key)

    devnet = commands.add_parser("devnet", help="a local consortium on 127.0.0.1")
    devnet_commands = devnet.add_subparsers(required=True, metavar="ACTION")
    devnet_up = devnet_commands.add_parser("up", help="start the devnet")
    devnet_up.add_argument("--data", type=Path, required=True)
    devnet_up.add_argument("--validators", type=int, default=1)
    devnet_up.add_argument(
        "--permissioning", choices=["open", "allowlist"], default="allowlist"
    )
    devnet_up.add_argument(
        "--base-port",
        type=int,
        default=8545,
        help="first JSON-RPC port; 0 picks free ports",
    )
    devnet_up.add_argument(
        "--block-period",
        type=int,
        default=1,
        help="seconds between blocks (new devnets only)",
    )
    devnet_up.add_argument(
        "--detach", action="store_true", help="return once every node answers"
    )
    devnet_up.set_defaults(handler=_devnet_up)
    devnet_down = devnet_commands.add_parser("down", help="stop the devnet")
    devnet_down.add_argument("--data", type=Path, required=True)
    devnet_down.set_defaults(handler=_devnet_down)
    devnet_status = devnet_commands.add_parser("status", help="show each node")
    devnet_status.add_argument("--data", type=Path, required=True)
    devnet_status.set_defaults(handler=_devnet_status)
    return parser


def _run_node(args: argparse.Namespace) -> int:
    genesis = load_genesis(args.genesis)
    key = read_node_key(args.key)
    config = NodeConfig(
        data_dir=args.data,
        host=args.host,
        rpc_port=args.rpc_port,
        max_block_transactions=args.max_block_transactions,
    )
    Node(config, genesis, key).serve()
    return 0


def _new_key(args: argparse.Namespace) -> int:
    if args.out.exists():
        print(
            f"gongfen: {args.out} exists; refusing to overwrite a key", file=sys.stderr
        )
        return 2
    key = generate_node_key()
    write_node_key(args.out, key)
    print(
        json.dumps(
            {"address": "0x" + key.address.hex(), "nodeId": "0x" + key.public_key.hex()}
        )
    )
    return 0


def _devnet_up(args: argparse.Namespace) -> int:
    options = DevnetOptions(
        data_dir=args.data,
        validators=args.validators,
        permissioning=args.permissioning,
        base_port=args.base_port,
        block_period_seconds=args.block_period,
    )
    try:
        manifest = up(options)
    except BaseException:
        down(args.data)
        raise
    for node in manifest["nodes"]:
        print(
            f"{node['name']:<20} {node['role']:<10} {node['rpcUrl']}  {node['wsUrl']}"
        )
    print(f"manifest: {args.data.resolve() / 'devnet.json'}")
    if args.detach:
        return 0
    print("devnet running; press Ctrl-C to stop")
    stopping = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    try:
        while not stopping:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    stopped = down(args.data)
    print(f"stopped: {', '.join(stopped) or 'nothing'}")
    return 0


def _devnet_down(args: argparse.Namespace) -> int:
    stopped = down(args.data)
    print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
    return 0


def _devnet_status(args: argparse.Namespace) -> int:
    for row in status(args.data):
        if row["up"]:
            print(
                f"{row['name']:<20} height {row['blockNumber']:<8} "
                f"last block {row['secondsSinceLastBlock']}s ago  "
                f"pending {row['pendingTransactions']}"
            )
        else:
            print(f"{row['name']:<20} down ({row['error']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
