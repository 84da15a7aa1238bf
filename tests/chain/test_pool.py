"""The transaction pool: nonce order, gaps, limits and replacement."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.errors import AlreadyKnown, PoolFull, ReplacementUnderpriced
from chain.pool import PoolLimits, TransactionPool
from tests.chain.factories import (
    address_of,
    canonical_address,
    make_key,
    signed_transfer,
)

SENDERS = [make_key(10 + i) for i in range(4)]
RECIPIENT = address_of(make_key(99))


def transfer(key: bytes, nonce: int, gas_price: int = 0, value: int = 1) -> Any:
    raw = signed_transfer(key, nonce, RECIPIENT, value, gas_price=gas_price)
    return PragueTransactionBuilder.decode(raw)


def test_selects_each_sender_in_nonce_order() -> None:
    pool = TransactionPool()
    for nonce in (2, 0, 1):
        pool.add(transfer(SENDERS[0], nonce), account_nonce=0)

    selected = pool.select({canonical_address(SENDERS[0]): 0}, 10**8, 100)

    assert [t.nonce for t in selected] == [0, 1, 2]


def test_holds_future_nonce_until_gap_fills() -> None:
    pool = TransactionPool()
    sender = canonical_address(SENDERS[0])
    pool.add(transfer(SENDERS[0], 1), account_nonce=0)

    assert pool.select({sender: 0}, 10**8, 100) == []
    assert pool.pending_nonce(sender, 0) == 0

    pool.add(transfer(SENDERS[0], 0), account_nonce=0)
    assert [t.nonce for t in pool.select({sender: 0}, 10**8, 100)] == [0, 1]
    assert pool.pending_nonce(sender, 0) == 2


def test_rejects_duplicate_as_already_known() -> None:
    pool = TransactionPool()
    pool.add(transfer(SENDERS[0], 0), account_nonce=0)
    with pytest.raises(AlreadyKnown, match="already known"):
        pool.add(transfer(SENDERS[0], 0), account_nonce=0)


def test_replacement_needs_a_ten_percent_higher_fee() -> None:
    pool = TransactionPool()
    pool.add(transfer(SENDERS[0], 0, gas_price=100), account_nonce=0)

    with pytest.raises(
        ReplacementUnderpriced, match="replacement transaction underpriced"
    ):
        pool.add(transfer(SENDERS[0], 0, gas_price=105), account_nonce=0)
    pool.add(transfer(SENDERS[0], 0, gas_price=110), account_nonce=0)

    selected = pool.select({canonical_address(SENDERS[0]): 0}, 10**8, 10)
    assert [t.gas_price for t in selected] == [110]
    assert len(pool) == 1


def test_zero_price_transaction_cannot_be_replaced_at_zero() -> None:
    pool = TransactionPool()
    pool.add(transfer(SENDERS[0], 0, value=1), account_nonce=0)
    with pytest.raises(ReplacementUnderpriced):
        pool.add(transfer(SENDERS[0], 0, value=2), account_nonce=0)


def test_enforces_per_sender_total_and_gap_limits() -> None:
    pool = TransactionPool(
        PoolLimits(max_transactions=3, max_per_sender=2, max_nonce_gap=5)
    )
    pool.add(transfer(SENDERS[0], 0), account_nonce=0)
    pool.add(transfer(SENDERS[0], 1), account_nonce=0)
    with pytest.raises(PoolFull, match="sender already has 2"):
        pool.add(transfer(SENDERS[0], 2), account_nonce=0)
    with pytest.raises(PoolFull, match="nonce too high"):
        pool.add(transfer(SENDERS[1], 6), account_nonce=0)
    pool.add(transfer(SENDERS[1], 0), account_nonce=0)
    with pytest.raises(PoolFull, match="txpool is full"):
        pool.add(transfer(SENDERS[2], 0), account_nonce=0)


def test_higher_tip_goes_first_then_arrival_order() -> None:
    pool = TransactionPool()
    pool.add(transfer(SENDERS[0], 0, gas_price=0), account_nonce=0)
    pool.add(transfer(SENDERS[1], 0, gas_price=5), account_nonce=0)
    pool.add(transfer(SENDERS[2], 0, gas_price=0), account_nonce=0)
    nonces = {canonical_address(k): 0 for k in SENDERS}

    selected = pool.select(nonces, 10**8, 10)

    assert [t.sender for t in selected] == [
        canonical_address(SENDERS[1]),
        canonical_address(SENDERS[0]),
        canonical_address(SENDERS[2]),
    ]


def test_respects_gas_limit_and_count() -> None:
    pool = TransactionPool()
    for nonce in range(5):
        pool.add(transfer(SENDERS[0], nonce), account_nonce=0)
    nonces = {canonical_address(SENDERS[0]): 0}
    assert len(pool.select(nonces, 21_000 * 3, 100)) == 3
    assert len(pool.select(nonces, 10**8, 2)) == 2


def test_remove_mined_drops_included_nonces() -> None:
    pool = TransactionPool()
    for nonce in range(3):
        pool.add(transfer(SENDERS[0], nonce), account_nonce=0)
    pool.remove_mined({canonical_address(SENDERS[0]): 2})
    assert [t.nonce for t in pool.transactions()] == [2]


def test_ready_count_follows_gaps_and_mined_nonces() -> None:
    pool = TransactionPool()
    first, second = (canonical_address(key) for key in SENDERS[:2])
    for nonce in (0, 1, 3):
        pool.add(transfer(SENDERS[0], nonce), account_nonce=0)
    pool.add(transfer(SENDERS[1], 5), account_nonce=5)
    assert pool.ready_count() == 3  # sender 0's nonce 3 waits for nonce 2

    pool.add(transfer(SENDERS[0], 2), account_nonce=0)
    assert pool.ready_count() == 5

    pool.remove_mined({first: 2, second: 6})
    assert pool.ready_count() == 2
    assert len(pool) == 2

    # A submission checked against an older state does not lower the nonce.
    pool.add(transfer(SENDERS[0], 5), account_nonce=0)
    assert pool.ready_count() == 2


_TRANSFERS = {
    (sender, nonce): transfer(SENDERS[sender], nonce)
    for sender in range(3)
    for nonce in range(6)
}


@settings(max_examples=60, deadline=None)
@given(
    arrivals=st.lists(
        st.tuples(st.integers(0, 2), st.integers(0, 5)), min_size=1, max_size=25
    ),
    account_nonces=st.lists(st.integers(0, 3), min_size=3, max_size=3),
)
def test_selection_is_always_gapless_per_sender(
    arrivals: list[tuple[int, int]], account_nonces: list[int]
) -> None:
    pool = TransactionPool()
    for sender, nonce in arrivals:
        if nonce < account_nonces[sender]:
            continue
        with contextlib.suppress(AlreadyKnown):  # the same arrival drawn twice
            pool.add(_TRANSFERS[(sender, nonce)], account_nonce=account_nonces[sender])
    nonces = {canonical_address(SENDERS[i]): account_nonces[i] for i in range(3)}

    selected = pool.select(nonces, 10**9, 1000)
    assert pool.ready_count() == len(selected)

    by_sender: dict[bytes, list[int]] = {}
    for transaction in selected:
        by_sender.setdefault(transaction.sender, []).append(transaction.nonce)
    for sender, sequence in by_sender.items():
        start = nonces[sender]  # type: ignore[index]
        assert sequence == list(range(start, start + len(sequence)))
    pooled = {(t.sender, t.nonce) for t in pool.transactions()}
    for sender, start in nonces.items():
        expected = 0
        while (sender, start + expected) in pooled:
            expected += 1
        assert len(by_sender.get(sender, [])) == expected
