"""SIGKILL a node during a steady stream of transactions, then restart it."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from tests.support.devnet import account, gongfen, running_devnet, web3_for

pytestmark = pytest.mark.network


def stream_transfers(
    w3: Web3, signer: Any, stop: threading.Event, receipts: dict[bytes, bytes]
) -> None:
    """Send transfers one after another and record each receipt's block hash."""
    while not stop.is_set():
        try:
            nonce = w3.eth.get_transaction_count(signer.address, "pending")
            raw = signer.sign_transaction(
                {
                    "to": signer.address,
                    "value": 1,
                    "gas": 21_000,
                    "gasPrice": 0,
                    "nonce": nonce,
                    "chainId": w3.eth.chain_id,
                }
            ).raw_transaction
            transaction_hash = w3.eth.send_raw_transaction(raw)
            receipt = w3.eth.wait_for_transaction_receipt(
                transaction_hash, timeout=5, poll_latency=0.05
            )
            receipts[bytes(transaction_hash)] = bytes(receipt.blockHash)
        except Exception:
            time.sleep(0.05)  # the node is down; keep trying until told to stop


def test_restarted_node_keeps_every_confirmed_transaction(tmp_path: Path) -> None:
    with running_devnet(tmp_path) as manifest:
        node = manifest["nodes"][0]
        w3 = web3_for(node["rpcUrl"])
        signers = [
            Account.from_key(account(manifest, n)["privateKey"])
            for n in ("villager-1", "villager-2")
        ]
        receipts: dict[bytes, bytes] = {}
        stop = threading.Event()
        threads = [
            threading.Thread(target=stream_transfers, args=(w3, s, stop, receipts))
            for s in signers
        ]
        for thread in threads:
            thread.start()
        try:
            for _round in range(2):
                time.sleep(3)
                os.kill(node["pid"], signal.SIGKILL)
                confirmed_before_kill = dict(receipts)
                result = gongfen(
                    "devnet",
                    "up",
                    "--data",
                    str(tmp_path),
                    "--base-port",
                    "0",
                    "--detach",
                )
                assert result.returncode == 0, result.stderr
                restarted = json.loads((tmp_path / "devnet.json").read_text())
                node = {n["name"]: n for n in restarted["nodes"]}[node["name"]]
                w3.provider = web3_for(node["rpcUrl"]).provider
                for transaction_hash, block_hash in confirmed_before_kill.items():
                    receipt = w3.eth.get_transaction_receipt(transaction_hash)
                    assert bytes(receipt.blockHash) == block_hash
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=30)

        assert len(receipts) > 10
        height = w3.eth.block_number
        deadline = time.time() + 10
        while w3.eth.block_number <= height + 1 and time.time() < deadline:
            time.sleep(0.2)
        assert w3.eth.block_number > height + 1
        for transaction_hash, block_hash in receipts.items():
            assert (
                bytes(w3.eth.get_transaction_receipt(transaction_hash).blockHash)
                == block_hash
            )
