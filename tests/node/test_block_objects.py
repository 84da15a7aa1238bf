"""Block objects built from stored bytes agree with the decoded block."""

from __future__ import annotations

from pathlib import Path

import pytest
import rlp

from chain.block_production import produce_block
from chain.ledger import Ledger
from node.rpc.errors import ServerError
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


def test_validators_by_block_number_reads_the_header(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path, make_genesis([VALIDATOR], [SENDER]))
    header = produce_block(ledger, VALIDATOR, ledger.head.timestamp + 1)
    api = EthApi(ledger)

    for block in ("0x0", hex(header.block_number), "latest"):
        assert api.dispatch("qbft_getValidatorsByBlockNumber", [block]) == [
            address_of(VALIDATOR)
        ]
    with pytest.raises(ServerError, match="header not found"):
        api.dispatch("qbft_getValidatorsByBlockNumber", ["0x99"])
