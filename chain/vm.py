"""The consortium's virtual machine: py-evm's Prague rules with consortium limits.

Differences from stock Prague, each for a reason:

- the base fee is always zero and the gas limit never moves from the genesis
  value (villagers hold no ether, and London's rules would drift both);
- headers have the QBFT shape (BFT mix hash, difficulty 1, zero nonce, QBFT
  ``extraData``) and a hash that excludes committed seals (see ``chain.blocks``);
- ``extraData`` may be longer than 32 bytes, since it carries validators and seals;
- the transaction and receipt tries are built in one pass (``chain.ordered_trie``)
  rather than by py-evm's insertion, which costs a quarter of a block's time.

Chain id and sender permission are not VM rules; ``chain.admission`` applies
them to every transaction before it reaches the VM.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth._utils.db import get_parent_header
from eth.abc import (
    BlockAPI,
    BlockHeaderAPI,
    ReceiptAPI,
    SignedTransactionAPI,
    WithdrawalAPI,
)
from eth.constants import EMPTY_SHA256, EMPTY_UNCLE_HASH, ZERO_HASH32
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.state import PragueState
from eth_utils import ValidationError

from chain.blocks import (
    BFT_DIFFICULTY,
    BFT_MIX_HASH,
    BFT_NONCE,
    ConsortiumBlock,
    ConsortiumBlockHeader,
)
from chain.ordered_trie import ordered_trie_root_and_nodes

# Room for a large validator set and its seals; the QBFT codec checks the shape.
MAX_EXTRA_DATA_BYTES = 64 * 1024


def create_header_from_parent(
    parent_header: BlockHeaderAPI | None, **header_params: Any
) -> ConsortiumBlockHeader:
    """Return the header of the block that follows ``parent_header``.

    The gas limit is inherited unchanged and the base fee is zero; the caller
    supplies ``timestamp``, ``coinbase`` and ``extra_data``.
    """
    if parent_header is None:
        raise ValidationError("a consortium header needs a parent; genesis is loaded")
    fields: dict[str, Any] = {
        "parent_hash": parent_header.hash,
        "block_number": parent_header.block_number + 1,
        "gas_limit": parent_header.gas_limit,
        "state_root": parent_header.state_root,
        "difficulty": BFT_DIFFICULTY,
        "mix_hash": BFT_MIX_HASH,
        "nonce": BFT_NONCE,
        "base_fee_per_gas": 0,
        "excess_blob_gas": 0,
        "blob_gas_used": 0,
        "parent_beacon_block_root": ZERO_HASH32,
        "requests_hash": EMPTY_SHA256,
    }
    fields.update(header_params)
    return ConsortiumBlockHeader(**fields)


_PragueExecutor: Any = PragueState.transaction_executor_class


class ConsortiumTransactionExecutor(_PragueExecutor):
    """Prague's executor without a second signature check.

    Every transaction reaches the VM through ``chain.admission.decode_transaction``
    (at submission or block import), which rejects high-``s`` signatures and
    recovers the sender. Stock py-evm would recover the key twice more and verify
    it once per execution; recovering is what a bad signature fails, so the
    cached sender is all that is needed here.
    """

    def validate_transaction(self, transaction: SignedTransactionAPI) -> None:
        if transaction.gas < transaction.intrinsic_gas:
            raise ValidationError(
                f"intrinsic gas too low: have {transaction.gas}, "
                f"want {transaction.intrinsic_gas}"
            )
        transaction.sender  # noqa: B018  recovers once, then cached on the object
        self.vm_state.validate_transaction(transaction)


class ConsortiumState(PragueState):  # type: ignore[misc]
    """Prague state with the consortium's transaction executor."""

    transaction_executor_class = ConsortiumTransactionExecutor


class ConsortiumVM(PragueVM):  # type: ignore[misc]
    """Prague execution with a fixed gas limit, zero base fee and QBFT headers."""

    fork = "gongfen-prague"
    block_class = ConsortiumBlock
    _state_class = ConsortiumState
    extra_data_max_bytes = MAX_EXTRA_DATA_BYTES
    create_header_from_parent = staticmethod(create_header_from_parent)

    def block_postprocessing(self, block: BlockAPI) -> BlockAPI:
        """Leave out Prague's execution-layer requests (EIP-6110, 7002, 7251).

        They serve proof-of-stake deposits, withdrawals and consolidations;
        this chain has none of those contracts, and scanning for deposits
        decodes every receipt of the block again. The requests hash stays the
        hash of no requests, which ``create_header_from_parent`` sets.
        """
        return block

    def set_block_transactions_and_withdrawals(
        self,
        base_block: BlockAPI,
        new_header: BlockHeaderAPI,
        transactions: Sequence[SignedTransactionAPI],
        receipts: Sequence[ReceiptAPI],
        withdrawals: Sequence[WithdrawalAPI] | None = None,
    ) -> BlockAPI:
        """Fill ``base_block`` with its transactions and commit to them and receipts.

        Stores the nodes of both tries, so the block's transactions and
        receipts can be read back from its header. Rejects withdrawals: they
        belong to proof of stake.
        """
        if withdrawals:
            raise ValidationError("a consortium block has no withdrawals")
        transaction_root = self._store_ordered_trie(transactions)
        receipt_root = self._store_ordered_trie(receipts)
        header = new_header.copy(
            transaction_root=transaction_root, receipt_root=receipt_root
        )
        return base_block.copy(header=header, transactions=transactions)

    def _store_ordered_trie(
        self, items: Sequence[SignedTransactionAPI] | Sequence[ReceiptAPI]
    ) -> bytes:
        root, nodes = ordered_trie_root_and_nodes([item.encode() for item in items])
        self.chaindb.persist_trie_data_dict(nodes)
        return root

    def validate_block(self, block: BlockAPI) -> None:
        """Check a packed block against its parent and against its own contents.

        Rejects a block of another kind, a header that breaks
        ``validate_header``, a transaction root that does not commit to the
        block's transactions, uncles or withdrawals, a state root that is
        neither stored nor the state's own, and any blob gas.
        """
        if not isinstance(block, self.get_block_class()):
            raise ValidationError(f"not a consortium block: {type(block).__name__}")
        parent = get_parent_header(block.header, self.chaindb)
        self.validate_header(block.header, parent)

        encoded = [transaction.encode() for transaction in block.transactions]
        transaction_root, _ = ordered_trie_root_and_nodes(encoded)
        if transaction_root != block.header.transaction_root:
            raise ValidationError(
                f"transaction root 0x{block.header.transaction_root.hex()} does "
                f"not match the transactions (0x{transaction_root.hex()})"
            )
        if block.uncles:
            raise ValidationError("a consortium block has no uncles")
        if block.withdrawals:
            raise ValidationError("a consortium block has no withdrawals")
        state_root = block.header.state_root
        stored = self.chaindb.exists(state_root)
        if not stored and self.state.make_state_root() != state_root:
            raise ValidationError(
                f"state root 0x{state_root.hex()} is neither stored nor the state's own"
            )
        self.validate_block_blobs(block)

    @classmethod
    def validate_header(
        cls, header: BlockHeaderAPI, parent_header: BlockHeaderAPI
    ) -> None:
        """Check ``header`` against its parent under the consortium rules.

        Rejects a header that is not numbered after its parent, is not later
        than it, changes the gas limit, uses more gas than the limit, has a
        non-zero base fee, or lacks the QBFT constants.
        """
        if parent_header is None:
            raise ValidationError("header validation needs the parent header")
        if header.block_number != parent_header.block_number + 1:
            raise ValidationError(
                f"block number {header.block_number} does not follow parent "
                f"{parent_header.block_number}"
            )
        if header.timestamp <= parent_header.timestamp:
            raise ValidationError(
                f"timestamp {header.timestamp} is not after parent timestamp "
                f"{parent_header.timestamp}"
            )
        if header.gas_limit != parent_header.gas_limit:
            raise ValidationError(
                f"gas limit {header.gas_limit} differs from the fixed limit "
                f"{parent_header.gas_limit}"
            )
        if header.gas_used > header.gas_limit:
            raise ValidationError(
                f"gas used {header.gas_used} exceeds gas limit {header.gas_limit}"
            )
        if header.base_fee_per_gas != 0:
            raise ValidationError(f"base fee must be 0, got {header.base_fee_per_gas}")
        if len(header.extra_data) > MAX_EXTRA_DATA_BYTES:
            raise ValidationError(f"extraData is {len(header.extra_data)} bytes")
        if header.difficulty != BFT_DIFFICULTY:
            raise ValidationError(f"difficulty must be {BFT_DIFFICULTY}")
        if header.mix_hash != BFT_MIX_HASH:
            raise ValidationError("mix hash must be the BFT digest")
        if header.nonce != BFT_NONCE:
            raise ValidationError("nonce must be zero")
        if header.uncles_hash != EMPTY_UNCLE_HASH:
            raise ValidationError("a consortium block has no uncles")
