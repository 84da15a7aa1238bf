"""Four validators and the regulator's observer as separate processes on loopback.

One devnet serves the whole module; the tests run in file order and build on
each other: transactions gossip to the proposer, every node holds the same
chain, a validator killed with SIGKILL does not stop the chain and catches up
when restarted, and a node whose data folder was emptied syncs from genesis.

Two of four down, with a client streaming transfers, is in
``test_consortium_faults`` (marked slow).

The two-against-two partition is in ``test_partition.py``; repeated kills
under load and two of four down are the slow tests in
``test_consortium_faults.py``.

Byzantine messages over the real transport are in ``test_byzantine_peer.py``.

An equivocating proposer (two proposals for one round) is in
``test_byzantine_peer.py`` too.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from tests.support.devnet import account, gongfen, running_devnet, web3_for

pytestmark = pytest.mark.network

VALIDATORS = ("town", "dashigai-village", "bank", "shop")


@pytest.fixture(scope="module")
def devnet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp("consortium")
    with running_devnet(data_dir, "--validators", "4") as manifest:
        manifest["dataDir"] = data_dir
        yield manifest


def rpc(url: str, method: str, *params: Any) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    request = urllib.request.Request(
        url, body.encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["result"]


def head(node: dict[str, Any]) -> int:
    return int(rpc(node["rpcUrl"], "eth_blockNumber"), 16)


def block_hashes(node: dict[str, Any], last: int) -> list[str]:
    """Return the node's block hashes from genesis to ``last`` (one batch call)."""
    batch = [
        {
            "jsonrpc": "2.0",
            "id": number,
            "method": "eth_getBlockByNumber",
            "params": [hex(number), False],
        }
        for number in range(last + 1)
    ]
    request = urllib.request.Request(
        node["rpcUrl"], json.dumps(batch).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answers = sorted(json.loads(response.read()), key=lambda a: a["id"])
    return [answer["result"]["hash"] for answer in answers]


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def nodes_by_name(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {node["name"]: node for node in manifest["nodes"]}


def assert_same_chain(nodes: list[dict[str, Any]]) -> None:
    common = min(head(node) for node in nodes)
    chains = {node["name"]: block_hashes(node, common) for node in nodes}
    reference = chains[nodes[0]["name"]]
    for name, chain in chains.items():
        assert chain == reference, f"{name} differs from {nodes[0]['name']}"


def send_transfer(url: str, manifest: dict[str, Any], name: str) -> str:
    signer = Account.from_key(account(manifest, name)["privateKey"])
    w3 = web3_for(url)
    raw = signer.sign_transaction(
        {
            "to": signer.address,
            "value": 1,
            "gas": 21_000,
            "gasPrice": 0,
            "nonce": w3.eth.get_transaction_count(signer.address, "pending"),
            "chainId": w3.eth.chain_id,
        }
    ).raw_transaction
    return "0x" + bytes(w3.eth.send_raw_transaction(raw)).hex()


def restart(manifest: dict[str, Any]) -> dict[str, Any]:
    """Run ``devnet up`` again: it starts the nodes that are not running."""
    data_dir = manifest["dataDir"]
    result = gongfen(
        "devnet", "up", "--data", str(data_dir), "--base-port", "0", "--detach"
    )
    assert result.returncode == 0, result.stderr
    restarted: dict[str, Any] = json.loads((data_dir / "devnet.json").read_text())
    restarted["dataDir"] = data_dir
    return restarted


def test_devnet_runs_four_validators_and_an_observer(devnet: dict[str, Any]) -> None:
    nodes = nodes_by_name(devnet)
    assert [n["name"] for n in devnet["nodes"]] == [*VALIDATORS, "regulator"]
    assert nodes["regulator"]["validator"] is None
    for node in devnet["nodes"]:
        assert node["p2pPort"] > 0

    wait_for(
        lambda: all(len(_health(node)["peers"]) == 4 for node in devnet["nodes"]),
        20,
        "every node to connect to the four others",
    )
    assert _health(nodes["regulator"])["consensus"] == "observer"
    assert _health(nodes["bank"])["consensus"] == "qbft"

    status = gongfen("devnet", "status", "--data", str(devnet["dataDir"]))
    assert status.returncode == 0, status.stderr
    lines = status.stdout.splitlines()
    assert len(lines) == 5
    assert all("peers 4" in line and "round" in line for line in lines)


def test_transfers_sent_to_observer_and_validator_are_included(
    devnet: dict[str, Any],
) -> None:
    nodes = nodes_by_name(devnet)
    sent = {
        send_transfer(nodes["regulator"]["rpcUrl"], devnet, "villager-1"): "regulator",
        send_transfer(nodes["shop"]["rpcUrl"], devnet, "villager-2"): "shop",
    }

    for transaction_hash in sent:
        wait_for(
            lambda h=transaction_hash: all(  # type: ignore[misc]
                rpc(node["rpcUrl"], "eth_getTransactionReceipt", h) is not None
                for node in devnet["nodes"]
            ),
            20,
            f"transaction {transaction_hash} from {sent[transaction_hash]} "
            "on every node",
        )


def test_all_nodes_hold_identical_blocks(devnet: dict[str, Any]) -> None:
    nodes = nodes_by_name(devnet)
    town_head = head(nodes["town"])
    wait_for(lambda: head(nodes["regulator"]) >= town_head, 10, "observer to follow")

    assert_same_chain(devnet["nodes"])


def test_killed_validator_does_not_stop_the_chain_and_catches_up(
    devnet: dict[str, Any],
) -> None:
    nodes = nodes_by_name(devnet)
    os.kill(nodes["bank"]["pid"], signal.SIGKILL)
    survivors = [nodes[name] for name in ("town", "dashigai-village", "shop")]
    before = head(nodes["town"])

    # One validator of four is down: quorum (3) remains; its proposer turns
    # cost a round change.
    wait_for(lambda: head(nodes["town"]) >= before + 5, 40, "commits without bank")
    transaction_hash = send_transfer(nodes["town"]["rpcUrl"], devnet, "villager-1")
    wait_for(
        lambda: (
            rpc(nodes["shop"]["rpcUrl"], "eth_getTransactionReceipt", transaction_hash)
            is not None
        ),
        20,
        "a transfer committed without bank",
    )
    assert_same_chain([*survivors, nodes["regulator"]])

    restarted = nodes_by_name(restart(devnet))
    bank = restarted["bank"]
    wait_for(
        lambda: head(bank) >= head(nodes["town"]) - 1 and head(bank) > before + 5,
        30,
        "restarted bank to catch up",
    )
    assert_same_chain([bank, *survivors, nodes["regulator"]])
    devnet["nodes"] = list(restarted.values())


def test_node_with_empty_data_folder_syncs_from_genesis(
    devnet: dict[str, Any],
) -> None:
    nodes = nodes_by_name(devnet)
    shop_dir = Path(devnet["dataDir"]) / "nodes" / "shop"
    os.kill(nodes["shop"]["pid"], signal.SIGKILL)
    _wait_until_dead(nodes["shop"]["pid"])
    shutil.rmtree(shop_dir / "chain")

    restarted = nodes_by_name(restart(devnet))
    shop = restarted["shop"]
    target = head(nodes["town"])
    wait_for(lambda: head(shop) >= target, 60, "emptied shop to sync from genesis")
    assert_same_chain([shop, nodes["town"], nodes["regulator"]])

    # And it validates again: the chain keeps committing after it rejoined.
    after = head(nodes["town"])
    wait_for(lambda: head(shop) >= after + 3, 30, "commits after the resync")


def test_all_members_restarted_at_once_resume_the_same_chain(
    devnet: dict[str, Any],
) -> None:
    before = nodes_by_name(devnet)
    height = head(before["town"])
    result = gongfen("devnet", "down", "--data", str(devnet["dataDir"]))
    assert result.returncode == 0, result.stderr
    for node in before.values():
        _wait_until_dead(node["pid"])

    restarted = restart(devnet)
    nodes = nodes_by_name(restarted)
    wait_for(
        lambda: min(head(n) for n in nodes.values()) >= height + 3,
        60,
        "every member to commit again after a full restart",
    )
    assert_same_chain(list(nodes.values()))
    devnet["nodes"] = restarted["nodes"]


def _health(node: dict[str, Any]) -> dict[str, Any]:
    with urllib.request.urlopen(node["rpcUrl"] + "/health", timeout=5) as response:
        health: dict[str, Any] = json.loads(response.read())
    return health


def _wait_until_dead(pid: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return
        if stat.rsplit(")", 1)[-1].split()[0] == "Z":
            return
        time.sleep(0.05)
