"""The gossip layer survives whatever a peer sends and warns once per problem."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import rlp

from chain.genesis import Genesis
from chain.ledger import Ledger
from node.consensus.host import ChainThread
from node.gossip import (
    BLOCKS,
    GET_BLOCKS,
    NEW_BLOCK,
    QBFT,
    STATUS,
    TRANSACTIONS,
    PeerService,
)
from node.transport.network import InboundMessage
from tests.chain.factories import address_of, make_genesis, make_key, signed_transfer

SENDER = make_key(100)


class FakeNetwork:
    """Plays back inbound messages; records nothing sent (no peer is connected)."""

    def __init__(self, inbound: list[InboundMessage]) -> None:
        self.inbound = inbound

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def messages(self) -> AsyncIterator[InboundMessage]:
        for message in self.inbound:
            yield message
        await asyncio.Event().wait()

    def connected_peers(self) -> frozenset[str]:
        return frozenset()

    async def broadcast(self, kind: int, payload: bytes) -> list[str]:
        return []

    async def send(self, peer_id: str, kind: int, payload: bytes) -> None:
        pass


@pytest.fixture
def genesis() -> Genesis:
    return make_genesis([make_key(0)], [SENDER])


@pytest.fixture
def ledger(genesis: Genesis, tmp_path: Path) -> Iterator[Ledger]:
    opened = Ledger(tmp_path / "node", genesis, sync_writes=False)
    yield opened
    opened.close()


async def play(ledger: Ledger, inbound: list[InboundMessage]) -> PeerService:
    chain = ChainThread(
        ledger, None, on_new_head=lambda header: None, on_bad_block=lambda p, r: None
    )
    network: Any = FakeNetwork(inbound)
    service = PeerService(network, ledger, chain, observer_peers=())
    await service.start()
    await asyncio.sleep(0.3)
    await service.stop()
    return service


def test_malformed_messages_are_warned_once_and_reading_goes_on(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    garbage = b"\xff\x00\x01"
    bad = [
        InboundMessage("liar", kind, garbage)
        for kind in (TRANSACTIONS, NEW_BLOCK, STATUS, GET_BLOCKS, QBFT)
    ]
    transfer = signed_transfer(SENDER, 0, address_of(make_key(5)), value=1)
    good = InboundMessage("friend", TRANSACTIONS, rlp.encode([transfer]))

    with caplog.at_level(logging.WARNING, logger="node.gossip"):
        service = asyncio.run(play(ledger, [*bad, *bad, good]))

    assert service.bad_messages["liar"] == 8  # the QBFT bytes go to consensus
    warnings = [r for r in caplog.records if "liar" in r.getMessage()]
    assert len(warnings) == 4
    assert len(ledger.pool) == 1


def test_unrequested_blocks_and_known_transactions_are_ignored(
    ledger: Ledger,
) -> None:
    transfer = signed_transfer(SENDER, 0, address_of(make_key(5)), value=1)
    ledger.submit_transaction(transfer)
    inbound = [
        InboundMessage("friend", TRANSACTIONS, rlp.encode([transfer])),
        InboundMessage("friend", BLOCKS, rlp.encode([])),
    ]

    service = asyncio.run(play(ledger, inbound))

    assert service.bad_messages == {}
    assert len(ledger.pool) == 1
