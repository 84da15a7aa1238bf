"""Receipts of single transactions agree with the whole block's."""

from __future__ import annotations

from pathlib import Path

import rlp
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from chain.block_production import produce_block
from chain.ledger import Ledger
from tests.chain.factories import (
    canonical_address,
    make_genesis,
    make_key,
    signed_transfer,
)
from tests.support.compile import compile_vyper

VALIDATOR, SENDER = make_key(1), make_key(2)
PROBE = Path(__file__).parents[1] / "node" / "contracts" / "Probe.vy"


def test_single_receipt_matches_the_block_receipts(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path, make_genesis([VALIDATOR], [SENDER]))
    bytecode = bytes.fromhex(compile_vyper(PROBE)["bytecode"][2:])
    ledger.submit_transaction(
        signed_transfer(SENDER, 0, "", 0, gas=2_000_000, data=bytecode)
    )
    probe = to_checksum_address(keccak(rlp.encode([canonical_address(SENDER), 0]))[12:])
    store = keccak(text="store(uint256,uint256)")[:4]
    hashes = []
    for nonce in range(1, 4):
        data = store + abi_encode(["uint256", "uint256"], [nonce, nonce * 10])
        raw = signed_transfer(SENDER, nonce, probe, 0, gas=200_000, data=data)
        hashes.append(ledger.submit_transaction(raw))
    header = produce_block(ledger, VALIDATOR, ledger.head.timestamp + 1)

    whole_block = ledger.mined_receipts(header)
    for transaction_hash in hashes:
        single = ledger.mined_receipt(transaction_hash)
        assert single is not None
        expected = whole_block[single.index]
        assert single.gas_used == expected.gas_used > 0
        assert single.first_log_index == expected.first_log_index
        assert single.transaction.hash == expected.transaction.hash == transaction_hash
        assert single.receipt.logs == expected.receipt.logs
    assert [r.first_log_index for r in whole_block] == [0, 0, 1, 2]
