"""The gossip layer survives whatever a peer sends and warns once per problem."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth_typing import Address

from chain.genesis import Genesis
from chain.ledger import Ledger
from node.consensus.host import ChainThread
from node.gossip import (
    BLOCK_REQUEST_BURST,
    BLOCKS,
    GET_BLOCKS,
    NEW_BLOCK,
    QBFT,
    STATUS,
    TRANSACTIONS,
    PeerService,
    RequestBudget,
)
from node.transport.network import InboundMessage
from tests.chain.factories import address_of, make_genesis, make_key, signed_transfer

SENDER = make_key(100)


class FakeNetwork:
    """Plays back inbound messages and records what is sent to whom."""

    def __init__(
        self, inbound: list[InboundMessage], connected: frozenset[str] = frozenset()
    ) -> None:
        self.inbound = inbound
        self.connected = connected
        self.sent: list[tuple[str, int]] = []

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def messages(self) -> AsyncIterator[InboundMessage]:
        for message in self.inbound:
            yield message
        await asyncio.Event().wait()

    def connected_peers(self) -> frozenset[str]:
        return self.connected

    async def broadcast(self, kind: int, payload: bytes) -> list[str]:
        self.sent += [(peer_id, kind) for peer_id in sorted(self.connected)]
        return sorted(self.connected)

    async def send(self, peer_id: str, kind: int, payload: bytes) -> None:
        self.sent.append((peer_id, kind))


@pytest.fixture
def genesis() -> Genesis:
    return make_genesis([make_key(0)], [SENDER])


@pytest.fixture
def ledger(genesis: Genesis, tmp_path: Path) -> Iterator[Ledger]:
    opened = Ledger(tmp_path / "node", genesis, sync_writes=False)
    yield opened
    opened.close()


async def play(
    ledger: Ledger,
    inbound: list[InboundMessage],
    network: FakeNetwork | None = None,
    member_addresses: dict[str, Address] | None = None,
) -> PeerService:
    chain = ChainThread(
        ledger, None, on_new_head=lambda header: None, on_bad_block=lambda p, r: None
    )
    fake: Any = network or FakeNetwork(inbound)
    service = PeerService(fake, ledger, chain, member_addresses or {})
    await service.start()
    service.send_qbft(0x12, b"a prepare")
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


def test_block_requests_beyond_the_budget_are_ignored_and_warned_once(
    ledger: Ledger, caplog: pytest.LogCaptureFixture
) -> None:
    request = rlp.encode([0, 1])
    inbound = [InboundMessage("greedy", GET_BLOCKS, request) for _ in range(40)]
    network = FakeNetwork(inbound)

    with caplog.at_level(logging.WARNING, logger="node.gossip"):
        asyncio.run(play(ledger, inbound, network))

    answered = [peer for peer, kind in network.sent if kind == BLOCKS]
    assert BLOCK_REQUEST_BURST <= len(answered) <= BLOCK_REQUEST_BURST + 2
    warnings = [r for r in caplog.records if "over the limit" in r.getMessage()]
    assert len(warnings) == 1


def test_request_budget_refills_at_its_rate() -> None:
    now = [0.0]
    budget = RequestBudget(rate=2.0, burst=3, clock=lambda: now[0])

    assert [budget.allow("peer") for _ in range(4)] == [True, True, True, False]
    now[0] = 0.5  # one request's worth later
    assert [budget.allow("peer") for _ in range(2)] == [True, False]
    assert budget.allow("other peer")


def test_qbft_messages_go_only_to_validators_and_unknown_peers(
    ledger: Ledger, genesis: Genesis
) -> None:
    validator = genesis.validators[0]
    network = FakeNetwork([], frozenset({"validator", "observer", "stranger"}))
    addresses = {"validator": validator, "observer": Address(b"\x07" * 20)}

    asyncio.run(play(ledger, [], network, addresses))

    assert sorted(peer for peer, kind in network.sent if kind == QBFT) == [
        "stranger",
        "validator",
    ]
