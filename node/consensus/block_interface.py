"""Consortium blocks as the QBFT state machine sees them: opaque RLP bytes.

The state machine names blocks only through ``describe`` and ``replace_round``;
this module answers both for real ``ConsortiumBlock``s.

Re-proposing a prepared block in a later round changes only the round in its
extraData (and drops any seals); the coinbase stays the validator that built
the block. Besu also rewrites the coinbase to the new round's proposer, without
re-executing the block. That is sound only while the coinbase cannot change
execution, and here it can: a transaction may pay a gas price above the zero
base fee, whose tip goes to the coinbase, and a contract may read ``COINBASE``.
A header must always match its execution, and extraData is invisible to the
EVM, so keeping the coinbase keeps the re-proposed block's state root, receipts
and on-chain hash identical to the prepared one. Two consequences: the coinbase
of a block committed after a round change names its builder, not the proposer
of the deciding round, and the next height's proposer rotation (which starts
after the previous block's coinbase) follows the builder.
"""

from __future__ import annotations

import dataclasses

import rlp
from eth.abc import BlockAPI, BlockHeaderAPI
from eth_typing import Address
from eth_utils import ValidationError

from chain.blocks import ConsortiumBlock, seal_hash
from chain.errors import BlockRejected
from chain.qbft.events import BlockFacts
from chain.qbft.extra_data import QbftExtraData, decode_extra_data, encode_extra_data


def decode_block(block: bytes) -> BlockAPI:
    """Decode the RLP bytes of a consortium block.

    Rejects bytes that are not a well-formed block with ``BlockRejected``
    (block number 0, since none could be read).
    """
    try:
        decoded: BlockAPI = rlp.decode(block, sedes=ConsortiumBlock)
    except (rlp.exceptions.RLPException, ValidationError, ValueError, TypeError):
        raise BlockRejected(0, "bytes are not an RLP consortium block") from None
    return decoded


def encode_block(block: BlockAPI) -> bytes:
    """Return the RLP bytes of ``block``, as PROPOSAL and ROUND-CHANGE carry it."""
    return bytes(rlp.encode(block))


def header_extra_data(header: BlockHeaderAPI) -> QbftExtraData:
    """Decode the QBFT extraData of ``header``; reject it with ``ExtraDataError``."""
    return decode_extra_data(header.extra_data)


def with_extra_data(block: BlockAPI, extra: QbftExtraData) -> BlockAPI:
    """Return ``block`` with ``extra`` as its header's extraData.

    Only the round and the seals may differ from the block's own extraData if
    its on-chain hash is to stay the same.
    """
    header = block.header.copy(extra_data=encode_extra_data(extra))
    return block.copy(header=header)


def without_seals(block: BlockAPI) -> BlockAPI:
    """Return ``block`` with an empty committed-seal list; its hash is unchanged."""
    return with_extra_data(block, header_extra_data(block.header).without_seals())


class ConsortiumBlockInterface:
    """``chain.qbft.events.BlockInterface`` over RLP-encoded ``ConsortiumBlock``s.

    Both methods raise a ``ChainError`` (``BlockRejected`` or ``ExtraDataError``)
    for bytes that are not a consortium block with QBFT extraData.
    """

    def describe(self, block: bytes) -> BlockFacts:
        """Return height, round, proposer (coinbase) and seal digest of ``block``."""
        header = decode_block(block).header
        extra = header_extra_data(header)
        return BlockFacts(
            height=header.block_number,
            round=extra.round,
            proposer=Address(header.coinbase),
            digest=seal_hash(header),
        )

    def replace_round(
        self, block: bytes, round_number: int, proposer: Address
    ) -> bytes:
        """Return ``block`` with ``round_number`` in its extraData and no seals.

        ``proposer`` is ignored: the coinbase stays the block's builder, so the
        block still matches its execution (see the module docstring).
        """
        decoded = decode_block(block)
        extra = header_extra_data(decoded.header)
        replaced = dataclasses.replace(extra, round=round_number, committed_seals=())
        return encode_block(with_extra_data(decoded, replaced))
