"""The block interface: facts and re-rounding of real consortium blocks."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_typing import Address

from chain.block_production import build_block
from chain.blocks import seal_hash
from chain.errors import ChainError
from chain.genesis import Genesis
from chain.ledger import Ledger
from chain.qbft.extra_data import decode_extra_data
from node.consensus.block_interface import (
    ConsortiumBlockInterface,
    decode_block,
    encode_block,
)
from tests.chain.factories import address_of, canonical_address, signed_transfer
from tests.node.consensus.support import SENDER_KEYS, VALIDATOR_KEYS


def built_block_bytes(genesis: Genesis, folder: Path, round_number: int) -> bytes:
    ledger = Ledger(folder, genesis, sync_writes=False)
    try:
        recipient = address_of(VALIDATOR_KEYS[3])
        ledger.submit_transaction(signed_transfer(SENDER_KEYS[0], 0, recipient))
        built = build_block(
            ledger, VALIDATOR_KEYS[0], genesis.timestamp + 1, round_number=round_number
        )
        return encode_block(built.block)
    finally:
        ledger.close()


def test_describes_height_round_coinbase_and_seal_digest(
    genesis: Genesis, tmp_path: Path
) -> None:
    block = built_block_bytes(genesis, tmp_path, round_number=2)

    facts = ConsortiumBlockInterface().describe(block)

    header = decode_block(block).header
    assert (facts.height, facts.round) == (1, 2)
    assert facts.proposer == canonical_address(VALIDATOR_KEYS[0])
    assert facts.digest == seal_hash(header)


def test_replace_round_keeps_coinbase_and_hash_and_drops_seals(
    genesis: Genesis, tmp_path: Path
) -> None:
    blocks = ConsortiumBlockInterface()
    original = built_block_bytes(genesis, tmp_path, round_number=0)
    other_proposer = Address(canonical_address(VALIDATOR_KEYS[1]))

    replaced = blocks.replace_round(original, 3, other_proposer)

    before, after = decode_block(original), decode_block(replaced)
    assert decode_extra_data(before.header.extra_data).committed_seals
    assert decode_extra_data(after.header.extra_data).committed_seals == ()
    assert blocks.describe(replaced).round == 3
    assert after.header.coinbase == before.header.coinbase
    assert after.header.hash == before.header.hash
    assert after.header.state_root == before.header.state_root
    assert blocks.describe(replaced).digest != blocks.describe(original).digest
    # Going back to the original round gives the original digest: the check a
    # validator makes on a re-proposed prepared block.
    back = blocks.replace_round(replaced, 0, other_proposer)
    assert blocks.describe(back).digest == blocks.describe(original).digest


@pytest.mark.parametrize("data", [b"", b"\xc0", b"\x83abc", b"\xc3\x01\x02\x03"])
def test_rejects_bytes_that_are_not_a_block(data: bytes) -> None:
    with pytest.raises(ChainError):
        ConsortiumBlockInterface().describe(data)
