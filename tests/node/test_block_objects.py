"""Block objects built from stored bytes agree with the decoded block."""

from __future__ import annotations

from pathlib import Path

import rlp

from chain.block_production import produce_block
from chain.ledger import Ledger
from node.rpc.methods import EthApi
from tests.chain.factories import address_of, make_genesis, make_key, signed_transfer

VALIDATOR, SENDER, RECIPIENT = make_key(1), make_key(2), make_key(3)


def test_block_summary_has_the_true_size_and_hashes(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path, make_genesis([VALIDATOR], [SENDER]))
    for nonce in range(60):  # enough bytes for long-form RLP list headers
        ledger.submit_transaction(
            signed_transfer(
                SENDER, nonce, address_of(RECIPIENT), dynamic_fee=nonce % 2 == 1
            )
        )
    header = produce_block(ledger, VALIDATOR, ledger.head.timestamp + 1)
    api = EthApi(ledger)

    summary = api.get_block_by_number([hex(header.block_number), False])
    full = api.get_block_by_number([hex(header.block_number), True])

    block = ledger.block_of(header)
    assert int(summary["size"], 16) == len(rlp.encode(block)) == int(full["size"], 16)
    assert summary["transactions"] == ["0x" + t.hash.hex() for t in block.transactions]
    assert [t["hash"] for t in full["transactions"]] == summary["transactions"]
