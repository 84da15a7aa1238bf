"""Block and header classes of the consortium chain.

The header is py-evm's Prague header with one change: its hash leaves out the
committed seals in ``extraData``. QBFT validators each sign the block hash and a
node may hold any quorum of those seals, so the identity of a block must not
depend on which seals it carries (Besu and GoQuorum hash QBFT headers the same
way). Everything else (fields, RLP, roots) is Prague's.
"""

from __future__ import annotations

from typing import cast

import rlp
from eth.vm.forks.prague.blocks import PragueBlock, PragueBlockHeader
from eth.vm.forks.shanghai.withdrawals import Withdrawal
from eth_hash.auto import keccak
from eth_typing import Hash32
from rlp.sedes import CountableList

from chain.errors import ExtraDataError
from chain.qbft.extra_data import decode_extra_data, encode_extra_data

# "Istanbul byzantine fault tolerance" digest that marks a BFT header, as in Besu.
BFT_MIX_HASH = bytes.fromhex(
    "63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365"
)
BFT_DIFFICULTY = 1
BFT_NONCE = b"\x00" * 8


def hashing_extra_data(extra_data: bytes) -> bytes:
    """Return ``extra_data`` with its committed seals removed, as block hashing uses.

    Bytes that are not QBFT extra data are returned unchanged; header validation
    rejects such a header separately.
    """
    try:
        extra = decode_extra_data(extra_data)
    except ExtraDataError:
        return extra_data
    if not extra.committed_seals:
        return extra_data
    return encode_extra_data(extra.without_seals())


class ConsortiumBlockHeader(PragueBlockHeader):
    """A Prague header whose hash excludes the QBFT committed seals."""

    @property
    def hash(self) -> Hash32:
        if self._hash is None:
            stripped = hashing_extra_data(self.extra_data)
            if stripped == self.extra_data:
                self._hash = keccak(rlp.encode(self))
            else:
                self._hash = keccak(rlp.encode(self.copy(extra_data=stripped)))
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
