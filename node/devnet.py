"""A local consortium on one machine: every member's node as its own process.

``up`` creates (on first use) a genesis with fresh keys for the town, the
villages 大石盖村 and 佛山村, the bank, a shop and the regulator, plus funded dev
accounts; starts the first ``--validators`` members (town, dashigai-village,
bank, shop, foshan-village) as validators and the regulator as an observer,
each its own process with its own data folder, keys, JSON-RPC port and P2P port
on 127.0.0.1; waits until each answers JSON-RPC; deploys the consortium
contracts through the town's node (first start only) and writes
``DIR/devnet.json``. With ``--permissioning allowlist`` (the default) the
Consortium contract decides who may transact once deployed. Running ``up``
again on the same folder restarts the same chain from its data, and starts only
the nodes that are not running (so a test can kill one node and bring it back).
Each node keeps the ports it was first given while they are free, so the
running nodes' permissions files stay right. ``down`` stops the nodes.

Layout of the data folder::

    DIR/genesis.json          the consortium genesis
    DIR/devnet.json           chain id, nodes with URLs, dev accounts with keys,
                              contract addresses
    DIR/deployment.json       the contract addresses, for the API
    DIR/nodes/<member>/key    the member's node key (owner-only)
    DIR/nodes/<member>/transport.key, transport.crt
                              the member's TLS identity, pinned in the genesis
    DIR/nodes/<member>/peers.json
                              the node's permissions file: every member's P2P
                              address on 127.0.0.1
    DIR/nodes/<member>/chain  LevelDB
    DIR/nodes/<member>/node.log, node.pid

Members other than the first ``--validators`` and the regulator run no node
until ``join`` starts one; the validators can then vote it into the set.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_typing import Address

from chain.genesis import Member, build_genesis_document
from node.devnet_contracts import (
    DEV_MEMBER_ROLES,
    DEV_VILLAGERS,
    deploy_devnet_contracts,
    first_contract_address,
)
from node.keys import generate_node_key, write_node_key
from node.ports import free_port, port_is_free
from node.process import node_command
from node.transport.identity import create_member_identities

DEVNET_CHAIN_ID = 20261
DEV_BALANCE = 10**24
DEVNET_REQUEST_TIMEOUT_SECONDS = 8
STARTUP_TIMEOUT_SECONDS = 60
DEFAULT_VALIDATORS = 4

# (member id, name, role) in the order validators are chosen.
MEMBERS = (
    ("town", "镇政府", "town"),
    ("dashigai-village", "大石盖村", "village"),
    ("bank", "农商银行", "bank"),
    ("shop", "村口超市", "shop"),
    ("foshan-village", "佛山村", "village"),
    ("regulator", "监管机构", "regulator"),
)
DEV_ACCOUNTS = (
    "town-admin",
    "dashigai-admin",
    "foshan-admin",
    "bank-operator",
    "shop-cashier",
    "regulator-auditor",
    "villager-1",
    "villager-2",
    "outsider",  # funded but not on the allowlist, for permission tests
)


class DevnetError(Exception):
    """The devnet could not be created, started or stopped."""


@dataclass(frozen=True)
class DevnetOptions:
    data_dir: Path
    validators: int = DEFAULT_VALIDATORS
    permissioning: str = "allowlist"
    base_port: int = 8545
    p2p_base_port: int = 30303
    block_period_seconds: int = 1


def up(options: DevnetOptions) -> dict[str, Any]:
    """Create the devnet on first use, start its nodes and return the manifest."""
    data_dir = options.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    if not (data_dir / "genesis.json").exists():
        _create(data_dir, options)
    manifest = _read_json(data_dir / "devnet.json")
    first_node = data_dir / "nodes" / manifest["nodes"][0]["name"]
    if not (first_node / "transport.crt").exists():
        raise DevnetError(
            f"{data_dir} holds a devnet made before nodes had peers; "
            "remove the folder (or pick another) and run `devnet up` again"
        )
    stopped = [
        node for node in manifest["nodes"] if not _node_is_running(data_dir, node)
    ]
    _assign_ports(manifest["nodes"], stopped, options)
    _write_json(data_dir / "devnet.json", manifest)
    for node in manifest["nodes"]:
        _write_permissions(data_dir, node, manifest["nodes"])
    for node in stopped:
        _start_node(data_dir, node)
    for node in manifest["nodes"]:
        _wait_until_ready(node, data_dir)
    if "contracts" not in manifest:
        accounts = {a["name"]: a for a in manifest["accounts"]}
        deployment = deploy_devnet_contracts(
            manifest["nodes"][0]["rpcUrl"], accounts, data_dir / "deployment.json"
        )
        manifest["contracts"] = deployment["contracts"]
        manifest["villages"] = deployment["villages"]
        manifest["deployment"] = str(data_dir / "deployment.json")
    _write_json(data_dir / "devnet.json", manifest)
    return manifest  # type: ignore[no-any-return]


def join(data_dir: Path, member_id: str) -> dict[str, Any]:
    """Start the node of a genesis member that runs none yet; return its entry.

    The node syncs from genesis and follows the chain as an observer until the
    validators vote its key in (``qbft_proposeValidatorVote``); from the block
    at which the vote takes effect it validates. Its ports are picked free and
    ``devnet up`` restarts it with the others from then on. Every node's
    peers.json gains its address, which running nodes reread.
    """
    data_dir = data_dir.resolve()
    manifest = _read_json(data_dir / "devnet.json")
    names = {node["name"] for node in manifest["nodes"]}
    if member_id in names:
        raise DevnetError(f"{member_id} already runs a node; `devnet up` restarts it")
    idle = [m for m in MEMBERS if m[0] not in names]
    member = next((m for m in idle if m[0] == member_id), None)
    if member is None:
        raise DevnetError(
            f"{member_id!r} is not a member of this devnet without a node; "
            f"choose one of: {', '.join(m[0] for m in idle) or 'none left'}"
        )

    _, name, role = member
    node: dict[str, Any] = {
        "name": member_id,
        "displayName": name,
        "role": role,
        "validator": None,
    }
    manifest["nodes"].append(node)
    free_ports = DevnetOptions(data_dir, base_port=0, p2p_base_port=0)
    _assign_ports(manifest["nodes"], [node], free_ports)
    for each in manifest["nodes"]:
        _write_permissions(data_dir, each, manifest["nodes"])
    _start_node(data_dir, node)
    _wait_until_ready(node, data_dir)
    _write_json(data_dir / "devnet.json", manifest)
    return node


def down(data_dir: Path) -> list[str]:
    """Stop every node of the devnet in ``data_dir``; return the names stopped."""
    data_dir = data_dir.resolve()
    stopped = []
    for pid_file in sorted((data_dir / "nodes").glob("*/node.pid")):
        pid = int(pid_file.read_text())
        if _stop_process(pid):
            stopped.append(pid_file.parent.name)
        pid_file.unlink(missing_ok=True)
    return stopped


def status(data_dir: Path) -> list[dict[str, Any]]:
    """Return each node's height, peers and last block time, or why it is down."""
    manifest = _read_json(data_dir.resolve() / "devnet.json")
    rows = []
    for node in manifest["nodes"]:
        try:
            health = _get_json(node["rpcUrl"] + "/health")
            rows.append({"name": node["name"], "up": True, **health})
        except OSError as error:
            rows.append({"name": node["name"], "up": False, "error": str(error)})
    return rows


def _create(data_dir: Path, options: DevnetOptions) -> None:
    if not 1 <= options.validators <= len(MEMBERS) - 1:
        raise DevnetError(f"--validators must be 1 to {len(MEMBERS) - 1}")
    member_keys = {member_id: generate_node_key() for member_id, _, _ in MEMBERS}
    identities = create_member_identities(
        data_dir / "nodes", [member_id for member_id, _, _ in MEMBERS]
    )
    members = []
    validators: list[Address] = []
    for index, (member_id, name, role) in enumerate(MEMBERS):
        key = member_keys[member_id]
        is_validator = role != "regulator" and index < options.validators
        members.append(
            Member(
                member_id,
                name,
                role,
                key.address if is_validator else None,
                key.public_key,
                identities[member_id].fingerprint,
                identities[member_id].certificate_pem.decode(),
            )
        )
        if is_validator:
            validators.append(key.address)
        write_node_key(data_dir / "nodes" / member_id / "key", key)

    accounts = {name: generate_node_key() for name in DEV_ACCOUNTS}
    # Only the node keys and the town admin, who deploys the contracts, are
    # permitted by genesis; everyone else needs a role in the Consortium contract.
    permitted = [accounts["town-admin"].address]
    permitted += [k.address for k in member_keys.values()]
    document = build_genesis_document(
        chain_id=DEVNET_CHAIN_ID,
        members=members,
        validators=validators,
        balances={k.address: DEV_BALANCE for k in accounts.values()},
        permissioning=options.permissioning,
        allowlist=permitted,
        block_period_seconds=options.block_period_seconds,
        # A full block of 500 transfers takes py-evm about a second to build
        # and as long again to execute on each validator; with five nodes on a
        # laptop's two cores, 4 s rounds timed out on the first full block of a
        # burst and cost a round change. 8 s leaves room for that.
        request_timeout_seconds=DEVNET_REQUEST_TIMEOUT_SECONDS,
        timestamp=int(time.time()),
        permission_contract=first_contract_address(accounts["town-admin"].address)
        if options.permissioning == "allowlist"
        else None,
    )
    _write_json(data_dir / "genesis.json", document)
    manifest = {
        "chainId": DEVNET_CHAIN_ID,
        "genesis": str(data_dir / "genesis.json"),
        "permissioning": options.permissioning,
        "nodes": [
            {
                "name": m.id,
                "displayName": m.name,
                "role": m.role,
                "validator": None if m.validator is None else "0x" + m.validator.hex(),
            }
            for m in members
            if m.validator is not None or m.role == "regulator"
        ],
        "accounts": [
            {
                "name": name,
                "address": "0x" + key.address.hex(),
                "privateKey": "0x" + key.private_key.hex(),
                "role": _dev_role(name),
            }
            for name, key in accounts.items()
        ],
    }
    _write_json(data_dir / "devnet.json", manifest)


def _dev_role(account_name: str) -> str | None:
    for name, role, _village in DEV_MEMBER_ROLES:
        if name == account_name:
            return role
    return "villager" if account_name in DEV_VILLAGERS else None


def _node_is_running(data_dir: Path, node: dict[str, Any]) -> bool:
    pid_file = data_dir / "nodes" / node["name"] / "node.pid"
    return pid_file.exists() and _is_running(int(pid_file.read_text()))


def _assign_ports(
    nodes: list[dict[str, Any]], starting: list[dict[str, Any]], options: DevnetOptions
) -> None:
    """Give each node to start an RPC and a P2P port, keeping its old ones if free.

    A node whose old P2P port was taken meanwhile gets a new one; the running
    nodes reread their peers.json and dial it there.
    """
    for index, node in enumerate(nodes):
        if node not in starting:
            continue
        for key, base in (
            ("rpcPort", options.base_port),
            ("p2pPort", options.p2p_base_port),
        ):
            kept = node.get(key)
            if kept is not None and port_is_free(kept):
                continue
            node[key] = _pick_port(0 if options.base_port == 0 else base + index)
        node["rpcUrl"] = f"http://127.0.0.1:{node['rpcPort']}"
        node["wsUrl"] = f"ws://127.0.0.1:{node['rpcPort']}"


def _pick_port(port: int) -> int:
    if port == 0:
        return free_port()
    if not port_is_free(port):
        raise DevnetError(
            f"port {port} on 127.0.0.1 is in use; pass --base-port and "
            "--p2p-base-port with free ports, or --base-port 0 to pick free ports"
        )
    return port


def _write_permissions(
    data_dir: Path, node: dict[str, Any], nodes: list[dict[str, Any]]
) -> None:
    # The pins are in the genesis; the permissions file says where to dial.
    document = {
        "members": [
            {"id": other["name"], "host": "127.0.0.1", "port": other["p2pPort"]}
            for other in nodes
        ]
    }
    path = data_dir / "nodes" / node["name"] / "peers.json"
    path.write_text(json.dumps(document, indent=2) + "\n")


def _start_node(data_dir: Path, node: dict[str, Any]) -> None:
    node_dir = data_dir / "nodes" / node["name"]
    pid_file = node_dir / "node.pid"
    command = node_command(
        node_dir,
        data_dir / "genesis.json",
        node_dir / "key",
        node["rpcPort"],
        peers=node_dir / "peers.json",
        transport_dir=node_dir,
        p2p_port=node["p2pPort"],
    )
    log = open(node_dir / "node.log", "ab")  # noqa: SIM115  kept by the child
    process = subprocess.Popen(
        command,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        cwd=str(Path(__file__).resolve().parents[1]),
    )
    log.close()
    pid_file.write_text(str(process.pid))
    node["pid"] = process.pid
    node["log"] = str(node_dir / "node.log")


def _wait_until_ready(node: dict[str, Any], data_dir: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if not _is_running(node["pid"]):
            raise DevnetError(
                f"node {node['name']} exited at startup; see {node['log']}, "
                f"which ends:\n{_log_tail(Path(node['log']))}"
            )
        try:
            _get_json(node["rpcUrl"] + "/health")
            return
        except OSError:
            time.sleep(0.2)
    raise DevnetError(
        f"node {node['name']} did not answer within "
        f"{STARTUP_TIMEOUT_SECONDS}s; see {node['log']}"
    )


def _log_tail(path: Path, lines: int = 15) -> str:
    """The last lines of a node's log, for an error that says why it stopped
    (the log may be gone by the time anyone reads the message, as on CI)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as error:
        return f"(cannot read it: {error.strerror})"
    return "\n".join("    " + line for line in text.splitlines()[-lines:])


def _is_running(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A killed node whose parent has not reaped it yet is a zombie: not running.
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _stop_process(pid: int, timeout: float = 30) -> bool:
    if not _is_running(pid):
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _is_running(pid):
            return True
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    return True


def _get_json(url: str) -> Any:
    # Loopback only: the devnet's own nodes.
    with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310
        return json.loads(response.read())


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DevnetError(f"{path} not found; run `gongfen devnet up` first") from None


def _write_json(path: Path, document: Any) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    # devnet.json holds the dev accounts' private keys.
    temporary.chmod(0o600)
    os.replace(temporary, path)
