"""Transaction admission: the consortium's rules, with the words clients expect."""

from __future__ import annotations

from pathlib import Path

import pytest

from chain.block_production import produce_block
from chain.errors import (
    ExceedsBlockGasLimit,
    InsufficientFunds,
    IntrinsicGasTooLow,
    InvalidChainId,
    MalformedTransaction,
    NonceTooLow,
    SenderNotPermitted,
    TransactionTooLarge,
)
from chain.ledger import Ledger
from tests.chain.factories import address_of, make_genesis, make_key, signed_transfer

VALIDATOR, MEMBER, OUTSIDER = make_key(1), make_key(2), make_key(3)
RECIPIENT = address_of(make_key(4))


@pytest.fixture
def ledger(tmp_path: Path) -> Ledger:
    genesis = make_genesis(
        [VALIDATOR], [MEMBER, OUTSIDER], permissioning="allowlist", allowlist=[MEMBER]
    )
    return Ledger(tmp_path, genesis)


def test_admits_legacy_and_dynamic_fee_transactions(ledger: Ledger) -> None:
    ledger.submit_transaction(signed_transfer(MEMBER, 0, RECIPIENT))
    ledger.submit_transaction(signed_transfer(MEMBER, 1, RECIPIENT, dynamic_fee=True))
    assert len(ledger.pool) == 2


@pytest.mark.parametrize(
    ("raw", "error", "words"),
    [
        (
            signed_transfer(MEMBER, 0, RECIPIENT, chain_id=1),
            InvalidChainId,
            "invalid chain id",
        ),
        (
            signed_transfer(MEMBER, 0, RECIPIENT, chain_id=None),
            InvalidChainId,
            "invalid chain id",
        ),
        (
            signed_transfer(OUTSIDER, 0, RECIPIENT),
            SenderNotPermitted,
            "sender not permitted",
        ),
        (
            signed_transfer(MEMBER, 0, RECIPIENT, gas=20_999),
            IntrinsicGasTooLow,
            "intrinsic gas too low",
        ),
        (
            signed_transfer(MEMBER, 0, RECIPIENT, gas=10**9),
            ExceedsBlockGasLimit,
            "exceeds block gas limit",
        ),
        (
            signed_transfer(MEMBER, 0, RECIPIENT, value=10**30),
            InsufficientFunds,
            "insufficient funds",
        ),
        (
            signed_transfer(MEMBER, 0, RECIPIENT, gas=30_000, gas_price=10**20),
            InsufficientFunds,
            "insufficient funds",
        ),
        (b"\xc0", MalformedTransaction, "invalid transaction"),
        (b"", MalformedTransaction, "invalid transaction"),
        (
            b"\x03" + b"\x00" * 10,
            MalformedTransaction,
            "transaction type not supported",
        ),
        (b"\x02\xc0", MalformedTransaction, "invalid transaction"),
        (b"\x00" * 200_000, TransactionTooLarge, "oversized data"),
    ],
)
def test_rejects_with_the_expected_error(
    ledger: Ledger, raw: bytes, error: type[Exception], words: str
) -> None:
    with pytest.raises(error) as raised:
        ledger.submit_transaction(raw)
    assert str(raised.value).startswith(words)
    assert len(ledger.pool) == 0


def test_rejects_a_used_nonce_after_it_is_mined(ledger: Ledger) -> None:
    ledger.submit_transaction(signed_transfer(MEMBER, 0, RECIPIENT))
    produce_block(ledger, VALIDATOR, ledger.head.timestamp + 1)
    with pytest.raises(NonceTooLow, match="nonce too low"):
        ledger.submit_transaction(signed_transfer(MEMBER, 0, RECIPIENT, value=2))


def test_rejects_a_mined_transaction_as_already_known(ledger: Ledger) -> None:
    raw = signed_transfer(MEMBER, 0, RECIPIENT)
    ledger.submit_transaction(raw)
    produce_block(ledger, VALIDATOR, ledger.head.timestamp + 1)
    with pytest.raises(Exception, match="already known"):
        ledger.submit_transaction(raw)


def test_rejects_a_corrupted_signature(ledger: Ledger) -> None:
    raw = bytearray(signed_transfer(MEMBER, 0, RECIPIENT))
    raw[-5] ^= 0xFF  # inside s
    with pytest.raises((MalformedTransaction, SenderNotPermitted)):
        ledger.submit_transaction(bytes(raw))
