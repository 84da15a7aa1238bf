"""Block and header classes of the consortium chain.

The header is py-evm's Prague header with one change: its hash leaves the round
and the committed seals out of ``extraData`` (Besu's on-chain hash). A node may
hold any quorum of seals, and a block may be committed in any round, so neither
may change which block it is. Committed seals sign a second hash,
``seal_hash``, which keeps the round: that is the digest PREPARE and COMMIT
messages name (both rules are pinned by ``shared/vectors/qbft``). Everything
else (fields, RLP, roots) is Prague's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

import rlp
from eth.abc import BlockHeaderAPI
from eth.vm.forks.prague.blocks import PragueBlock, PragueBlockHeader
from eth.vm.forks.shanghai.withdrawals import Withdrawal
from eth_hash.auto import keccak
from eth_typing import Hash32
from rlp.sedes import CountableList

from chain.errors import ExtraDataError
from chain.qbft.extra_data import (
    QbftExtraData,
    decode_extra_data,
    encode_extra_data_for_committed_seal,
    encode_extra_data_for_on_chain_hash,
)

# "Istanbul byzantine fault tolerance" digest that marks a BFT header, as in Besu.
BFT_MIX_HASH = bytes.fromhex(
    "63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365"
)
BFT_DIFFICULTY = 1
BFT_NONCE = b"\x00" * 8


def _header_hash(
    header: BlockHeaderAPI, encode: Callable[[QbftExtraData], bytes]
) -> Hash32:
    try:
        extra = decode_extra_data(header.extra_data)
    except ExtraDataError:
        # Not QBFT extra data: header validation rejects such a header, but it
        # still needs an identity to be named in the error.
        return Hash32(keccak(rlp.encode(header)))
    return Hash32(keccak(rlp.encode(header.copy(extra_data=encode(extra)))))


def seal_hash(header: BlockHeaderAPI) -> Hash32:
    """Return the digest that committed seals sign: the hash with the round kept."""
    return _header_hash(header, encode_extra_data_for_committed_seal)


class ConsortiumBlockHeader(PragueBlockHeader):
    """A Prague header whose hash excludes the QBFT round and committed seals."""

    @property
    def hash(self) -> Hash32:
        if self._hash is None:
            self._hash = _header_hash(self, encode_extra_data_for_on_chain_hash)
        return cast(Hash32, self._hash)

    def __str__(self) -> str:
        return f"<ConsortiumBlockHeader #{self.block_number} {self.hash.hex()[:8]}>"


class ConsortiumBlock(PragueBlock):
    """A Prague block carrying a :class:`ConsortiumBlockHeader`."""

    fields = [
        ("header", ConsortiumBlockHeader),
        ("transactions", CountableList(PragueBlock.transaction_builder)),
        ("uncles", CountableList(None, max_length=0)),
        ("withdrawals", CountableList(Withdrawal)),
    ]
