"""Longer fault runs on the four-validator devnet (marked slow).

One validator after another killed with SIGKILL and restarted: the chain keeps
committing throughout. Two of four validators killed: no commit and no fork
while they are down; the chain resumes, whatever round the survivors reached,
once they are back. A client streaming transfers meanwhile finds every receipt
it got in the final chain of every node.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from tests.network.test_consortium import (
    assert_same_chain,
    head,
    nodes_by_name,
    restart,
    rpc,
    wait_for,
)
from tests.network.test_node_crash import stream_transfers
from tests.support.devnet import account, running_devnet, web3_for

pytestmark = [pytest.mark.network, pytest.mark.slow]


def test_two_of_four_down_stops_commits_without_fork_and_recovers(
    tmp_path: Path,
) -> None:
    with running_devnet(tmp_path, "--validators", "4") as manifest:
        manifest["dataDir"] = tmp_path
        nodes = nodes_by_name(manifest)
        town = nodes["town"]
        signer = Account.from_key(account(manifest, "villager-1")["privateKey"])
        receipts: dict[bytes, bytes] = {}
        stop = threading.Event()
        streamer = threading.Thread(
            target=stream_transfers,
            args=(web3_for(town["rpcUrl"]), signer, stop, receipts),
        )
        streamer.start()
        try:
            time.sleep(3)
            for name in ("bank", "shop"):
                os.kill(nodes[name]["pid"], signal.SIGKILL)
            time.sleep(2)  # a block already decided may still land
            stalled_at = head(town)
            time.sleep(12)
            assert head(town) <= stalled_at + 1, "committed without a quorum"
            assert_same_chain([town, nodes["dashigai-village"], nodes["regulator"]])

            restarted = nodes_by_name(restart(manifest))
            wait_for(
                lambda: all(
                    head(restarted[name]) >= stalled_at + 3
                    for name in ("town", "bank", "shop", "regulator")
                ),
                90,
                "the chain to resume with all four validators",
            )
        finally:
            stop.set()
            streamer.join(timeout=30)

        live = list(restarted.values())
        assert_same_chain(live)
        assert len(receipts) > 3
        for transaction_hash, block_hash in receipts.items():
            for node in live:
                receipt = rpc(
                    node["rpcUrl"],
                    "eth_getTransactionReceipt",
                    "0x" + transaction_hash.hex(),
                )
                assert receipt is not None, f"{node['name']} lacks a receipted tx"
                assert bytes.fromhex(receipt["blockHash"][2:]) == block_hash


def caught_up(node: dict[str, Any], observer: dict[str, Any]) -> Callable[[], bool]:
    """A condition: ``node`` has reached the observer's current head."""
    return lambda: head(node) >= head(observer)


def assert_receipts_everywhere(
    nodes: list[dict[str, Any]], receipts: dict[bytes, bytes]
) -> None:
    for transaction_hash, block_hash in receipts.items():
        for node in nodes:
            receipt = rpc(
                node["rpcUrl"],
                "eth_getTransactionReceipt",
                "0x" + transaction_hash.hex(),
            )
            assert receipt is not None, f"{node['name']} lacks a receipted transfer"
            assert bytes.fromhex(receipt["blockHash"][2:]) == block_hash


def test_validators_killed_one_at_a_time_never_stop_the_chain(
    tmp_path: Path,
) -> None:
    with running_devnet(tmp_path, "--validators", "4") as manifest:
        manifest["dataDir"] = tmp_path
        nodes = nodes_by_name(manifest)
        observer = nodes["regulator"]
        signer = Account.from_key(account(manifest, "villager-2")["privateKey"])
        receipts: dict[bytes, bytes] = {}
        stop = threading.Event()
        streamer = threading.Thread(
            target=stream_transfers,
            args=(web3_for(observer["rpcUrl"]), signer, stop, receipts),
        )
        streamer.start()
        try:
            for victim in ("dashigai-village", "shop", "town"):
                os.kill(nodes[victim]["pid"], signal.SIGKILL)
                before = head(observer)
                wait_for(
                    lambda b=before: head(observer) >= b + 4,  # type: ignore[misc]
                    40,
                    f"commits while {victim} is down",
                )
                nodes = nodes_by_name(restart(manifest))
                wait_for(
                    caught_up(nodes[victim], observer),
                    40,
                    f"{victim} to catch up",
                )
        finally:
            stop.set()
            streamer.join(timeout=30)

        live = list(nodes.values())
        assert_same_chain(live)
        assert len(receipts) > 10
        assert_receipts_everywhere(live, receipts)
