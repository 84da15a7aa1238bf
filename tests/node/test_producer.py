"""The one-validator producer builds ahead of each slot and commits at it."""

from __future__ import annotations

import queue
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth.abc import BlockHeaderAPI

from chain.ledger import Ledger
from node.keys import NodeKey
from node.metrics import NodeMetrics
from node.producer import BlockProducer, BuildTimeEstimate
from tests.chain.factories import (
    address_of,
    make_genesis,
    make_key,
    signed_transfer,
)

VALIDATOR, SENDER = make_key(1), make_key(2)
RECEIVER = address_of(make_key(3))
BUILD_LEAD = 0.6  # seconds before its slot that each build starts, in these tests


def test_estimate_learns_the_cost_per_transaction() -> None:
    estimate = BuildTimeEstimate(fixed_seconds=0.01, seconds_per_transaction=0.01)
    for _ in range(30):
        estimate.record(500, 0.01 + 500 * 0.001)

    assert estimate.seconds_per_transaction == pytest.approx(0.001, rel=0.01)
    assert estimate.seconds_for(500) == pytest.approx(
        estimate.MARGIN * (0.01 + 0.5), rel=0.01
    )


def test_estimate_learns_the_fixed_cost_from_small_blocks() -> None:
    estimate = BuildTimeEstimate(fixed_seconds=0.5)
    for _ in range(30):
        estimate.record(0, 0.02)

    assert estimate.fixed_seconds == pytest.approx(0.02, rel=0.01)
    assert estimate.seconds_for(100) > estimate.seconds_for(0)


Committed = queue.Queue[tuple[BlockHeaderAPI, float]]


@pytest.fixture
def producing(tmp_path: Path) -> Iterator[tuple[Ledger, Committed]]:
    """A producer whose blocks hold at most two transactions and whose builds
    start BUILD_LEAD before their slot when the pool holds a full block."""
    ledger = Ledger(tmp_path, make_genesis([VALIDATOR], [SENDER]))
    committed: Committed = queue.Queue()
    lead = BuildTimeEstimate(fixed_seconds=BUILD_LEAD / BuildTimeEstimate.MARGIN)
    lead.WEIGHT = 0.0  # a steady lead, so that the test knows when builds start
    producer = BlockProducer(
        ledger,
        NodeKey(VALIDATOR),
        block_period_seconds=1,
        max_transactions=2,
        metrics=NodeMetrics(),
        on_block=lambda header: committed.put((header, time.time())),
        build_time=lead,
    )
    producer.start()
    try:
        yield ledger, committed
    finally:
        producer.stop()
        producer.join(timeout=10)
        ledger.close()


def test_blocks_are_committed_at_their_timestamp_and_not_before(
    producing: tuple[Ledger, Committed],
) -> None:
    ledger, committed = producing
    for nonce in range(3):
        ledger.submit_transaction(signed_transfer(SENDER, nonce, RECEIVER))

    blocks = [committed.get(timeout=10) for _ in range(3)]

    for header, visible_at in blocks:
        assert visible_at >= header.timestamp
    timestamps = [header.timestamp for header, _ in blocks]
    assert timestamps == list(range(timestamps[0], timestamps[0] + 3))
    assert sum(len(ledger.encoded_transactions_of(h)) for h, _ in blocks) == 3


def test_a_full_block_is_built_before_its_slot(
    producing: tuple[Ledger, Committed],
) -> None:
    ledger, committed = producing
    first, _ = committed.get(timeout=10)
    next_slot = first.timestamp + 1
    for nonce in range(2):  # a full block, in time for the early build
        ledger.submit_transaction(signed_transfer(SENDER, nonce, RECEIVER))
    _sleep_until(next_slot - BUILD_LEAD / 2)  # the build has started
    late = ledger.submit_transaction(signed_transfer(SENDER, 2, RECEIVER))

    built_ahead, visible_at = committed.get(timeout=10)
    following, _ = committed.get(timeout=10)

    assert built_ahead.timestamp == next_slot <= visible_at
    assert len(ledger.encoded_transactions_of(built_ahead)) == 2
    location = ledger.transaction_location(late)
    assert location is not None and location.block_number == following.block_number


def test_a_block_with_room_left_waits_for_its_slot(
    producing: tuple[Ledger, Committed],
) -> None:
    ledger, committed = producing
    first, _ = committed.get(timeout=10)
    next_slot = first.timestamp + 1
    _sleep_until(next_slot - BUILD_LEAD / 2)
    arrived_late = ledger.submit_transaction(signed_transfer(SENDER, 0, RECEIVER))

    header, _ = committed.get(timeout=10)

    assert header.timestamp == next_slot
    location = ledger.transaction_location(arrived_late)
    assert location is not None and location.block_number == header.block_number


def test_transactions_behind_a_nonce_gap_do_not_make_a_block_full(
    producing: tuple[Ledger, Committed],
) -> None:
    ledger, committed = producing
    first, _ = committed.get(timeout=10)
    next_slot = first.timestamp + 1
    for nonce in (0, 2):  # two pooled, one ready: room is left
        ledger.submit_transaction(signed_transfer(SENDER, nonce, RECEIVER))
    _sleep_until(next_slot - BUILD_LEAD / 2)  # a full block would be building
    gap_filled = ledger.submit_transaction(signed_transfer(SENDER, 1, RECEIVER))

    header, _ = committed.get(timeout=10)

    assert header.timestamp == next_slot
    assert len(ledger.encoded_transactions_of(header)) == 2
    location = ledger.transaction_location(gap_filled)
    assert location is not None and location.block_number == header.block_number


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))
