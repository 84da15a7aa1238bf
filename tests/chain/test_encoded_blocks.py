"""Blocks encoded from their stored bytes equal the blocks encoded whole."""

from __future__ import annotations

from pathlib import Path

import rlp

from chain.block_production import import_block, produce_block
from chain.ledger import Ledger
from node.consensus.block_interface import decode_block
from tests.chain.factories import address_of, make_genesis, make_key, signed_transfer

VALIDATOR, SENDER, RECIPIENT = make_key(1), make_key(2), make_key(3)


def test_spliced_encoding_equals_the_decoded_block_encoded(tmp_path: Path) -> None:
    genesis = make_genesis([VALIDATOR], [SENDER])
    ledger = Ledger(tmp_path / "producer", genesis)
    to = address_of(RECIPIENT)
    # A block of legacy and typed (EIP-1559) transactions mixed, and an empty one.
    for nonce in range(6):
        ledger.submit_transaction(
            signed_transfer(SENDER, nonce, to, nonce + 1, dynamic_fee=nonce % 2 == 1)
        )
    produce_block(ledger, VALIDATOR, ledger.head.timestamp + 1)
    produce_block(ledger, VALIDATOR, ledger.head.timestamp + 1)

    follower = Ledger(tmp_path / "follower", genesis)
    for number in range(ledger.head.block_number + 1):
        header = ledger.header_by_number(number)
        assert header is not None
        encoded = ledger.encoded_block_of(header)
        assert encoded == rlp.encode(ledger.block_of(header))
        if number > 0:
            # What peers receive imports as the block it was.
            import_block(follower, decode_block(encoded))
    assert follower.head == ledger.head
    first = ledger.header_by_number(1)
    assert first is not None and len(ledger.transactions_of(first)) == 6
