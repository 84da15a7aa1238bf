"""Importing blocks built elsewhere: re-execution, seals and sender permission."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from chain.block_production import build_block, import_block
from chain.blocks import seal_hash
from chain.errors import BlockRejected
from chain.ledger import Ledger
from chain.qbft.extra_data import decode_extra_data, encode_extra_data
from chain.qbft.signing import sign_hash
from tests.chain.factories import address_of, make_genesis, make_key, signed_transfer

VALIDATOR, MEMBER, OUTSIDER, STRANGER = (
    make_key(1),
    make_key(2),
    make_key(3),
    make_key(9),
)
RECIPIENT = address_of(make_key(4))


def ledgers(
    tmp_path: Path, proposer_permissioning: str = "allowlist"
) -> tuple[Ledger, Ledger]:
    options = {"permissioning": "allowlist", "allowlist": [MEMBER]}
    proposer_options = (
        options if proposer_permissioning == "allowlist" else {"permissioning": "open"}
    )
    proposer = Ledger(
        tmp_path / "proposer",
        make_genesis([VALIDATOR], [MEMBER, OUTSIDER], **proposer_options),
    )
    follower = Ledger(
        tmp_path / "follower", make_genesis([VALIDATOR], [MEMBER, OUTSIDER], **options)
    )
    return proposer, follower


def test_imports_a_block_and_reaches_the_same_state(tmp_path: Path) -> None:
    proposer, follower = ledgers(tmp_path)
    for nonce in range(3):
        proposer.submit_transaction(signed_transfer(MEMBER, nonce, RECIPIENT, 5))
    built = build_block(proposer, VALIDATOR, proposer.head.timestamp + 1)

    header = import_block(follower, built.block)

    assert header.hash == built.block.header.hash
    assert header.state_root == built.block.header.state_root
    assert len(follower.mined_receipts(header)) == 3


def test_rejects_a_transaction_from_a_sender_not_permitted(tmp_path: Path) -> None:
    proposer, follower = ledgers(tmp_path, proposer_permissioning="open")
    proposer.submit_transaction(signed_transfer(OUTSIDER, 0, RECIPIENT))
    built = build_block(proposer, VALIDATOR, proposer.head.timestamp + 1)

    with pytest.raises(BlockRejected, match="sender not permitted"):
        import_block(follower, built.block)
    assert follower.head.block_number == 0


def test_rejects_a_block_sealed_by_a_non_validator(tmp_path: Path) -> None:
    proposer, follower = ledgers(tmp_path)
    built = build_block(proposer, VALIDATOR, proposer.head.timestamp + 1)
    extra = decode_extra_data(built.block.header.extra_data)
    forged = extra.with_seals((sign_hash(seal_hash(built.block.header), STRANGER),))
    block = built.block.copy(
        header=built.block.header.copy(extra_data=encode_extra_data(forged))
    )

    with pytest.raises(BlockRejected, match="non-validator"):
        import_block(follower, block)


def test_rejects_a_block_without_seals(tmp_path: Path) -> None:
    proposer, follower = ledgers(tmp_path)
    built = build_block(proposer, VALIDATOR, proposer.head.timestamp + 1)
    extra = decode_extra_data(built.block.header.extra_data).without_seals()
    block = built.block.copy(
        header=built.block.header.copy(extra_data=encode_extra_data(extra))
    )

    with pytest.raises(BlockRejected, match="quorum"):
        import_block(follower, block)


def test_rejects_a_block_whose_state_root_was_changed(tmp_path: Path) -> None:
    proposer, follower = ledgers(tmp_path)
    proposer.submit_transaction(signed_transfer(MEMBER, 0, RECIPIENT, 5))
    built = build_block(proposer, VALIDATOR, proposer.head.timestamp + 1)
    tampered_header = built.block.header.copy(state_root=b"\x11" * 32)
    extra = decode_extra_data(tampered_header.extra_data)
    resealed = extra.with_seals((sign_hash(seal_hash(tampered_header), VALIDATOR),))
    block = built.block.copy(
        header=tampered_header.copy(extra_data=encode_extra_data(resealed))
    )

    with pytest.raises(BlockRejected):
        import_block(follower, block)
    assert follower.head.block_number == 0


def test_block_hash_ignores_round_and_seals_but_seal_hash_keeps_round(
    tmp_path: Path,
) -> None:
    proposer, _ = ledgers(tmp_path)
    built = build_block(proposer, VALIDATOR, proposer.head.timestamp + 1)
    header = built.block.header
    extra = decode_extra_data(header.extra_data)
    other_seals = header.copy(
        extra_data=encode_extra_data(extra.with_seals((b"\x01" * 64 + b"\x00",)))
    )
    other_round = header.copy(extra_data=encode_extra_data(replace(extra, round=3)))

    assert other_seals.hash == other_round.hash == header.hash
    assert seal_hash(other_seals) == seal_hash(header)
    assert seal_hash(other_round) != seal_hash(header)
