"""Building, sealing and importing blocks.

A block is built by applying its whole transaction list to the parent state in
one pass and packing the block once at the end. (py-evm's per-transaction
mining path re-packs the block after every transaction, which is quadratic in
block size.) The block's writes go into one ``BlockWriteBuffer`` that is
committed to LevelDB in one batch, so a block is on disk entirely or not at all.

``build_block`` executes and seals without committing, which is what a QBFT
proposer needs before it proposes; ``commit_block`` persists a sealed block; and
``import_block`` re-executes a block received from elsewhere, checking every
transaction against the same admission rules a node applies at submission.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth.abc import BlockAPI, BlockHeaderAPI, ReceiptAPI, SignedTransactionAPI
from eth.db.atomic import AtomicDB
from eth_typing import Address
from eth_utils import ValidationError, to_checksum_address

from chain.admission import decode_transaction
from chain.blocks import seal_hash
from chain.errors import BlockRejected, ExtraDataError, TransactionRejected
from chain.ledger import ConsortiumChainDB, Ledger
from chain.log_index import index_block_logs, write_receipt_offsets
from chain.qbft.extra_data import (
    QbftExtraData,
    ValidatorVote,
    decode_extra_data,
    encode_extra_data,
)
from chain.qbft.signing import address_of_private_key, recover_signer, sign_hash
from chain.qbft.validators import quorum_size
from chain.storage import BlockWriteBuffer
from chain.validator_votes import vote_problem
from chain.vm import ConsortiumVM


@dataclass
class BuiltBlock:
    """A block executed on top of the head, with its pending writes."""

    block: BlockAPI
    receipts: tuple[ReceiptAPI, ...]
    buffer: BlockWriteBuffer
    dropped: tuple[SignedTransactionAPI, ...]  # pooled but failed at execution
    # Kept from the admitted transaction objects: the block's own copies have
    # lost their cached sender, and recovering it again costs a signature each.
    senders: frozenset[Address]


def build_block(
    ledger: Ledger,
    proposer_key: bytes,
    timestamp: int,
    *,
    round_number: int = 0,
    max_transactions: int = 500,
    vote: ValidatorVote | None = None,
) -> BuiltBlock:
    """Build and seal the next block from the pool, without committing it.

    ``timestamp`` must be after the head's. Transactions that fail at execution
    (for example a balance spent by an earlier transaction in the block) are
    left out and reported in ``dropped``. The header carries the validator set
    that the votes so far give, and the proposer's ``vote``. Rejects a vote
    that ``chain.validator_votes.vote_problem`` refuses.
    """
    parent = ledger.head
    if timestamp <= parent.timestamp:
        timestamp = parent.timestamp + 1
    proposer = address_of_private_key(proposer_key)
    tally = ledger.validator_tally_after(parent)
    epoch_length = ledger.genesis.qbft.epoch_length
    problem = vote_problem(tally, parent.block_number + 1, vote, epoch_length)
    if problem is not None:
        raise BlockRejected(parent.block_number + 1, problem)
    extra = QbftExtraData(validators=tally.validators, vote=vote, round=round_number)
    header = ConsortiumVM.create_header_from_parent(
        parent,
        timestamp=timestamp,
        coinbase=proposer,
        extra_data=encode_extra_data(extra),
    )

    parent_state = ledger.state_at(parent)
    with ledger.pool_lock:
        nonces = {s: parent_state.get_nonce(s) for s in ledger.pool.senders()}
        candidates = ledger.pool.select(nonces, header.gas_limit, max_transactions)
    # A role may have been revoked since admission; other nodes will judge the
    # block by its parent state, so the proposer does too.
    refused = {
        t.sender
        for t in candidates
        if not ledger.permission.is_permitted(t.sender, parent_state)
    }
    not_permitted = [t for t in candidates if t.sender in refused]
    candidates = [t for t in candidates if t.sender not in refused]

    buffer = BlockWriteBuffer(ledger.database)
    chaindb = ConsortiumChainDB(AtomicDB(buffer))
    vm = ConsortiumVM(header, chaindb, ledger.chain_context, ledger.consensus_context)
    vm.block_preprocessing(vm.get_block())
    included, receipts, dropped, result_header = _apply_transactions(
        vm, header, candidates
    )
    dropped += not_permitted
    filled = vm.set_block_transactions_and_withdrawals(
        vm.get_block(), result_header, included, receipts
    )
    processed = vm.block_postprocessing(filled)
    block = vm.mine_block(processed).block

    seal = sign_hash(seal_hash(block.header), proposer_key)
    sealed_header = block.header.copy(
        extra_data=encode_extra_data(extra.with_seals((seal,)))
    )
    return BuiltBlock(
        block=block.copy(header=sealed_header),
        receipts=receipts,
        buffer=buffer,
        dropped=tuple(dropped),
        senders=frozenset(t.sender for t in included + dropped),
    )


def _apply_transactions(
    vm: ConsortiumVM,
    header: BlockHeaderAPI,
    candidates: list[SignedTransactionAPI],
) -> tuple[
    list[SignedTransactionAPI],
    tuple[ReceiptAPI, ...],
    list[SignedTransactionAPI],
    BlockHeaderAPI,
]:
    included: list[SignedTransactionAPI] = []
    receipts: list[ReceiptAPI] = []
    dropped: list[SignedTransactionAPI] = []
    skipped_senders: set[Address] = set()
    current = header
    for transaction in candidates:
        if transaction.sender in skipped_senders:
            continue  # a later nonce cannot run once an earlier one was dropped
        snapshot = vm.state.snapshot()
        try:
            receipt, _ = vm.apply_transaction(current, transaction)
        except ValidationError:
            vm.state.revert(snapshot)
            dropped.append(transaction)
            skipped_senders.add(transaction.sender)
            continue
        current = vm.add_receipt_to_header(current, receipt)
        included.append(transaction)
        receipts.append(receipt)
    return included, tuple(receipts), dropped, current


def commit_block(ledger: Ledger, built: BuiltBlock) -> BlockHeaderAPI:
    """Persist a built (or imported) block in one batch and make it the head."""
    block = built.block
    with ledger.write_lock:
        if block.header.parent_hash != ledger.head.hash:
            raise BlockRejected(block.number, "parent is no longer the head")
        chaindb = ConsortiumChainDB(AtomicDB(built.buffer))
        chaindb.persist_block(block)
        ledger.stage_validator_tally(built.buffer, block.header)
        index_block_logs(built.buffer, block.number, built.receipts)
        write_receipt_offsets(built.buffer, block.header.hash, built.receipts)
        built.buffer.commit()
        ledger._set_head(block.header)

    state = ledger.state_at(block.header)
    with ledger.pool_lock:
        ledger.pool.remove_mined({s: state.get_nonce(s) for s in built.senders})
        for transaction in built.dropped:
            ledger.pool.remove(transaction.hash)
    return block.header


def produce_block(
    ledger: Ledger,
    proposer_key: bytes,
    timestamp: int,
    *,
    max_transactions: int = 500,
) -> BlockHeaderAPI:
    """Build, seal and commit the next block as the only validator."""
    with ledger.write_lock:
        built = build_block(
            ledger, proposer_key, timestamp, max_transactions=max_transactions
        )
        return commit_block(ledger, built)


def import_block(ledger: Ledger, block: BlockAPI) -> BlockHeaderAPI:
    """Validate, re-execute and commit a block received from another node.

    Rejects (``BlockRejected``, naming the rule) a block that does not extend
    the head, lacks a quorum of committed seals from the validators, carries a
    transaction the node would refuse at submission, or whose execution gives a
    different header.
    """
    with ledger.write_lock:
        return commit_block(ledger, execute_block(ledger, block))


def execute_block(
    ledger: Ledger, block: BlockAPI, *, require_seals: bool = True
) -> BuiltBlock:
    """Validate and re-execute ``block`` on the head without committing it.

    A QBFT validator runs this on a proposal (``require_seals=False``: the
    seals come later) before it prepares; ``commit_block`` then persists the
    result once a quorum has committed. Rejects what ``import_block`` rejects.
    """
    with ledger.write_lock:
        parent = ledger.head
        if block.header.parent_hash != parent.hash:
            raise BlockRejected(block.number, "parent is not the head")
        extra = _extra_data_of(block)
        validators = _check_validators_and_vote(ledger, block, extra)
        if require_seals:
            _check_seals(block, extra, validators)
        decoded = _check_transactions(ledger, block)
        senders = frozenset(t.sender for t in decoded)
        # Execute the decoded objects: they carry the recovered senders.
        block = type(block)(
            header=block.header, transactions=decoded, uncles=[], withdrawals=[]
        )

        buffer = BlockWriteBuffer(ledger.database)
        chaindb = ConsortiumChainDB(AtomicDB(buffer))
        base_header = ConsortiumVM.create_header_from_parent(
            parent,
            timestamp=block.header.timestamp,
            coinbase=block.header.coinbase,
            extra_data=block.header.extra_data,
        )
        vm = ConsortiumVM(
            base_header, chaindb, ledger.chain_context, ledger.consensus_context
        )
        try:
            executed = vm.import_block(block).block
        except ValidationError as error:
            raise BlockRejected(block.number, f"invalid block: {error}") from None
        if executed.header.hash != block.header.hash:
            raise BlockRejected(
                block.number,
                "executing the block gives a different header "
                f"(state root 0x{executed.header.state_root.hex()})",
            )
        receipts = tuple(
            chaindb.get_receipts(executed.header, vm.get_receipt_builder())
        )
        return BuiltBlock(
            block=block, receipts=receipts, buffer=buffer, dropped=(), senders=senders
        )


def _check_validators_and_vote(
    ledger: Ledger, block: BlockAPI, extra: QbftExtraData
) -> tuple[Address, ...]:
    """Return the block's validators: the set that the votes so far give, which
    its header must name, and which must be able to take its vote. The parent
    is the ledger's head."""
    tally = ledger.validator_tally_after(ledger.head)
    if extra.validators != tally.validators:
        raise BlockRejected(block.number, "extraData validators differ from the set")
    epoch_length = ledger.genesis.qbft.epoch_length
    problem = vote_problem(tally, block.number, extra.vote, epoch_length)
    if problem is not None:
        raise BlockRejected(block.number, problem)
    return tally.validators


def _extra_data_of(block: BlockAPI) -> QbftExtraData:
    try:
        return decode_extra_data(block.header.extra_data)
    except ExtraDataError as error:
        raise BlockRejected(block.number, str(error)) from None


def _check_seals(
    block: BlockAPI, extra: QbftExtraData, block_validators: tuple[Address, ...]
) -> None:
    validators = set(block_validators)
    digest = seal_hash(block.header)
    sealers: set[Address] = set()
    for seal in extra.committed_seals:
        sealer = recover_signer(seal, digest)
        if sealer is None:
            raise BlockRejected(block.number, "committed seal does not recover a key")
        if sealer not in validators:
            raise BlockRejected(block.number, "committed seal from a non-validator")
        sealers.add(sealer)
    if len(sealers) < quorum_size(len(validators)):
        raise BlockRejected(
            block.number,
            f"{len(sealers)} distinct committed seals, quorum is "
            f"{quorum_size(len(validators))}",
        )
    if block.header.coinbase not in validators:
        raise BlockRejected(block.number, "proposer is not a validator")


def _check_transactions(ledger: Ledger, block: BlockAPI) -> list[SignedTransactionAPI]:
    state = ledger.state_at(ledger.head)
    admitted: list[SignedTransactionAPI] = []
    # Nonces and balances are checked by execution; here the rules that py-evm
    # does not know: chain id, signature shape, sender permission, gas limits.
    for transaction in block.transactions:
        # A transaction in this node's pool passed the same checks at
        # admission and carries its recovered sender: a validator executing a
        # proposal has most of them, and recovering each again costs a
        # signature recovery.
        decoded = ledger.pooled_transaction(transaction.hash)
        if decoded is None:
            decoded = _decode_block_transaction(ledger, block, transaction)
        if not ledger.permission.is_permitted(decoded.sender, state):
            raise BlockRejected(
                block.number,
                f"transaction 0x{transaction.hash.hex()}: sender not permitted: "
                f"{to_checksum_address(decoded.sender)}",
            )
        admitted.append(decoded)
    return admitted


def _decode_block_transaction(
    ledger: Ledger, block: BlockAPI, transaction: SignedTransactionAPI
) -> SignedTransactionAPI:
    try:
        return decode_transaction(transaction.encode(), ledger.limits)
    except TransactionRejected as error:
        raise BlockRejected(
            block.number, f"transaction 0x{transaction.hash.hex()}: {error}"
        ) from None
