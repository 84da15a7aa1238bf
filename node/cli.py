"""The ``gongfen`` command line: run a node, manage a local devnet, make keys.

A member of a multi-node consortium::

    gongfen member new --id bank --out bank/       # node key + TLS identity;
                                                   # prints the genesis entry
    gongfen node run --data bank/ --genesis genesis.json --key bank/key \\
        --peers bank/peers.json --transport-key bank/ --p2p-port 30303

``--peers`` names the permissions file (where each member listens, see
``node.permissions``); pins come from the genesis members' ``fingerprint`` and
``certificate``. Without ``--peers`` only a single validator can run.
"""

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
from node.devnet import (
    DEFAULT_VALIDATORS,
    DevnetError,
    DevnetOptions,
    down,
    join,
    status,
    up,
)
from node.keys import NodeKeyError, generate_node_key, read_node_key, write_node_key
from node.node import Node, NodeConfig, NodeError
from node.transport.errors import TransportError
from node.transport.identity import (
    generate_identity,
    identity_paths,
    validate_member_id,
    write_identity,
)

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
    except (ChainError, DevnetError, NodeKeyError, NodeError, TransportError) as error:
        print(f"gongfen: {error}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gongfen",
        description=(__doc__ or "").split("\n\n")[0],
        epilog=(__doc__ or "").split("\n\n", 1)[-1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
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
    run.add_argument(
        "--peers",
        type=Path,
        help="permissions file: members' P2P addresses (and pins the genesis lacks); "
        "enables the peer network",
    )
    run.add_argument(
        "--transport-key",
        type=Path,
        help="folder with transport.key and transport.crt (default: the --peers "
        "file's folder)",
    )
    run.add_argument("--p2p-host", default="127.0.0.1")
    run.add_argument(
        "--p2p-port",
        type=int,
        help="P2P listening port (default: this member's entry in --peers)",
    )
    run.add_argument(
        "--no-gateway",
        dest="gateway",
        action="store_false",
        help="serve JSON-RPC from the node's own process instead of a gateway "
        "process (one core instead of two for transaction intake)",
    )
    run.set_defaults(handler=_run_node)

    key = commands.add_parser("key", help="member keys")
    key_commands = key.add_subparsers(required=True, metavar="ACTION")
    new = key_commands.add_parser("new", help="create a node key file")
    new.add_argument("--out", type=Path, required=True)
    new.set_defaults(handler=_new_key)

    member = commands.add_parser("member", help="a consortium member's identity")
    member_commands = member.add_subparsers(required=True, metavar="ACTION")
    member_new = member_commands.add_parser(
        "new",
        help="create a member's node key and transport key and certificate",
    )
    member_new.add_argument("--id", required=True, help="member id, e.g. bank")
    member_new.add_argument("--out", type=Path, required=True, help="folder to create")
    member_new.set_defaults(handler=_new_member)

    devnet = commands.add_parser("devnet", help="a local consortium on 127.0.0.1")
    devnet_commands = devnet.add_subparsers(required=True, metavar="ACTION")
    devnet_up = devnet_commands.add_parser("up", help="start the devnet")
    devnet_up.add_argument("--data", type=Path, required=True)
    devnet_up.add_argument(
        "--validators",
        type=int,
        default=DEFAULT_VALIDATORS,
        help="validating members (new devnets only); the regulator always observes",
    )
    devnet_up.add_argument(
        "--permissioning", choices=["open", "allowlist"], default="allowlist"
    )
    devnet_up.add_argument(
        "--base-port",
        type=int,
        default=8545,
        help="first JSON-RPC port; 0 picks free ports (P2P ports too)",
    )
    devnet_up.add_argument(
        "--p2p-base-port", type=int, default=30303, help="first P2P port"
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
    devnet_join = devnet_commands.add_parser(
        "join",
        help="start the node of a member that runs none (it syncs and observes "
        "until the validators vote it in)",
    )
    devnet_join.add_argument("--data", type=Path, required=True)
    devnet_join.add_argument(
        "--member", required=True, help="member id, e.g. foshan-village"
    )
    devnet_join.set_defaults(handler=_devnet_join)
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
        peers_file=args.peers,
        transport_dir=args.transport_key,
        p2p_host=args.p2p_host,
        p2p_port=args.p2p_port,
        gateway=args.gateway,
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


def _new_member(args: argparse.Namespace) -> int:
    """Write OUT/key, OUT/transport.key and OUT/transport.crt; print the entry."""
    try:
        validate_member_id(args.id)
    except ValueError as error:
        print(f"gongfen: --id: {error}", file=sys.stderr)
        return 2
    key_path = args.out / "key"
    transport_key_path, certificate_path = identity_paths(args.out)
    for path in (key_path, transport_key_path):
        if path.exists():
            print(
                f"gongfen: {path} exists; refusing to overwrite a key", file=sys.stderr
            )
            return 2
    key = generate_node_key()
    identity = generate_identity(args.id)
    write_node_key(key_path, key)
    write_identity(identity, transport_key_path, certificate_path)
    print(
        json.dumps(
            {
                "id": args.id,
                "address": "0x" + key.address.hex(),
                "nodeId": "0x" + key.public_key.hex(),
                "fingerprint": identity.fingerprint,
                "certificate": identity.certificate_pem.decode(),
            },
            indent=2,
        )
    )
    return 0


def _devnet_up(args: argparse.Namespace) -> int:
    options = DevnetOptions(
        data_dir=args.data,
        validators=args.validators,
        permissioning=args.permissioning,
        base_port=args.base_port,
        p2p_base_port=args.p2p_base_port,
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


def _devnet_join(args: argparse.Namespace) -> int:
    node = join(args.data, args.member)
    print(f"{node['name']:<20} {node['role']:<10} {node['rpcUrl']}  {node['wsUrl']}")
    return 0


def _devnet_down(args: argparse.Namespace) -> int:
    stopped = down(args.data)
    print(f"stopped: {', '.join(stopped) or 'nothing was running'}")
    return 0


def _devnet_status(args: argparse.Namespace) -> int:
    for row in status(args.data):
        if row["up"]:
            round_number = row.get("round")
            print(
                f"{row['name']:<20} {row.get('consensus', '?'):<9} "
                f"height {row['blockNumber']:<8} "
                f"round {'-' if round_number is None else round_number:<4} "
                f"peers {len(row.get('peers', []))}  "
                f"last block {row['secondsSinceLastBlock']}s ago  "
                f"pending {row['pendingTransactions']}"
            )
        else:
            print(f"{row['name']:<20} down ({row['error']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
