"""A byzantine member over the real transport: rejected, logged, harmless.

The bank's node is stopped and the test takes over its identity (its TLS
certificate, so the other members accept the connection, and its validator
key). It floods the others with malformed and dishonest QBFT messages: garbage
bytes, an unknown message code, a PREPARE signed by a non-validator, a PREPARE
naming a wrong digest, a COMMIT with a forged committed seal. The three honest
validators are a quorum of four, so the chain must keep committing, no node may
crash, and the rejections must show in the logs.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chain.genesis import load_genesis
from chain.qbft.messages import CommitPayload, MessageCode, PreparePayload, sign
from chain.qbft.signing import sign_hash
from node.gossip import MESSAGE_KINDS, QBFT
from node.keys import read_node_key
from node.permissions import load_member_peers
from node.transport.identity import identity_paths, read_identity
from node.transport.network import PeerNetwork
from tests.network.test_consortium import _wait_until_dead, assert_same_chain, head
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


async def impersonate_bank(
    data_dir: Path, nodes: dict[str, dict[str, Any]], seconds: float
) -> int:
    bank_dir = data_dir / "nodes" / "bank"
    identity = read_identity(*identity_paths(bank_dir))
    peers = load_member_peers(
        load_genesis(data_dir / "genesis.json"), bank_dir / "peers.json"
    )
    network = PeerNetwork(identity, peers, MESSAGE_KINDS, port=nodes["bank"]["p2pPort"])
    bank_key = read_node_key(bank_dir / "key").private_key
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
