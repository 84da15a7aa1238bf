"""A byzantine member over the real transport: rejected, logged, harmless.

The bank's node is stopped and the test takes over its identity (its TLS
certificate, so the other members accept the connection, and its validator
key). It floods the others with malformed and dishonest QBFT messages: garbage
bytes, an unknown message code, a PREPARE signed by a non-validator, a PREPARE
naming a wrong digest, a COMMIT with a forged committed seal. The three honest
validators are a quorum of four, so the chain must keep committing, no node may
crash, and the rejections must show in the logs.

Then, still as the bank, it equivocates: it catches its own ledger up over the
peer protocol, waits for a height whose round 0 it proposes, and sends every
validator two different blocks for that round. Each honest node takes the
first and refuses the second; the second block is committed nowhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chain.block_production import build_block, import_block
from chain.genesis import load_genesis
from chain.ledger import Ledger
from chain.qbft.messages import (
    CommitPayload,
    MessageCode,
    PreparePayload,
    Proposal,
    ProposalPayload,
    sign,
)
from chain.qbft.signing import sign_hash
from chain.qbft.validators import select_proposer
from node.consensus.block_interface import decode_block, encode_block, without_seals
from node.gossip import BLOCKS, GET_BLOCKS, MESSAGE_KINDS, QBFT
from node.keys import read_node_key
from node.permissions import load_member_peers
from node.sync import decode_blocks, encode_request
from node.transport.identity import identity_paths, read_identity
from node.transport.network import PeerNetwork
from tests.network.test_consortium import (
    _wait_until_dead,
    assert_same_chain,
    head,
    rpc,
    wait_for,
)
from tests.support.devnet import running_devnet

pytestmark = pytest.mark.network

HONEST = ("town", "dashigai-village", "shop")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp("byzantine")
    with running_devnet(data_dir, "--validators", "4") as started:
        started["dataDir"] = data_dir
        yield started


def dishonest_messages(height: int, bank_key: bytes) -> list[bytes]:
    stranger = secrets.token_bytes(32)
    digest = secrets.token_bytes(32)
    forged_seal = sign_hash(digest, stranger)
    prepare_by_stranger = sign(PreparePayload(height, 0, digest), stranger)
    prepare_wrong_digest = sign(PreparePayload(height, 0, digest), bank_key)
    commit_forged_seal = sign(CommitPayload(height, 0, digest, forged_seal), bank_key)
    return [
        bytes([MessageCode.PREPARE]) + b"\xde\xad\xbe\xef",
        bytes([0x99]) + b"\xc0",
        bytes([MessageCode.PREPARE]) + prepare_by_stranger.encode(),
        bytes([MessageCode.PREPARE]) + prepare_wrong_digest.encode(),
        bytes([MessageCode.COMMIT]) + commit_forged_seal.encode(),
    ]


def bank_network(data_dir: Path, nodes: dict[str, dict[str, Any]]) -> PeerNetwork:
    """A peer network with the bank's identity, on the bank's port."""
    bank_dir = data_dir / "nodes" / "bank"
    identity = read_identity(*identity_paths(bank_dir))
    peers = load_member_peers(
        load_genesis(data_dir / "genesis.json"), bank_dir / "peers.json"
    )
    return PeerNetwork(identity, peers, MESSAGE_KINDS, port=nodes["bank"]["p2pPort"])


async def impersonate_bank(
    data_dir: Path, nodes: dict[str, dict[str, Any]], seconds: float
) -> int:
    network = bank_network(data_dir, nodes)
    bank_key = read_node_key(data_dir / "nodes" / "bank" / "key").private_key
    sent = 0
    await network.start()
    try:
        await network.wait_for_peers(list(HONEST), timeout=30)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            height = head(nodes["town"]) + 1
            for payload in dishonest_messages(height, bank_key):
                await network.broadcast(QBFT, payload)
                sent += 1
            await asyncio.sleep(0.2)
    finally:
        await network.stop()
    return sent


def test_dishonest_member_is_rejected_and_consensus_continues(
    manifest: dict[str, Any],
) -> None:
    data_dir = Path(manifest["dataDir"])
    nodes = {n["name"]: n for n in manifest["nodes"]}
    os.kill(nodes["bank"]["pid"], signal.SIGKILL)
    _wait_until_dead(nodes["bank"]["pid"])
    before = head(nodes["town"])

    sent = asyncio.run(impersonate_bank(data_dir, nodes, seconds=15))

    assert sent > 50
    honest = [nodes[name] for name in HONEST] + [nodes["regulator"]]
    assert head(nodes["town"]) >= before + 3, "the honest quorum must keep committing"
    assert_same_chain(honest)
    log = (data_dir / "nodes" / "town" / "node.log").read_text()
    assert "rejected QBFT" in log
    for node in honest:
        with open(data_dir / "nodes" / node["name"] / "node.log") as handle:
            assert "Traceback" not in handle.read(), f"{node['name']} crashed"


async def catch_up(network: PeerNetwork, ledger: Ledger) -> None:
    """Import the town's blocks after ``ledger``'s head, over the peer protocol."""
    while True:
        first = ledger.head.block_number + 1
        await network.send("town", GET_BLOCKS, encode_request(first, 64))
        try:
            async with asyncio.timeout(3):
                while (message := await network.receive()).kind != BLOCKS:
                    pass  # consensus traffic and head announcements
        except TimeoutError:
            return  # over the town's request budget: ask again later
        blocks = decode_blocks(message.payload)
        if not blocks:
            return
        for _, encoded in blocks:
            import_block(ledger, decode_block(encoded))


def two_proposals(ledger: Ledger, bank_key: bytes) -> list[tuple[bytes, bytes]]:
    """Two different blocks for the next height, round 0: (hash, PROPOSAL)."""
    height = ledger.head.block_number + 1
    earliest = ledger.head.timestamp + 1
    proposals = []
    for timestamp in (max(earliest, int(time.time())) + offset for offset in (0, 1)):
        block = without_seals(build_block(ledger, bank_key, timestamp).block)
        payload = ProposalPayload(height, 0, encode_block(block))
        message = (
            bytes([MessageCode.PROPOSAL]) + Proposal(sign(payload, bank_key)).encode()
        )
        proposals.append((block.header.hash, message))
    return proposals


async def equivocate_as_bank(
    data_dir: Path, nodes: dict[str, dict[str, Any]]
) -> tuple[int, list[bytes]]:
    """Wait for a height the bank proposes; send both proposals to everyone."""
    bank_dir = data_dir / "nodes" / "bank"
    bank_key = read_node_key(bank_dir / "key")
    ledger = Ledger(bank_dir, load_genesis(data_dir / "genesis.json"))
    network = bank_network(data_dir, nodes)
    await network.start()
    try:
        await network.wait_for_peers(list(HONEST), timeout=30)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            await catch_up(network, ledger)
            parent = ledger.head
            validators = ledger.validators_after(parent)
            if select_proposer(validators, parent.coinbase, 0) == bank_key.address:
                proposals = two_proposals(ledger, bank_key.private_key)
                for _, message in proposals:
                    await network.broadcast(QBFT, message)
                return parent.block_number + 1, [h for h, _ in proposals]
            await asyncio.sleep(0.5)
        raise AssertionError("the bank's turn to propose did not come")
    finally:
        await network.stop()
        ledger.close()


def test_equivocating_proposer_is_refused_and_consensus_continues(
    manifest: dict[str, Any],
) -> None:
    data_dir = Path(manifest["dataDir"])
    nodes = {n["name"]: n for n in manifest["nodes"]}
    with contextlib.suppress(ProcessLookupError):  # the test above may have
        os.kill(nodes["bank"]["pid"], signal.SIGKILL)
    _wait_until_dead(nodes["bank"]["pid"])

    height, (first, second) = asyncio.run(equivocate_as_bank(data_dir, nodes))

    honest = [nodes[name] for name in HONEST] + [nodes["regulator"]]
    wait_for(lambda: head(nodes["town"]) >= height + 2, 60, "commits after it")
    assert_same_chain(honest)
    for node in honest:
        assert (
            rpc(node["rpcUrl"], "eth_getBlockByHash", "0x" + second.hex(), False)
            is None
        )
    for name in HONEST:
        log = (data_dir / "nodes" / name / "node.log").read_text()
        assert "second proposal for the round" in log, name
        assert "Traceback" not in log, f"{name} crashed"
