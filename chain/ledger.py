"""The ledger: one node's chain on disk, its pool, and the ways to read it.

``Ledger`` is the chain package's front door. It opens (or creates) the LevelDB
folder for a genesis, admits transactions into the pool, builds and imports
blocks (``chain.block_production``), and answers the lookups that JSON-RPC
needs. It opens no sockets and reads no clock: the node passes time in.

Thread safety: the node calls the ledger from its RPC threads and its block
producer. Block building and import hold ``_write_lock``; the pool has its own
lock; reads work on an immutable head header and content-addressed state, so
they need neither.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import rlp
from eth.abc import (
    BlockAPI,
    BlockHeaderAPI,
    ReceiptAPI,
    SignedTransactionAPI,
    StateAPI,
)
from eth.consensus.context import ConsensusContext
from eth.db.atomic import AtomicDB
from eth.db.chain import ChainDB
from eth.exceptions import HeaderNotFound, TransactionNotFound
from eth.vm.chain_context import ChainContext
from eth_typing import Address, BlockNumber, Hash32
from rlp.codec import length_prefix

from chain.admission import AdmissionLimits, check_transaction, decode_transaction
from chain.blocks import (
    BFT_DIFFICULTY,
    BFT_MIX_HASH,
    BFT_NONCE,
    ConsortiumBlock,
    ConsortiumBlockHeader,
)
from chain.errors import AlreadyKnown, StorageError
from chain.genesis import Genesis
from chain.log_index import read_receipt_offset
from chain.permissions import (
    AllowlistPermission,
    ContractPermission,
    OpenPermission,
    SenderPermission,
)
from chain.pool import PoolLimits, TransactionPool
from chain.qbft.extra_data import decode_extra_data
from chain.storage import BlockWriteBuffer, LevelDB
from chain.validator_votes import ValidatorTally
from chain.vm import ConsortiumVM

_CHAIN_IDENTITY_KEY = b"gongfen:chain-identity"
_VALIDATOR_TALLY_PREFIX = b"gongfen:validator-tally:"
_TALLIES_KEPT = 64


class ConsortiumChainDB(ChainDB):
    """py-evm's chain database, decoding headers as consortium headers."""

    @staticmethod
    def _get_block_header_by_hash(db: object, block_hash: Hash32) -> BlockHeaderAPI:
        try:
            header_rlp = db[block_hash]  # type: ignore[index]
        except KeyError:
            raise HeaderNotFound(f"no header with hash 0x{block_hash.hex()}") from None
        return _decode_header(bytes(header_rlp))


def _decode_header(header_rlp: bytes) -> BlockHeaderAPI:
    header: ConsortiumBlockHeader = rlp.decode(header_rlp, sedes=ConsortiumBlockHeader)
    return header


@dataclass(frozen=True)
class TransactionLocation:
    """Where a mined transaction sits."""

    block_number: int
    index: int


@dataclass(frozen=True)
class MinedReceipt:
    """A receipt with what clients need beside it."""

    receipt: ReceiptAPI
    transaction: SignedTransactionAPI
    header: BlockHeaderAPI
    index: int
    gas_used: int  # by this transaction alone; receipts store the running total
    first_log_index: int  # position of this receipt's first log within the block


class Ledger:
    """A node's chain: storage, pool, head and lookups."""

    def __init__(
        self,
        data_dir: Path,
        genesis: Genesis,
        *,
        pool_limits: PoolLimits | None = None,
        max_transaction_bytes: int = 128 * 1024,
        sync_writes: bool = True,
    ) -> None:
        self.genesis = genesis
        self.chain_id = genesis.chain_id
        self.chain_context = ChainContext(genesis.chain_id)
        self.limits = AdmissionLimits(
            chain_id=genesis.chain_id,
            block_gas_limit=genesis.gas_limit,
            max_transaction_bytes=max_transaction_bytes,
        )
        self.permission = permission_for(genesis)
        self.database = LevelDB(data_dir / "chain", sync_writes=sync_writes)
        self.chaindb = ConsortiumChainDB(AtomicDB(self.database))
        self.consensus_context = ConsensusContext(self.chaindb.db)
        self.pool = TransactionPool(pool_limits)
        self.pool_lock = threading.Lock()
        self.write_lock = threading.RLock()
        self._head = self._open_or_initialise()
        self._admission_head = b""
        self._admission_cache: StateAPI | None = None
        self._tallies: dict[bytes, ValidatorTally] = {}

    # -- opening ---------------------------------------------------------------

    def _open_or_initialise(self) -> BlockHeaderAPI:
        buffer = BlockWriteBuffer(self.database)
        genesis_header = write_genesis(buffer, self.genesis)
        # The chain id is not part of the genesis header, so it is kept beside it.
        identity = genesis_header.hash + self.chain_id.to_bytes(32, "big")
        stored = (
            self.database[_CHAIN_IDENTITY_KEY]
            if self.database.exists(_CHAIN_IDENTITY_KEY)
            else None
        )
        if stored is None:
            buffer[_CHAIN_IDENTITY_KEY] = identity
            buffer.commit()
        elif stored != identity:
            raise StorageError(
                f"data folder {self.database.path} holds chain with genesis "
                f"0x{stored[:32].hex()} and chain id "
                f"{int.from_bytes(stored[32:], 'big')}, not genesis "
                f"0x{genesis_header.hash.hex()} with chain id {self.chain_id}; "
                "use an empty folder for a new chain"
            )
        return self.chaindb.get_canonical_head()

    def close(self) -> None:
        """Close the database."""
        self.database.close()

    # -- validator set -----------------------------------------------------------

    def validators_after(self, header: BlockHeaderAPI) -> tuple[Address, ...]:
        """The validators (sorted) of the block after ``header``."""
        return self.validator_tally_after(header).validators

    def validator_tally_after(self, header: BlockHeaderAPI) -> ValidatorTally:
        """The validator set and pending votes once ``header``'s block is in.

        Read from what ``stage_validator_tally`` stored with the block; for a
        block stored without one, replayed from the nearest ancestor that has
        one (or from the genesis).
        """
        replay: list[BlockHeaderAPI] = []
        tally = self._stored_tally(header)
        while tally is None:
            replay.append(header)
            header = self.chaindb.get_block_header_by_hash(header.parent_hash)
            tally = self._stored_tally(header)
        for later in reversed(replay):
            tally = self._tally_with_block(tally, later)
            self._remember_tally(later.hash, tally)
        return tally

    def stage_validator_tally(
        self, buffer: BlockWriteBuffer, header: BlockHeaderAPI
    ) -> ValidatorTally:
        """Write the tally after ``header`` into ``buffer``, beside its block.

        The parent's tally must be known; ``header``'s vote must have passed
        ``chain.validator_votes.vote_problem``.
        """
        parent = self.chaindb.get_block_header_by_hash(header.parent_hash)
        tally = self._tally_with_block(self.validator_tally_after(parent), header)
        buffer[_VALIDATOR_TALLY_PREFIX + header.hash] = tally.encode()
        self._remember_tally(header.hash, tally)
        return tally

    def _tally_with_block(
        self, tally: ValidatorTally, header: BlockHeaderAPI
    ) -> ValidatorTally:
        vote = decode_extra_data(header.extra_data).vote
        return tally.after_block(
            header.block_number,
            header.coinbase,
            vote,
            self.genesis.qbft.epoch_length,
        )

    def _stored_tally(self, header: BlockHeaderAPI) -> ValidatorTally | None:
        cached = self._tallies.get(header.hash)
        if cached is not None:
            return cached
        key = _VALIDATOR_TALLY_PREFIX + header.hash
        if self.database.exists(key):
            tally = ValidatorTally.decode(self.database[key])
        elif header.block_number == 0:
            tally = ValidatorTally.starting_with(self.genesis.validators)
        else:
            return None
        self._remember_tally(header.hash, tally)
        return tally

    def _remember_tally(self, block_hash: bytes, tally: ValidatorTally) -> None:
        if len(self._tallies) >= _TALLIES_KEPT:
            self._tallies.clear()
        self._tallies[block_hash] = tally

    # -- head and blocks -------------------------------------------------------

    @property
    def head(self) -> BlockHeaderAPI:
        """The header of the newest committed block."""
        return self._head

    def _set_head(self, header: BlockHeaderAPI) -> None:
        self._head = header

    def header_by_number(self, block_number: int) -> BlockHeaderAPI | None:
        """Return the canonical header at ``block_number``, or ``None``."""
        if block_number < 0 or block_number > self._head.block_number:
            return None
        try:
            return self.chaindb.get_canonical_block_header_by_number(
                BlockNumber(block_number)
            )  # type: ignore[no-any-return]
        except HeaderNotFound:
            return None

    def header_by_hash(self, block_hash: bytes) -> BlockHeaderAPI | None:
        """Return the header with ``block_hash`` if it is canonical, else ``None``."""
        try:
            header = self.chaindb.get_block_header_by_hash(Hash32(block_hash))
        except (HeaderNotFound, ValueError):
            return None
        if header.block_number > self._head.block_number:
            return None
        canonical = self.header_by_number(header.block_number)
        if canonical is None or canonical.hash != header.hash:
            return None
        return header  # type: ignore[no-any-return]

    def block_of(self, header: BlockHeaderAPI) -> BlockAPI:
        """Return the full block (header and body) for ``header``."""
        transactions = self.transactions_of(header)
        return ConsortiumBlock(
            header=header, transactions=transactions, uncles=[], withdrawals=[]
        )

    def encoded_block_of(self, header: BlockHeaderAPI) -> bytes:
        """Return ``rlp.encode(self.block_of(header))``, spliced from the stored
        bytes without decoding a transaction.

        Every announced and every synced block is encoded so; decoding its
        transactions only to encode them again cost a validator about 2 % of
        its CPU under load. In a block body a typed transaction is an RLP
        string of its envelope and a legacy one is its own RLP list, which is
        how the transaction trie stores each.
        """
        body = [
            stored if stored[0] >= 0xC0 else rlp.encode(stored)
            for stored in self.encoded_transactions_of(header)
        ]
        empty_list = rlp.encode([])  # no uncles, no withdrawals
        return _rlp_list([rlp.encode(header), _rlp_list(body), empty_list, empty_list])

    def transactions_of(
        self, header: BlockHeaderAPI
    ) -> tuple[SignedTransactionAPI, ...]:
        """Return the transactions of the block with ``header``."""
        builder = ConsortiumVM.get_transaction_builder()
        return tuple(self.chaindb.get_block_transactions(header, builder))

    def encoded_transactions_of(self, header: BlockHeaderAPI) -> tuple[bytes, ...]:
        """Return the block's transactions as stored, without decoding them.

        Hashes and sizes need only the bytes; decoding 500 transactions costs
        tens of milliseconds that a block summary does not need to spend.
        """
        return tuple(
            self.chaindb._get_block_data_from_root_hash(
                self.chaindb.db, header.transaction_root
            )
        )

    def receipts_of(self, header: BlockHeaderAPI) -> tuple[ReceiptAPI, ...]:
        """Return the receipts of the block with ``header``, in transaction order."""
        builder = ConsortiumVM.get_receipt_builder()
        return tuple(self.chaindb.get_receipts(header, builder))

    # -- state -----------------------------------------------------------------

    def vm_at(self, header: BlockHeaderAPI) -> ConsortiumVM:
        """Return a VM whose state and block context are those of ``header``."""
        return ConsortiumVM(
            header=header,
            chaindb=self.chaindb,
            chain_context=self.chain_context,
            consensus_context=self.consensus_context,
        )

    def state_at(self, header: BlockHeaderAPI) -> StateAPI:
        """Return the account state after the block with ``header``."""
        return self.vm_at(header).state

    # -- transactions ----------------------------------------------------------

    def submit_transaction(
        self, raw: bytes, recovered_sender: Address | None = None
    ) -> Hash32:
        """Admit a raw signed transaction into the pool and return its hash.

        ``recovered_sender`` is for the node's own gateway only; see
        ``chain.admission.decode_transaction``. Rejects with a
        ``TransactionRejected`` subclass whose message starts with the words
        Ethereum clients expect; see ``chain.admission``.
        """
        transaction = decode_transaction(raw, self.limits, recovered_sender)
        transaction_hash = Hash32(transaction.hash)
        if self.transaction_location(transaction_hash) is not None:
            raise AlreadyKnown("0x" + transaction_hash.hex())
        with self.pool_lock:
            state = self._admission_state()
            check_transaction(transaction, state, self.limits, self.permission)
            self.pool.add(transaction, state.get_nonce(transaction.sender))
        return transaction_hash

    def _admission_state(self) -> StateAPI:
        """The head state that admission reads, reused until the head moves.

        Building a state object per transaction would throw away its account
        cache each time; callers hold ``pool_lock``, so it is never shared
        between threads.
        """
        head = self._head
        if self._admission_head != head.hash:
            self._admission_cache = self.state_at(head)
            self._admission_head = head.hash
        assert self._admission_cache is not None
        return self._admission_cache

    def pending_nonce(self, sender: Address) -> int:
        """Return the next nonce for ``sender`` counting pooled transactions."""
        account_nonce = self.state_at(self._head).get_nonce(sender)
        with self.pool_lock:
            return self.pool.pending_nonce(sender, account_nonce)

    def pooled_transaction(
        self, transaction_hash: Hash32
    ) -> SignedTransactionAPI | None:
        """Return a transaction still waiting in the pool, if any."""
        with self.pool_lock:
            return self.pool.get(transaction_hash)

    def transaction_location(
        self, transaction_hash: Hash32
    ) -> TransactionLocation | None:
        """Return where a mined transaction is, or ``None`` if it is not mined."""
        try:
            block_number, index = self.chaindb.get_transaction_index(transaction_hash)
        except (TransactionNotFound, ValueError):
            return None
        if block_number > self._head.block_number:
            return None
        return TransactionLocation(block_number, index)

    def mined_receipt(self, transaction_hash: Hash32) -> MinedReceipt | None:
        """Return the receipt of a mined transaction, or ``None``."""
        location = self.transaction_location(transaction_hash)
        if location is None:
            return None
        header = self.header_by_number(location.block_number)
        if header is None:
            return None
        offset = read_receipt_offset(self.database, header.hash, location.index)
        if offset is None:
            return self.mined_receipts(header)[location.index]
        gas_used, first_log_index = offset
        number = BlockNumber(location.block_number)
        return MinedReceipt(
            receipt=self.chaindb.get_receipt_by_index(
                number, location.index, ConsortiumVM.get_receipt_builder()
            ),
            transaction=self.mined_transaction(location),
            header=header,
            index=location.index,
            gas_used=gas_used,
            first_log_index=first_log_index,
        )

    def mined_transaction(self, location: TransactionLocation) -> SignedTransactionAPI:
        """Return the transaction at ``location`` without decoding its whole block."""
        return self.chaindb.get_transaction_by_index(
            BlockNumber(location.block_number),
            location.index,
            ConsortiumVM.get_transaction_builder(),
        )

    def mined_receipts(self, header: BlockHeaderAPI) -> list[MinedReceipt]:
        """Return every receipt of a block with its per-transaction figures."""
        transactions = self.transactions_of(header)
        receipts = self.receipts_of(header)
        result = []
        previous_gas = 0
        log_index = 0
        for index, (transaction, receipt) in enumerate(
            zip(transactions, receipts, strict=True)
        ):
            result.append(
                MinedReceipt(
                    receipt=receipt,
                    transaction=transaction,
                    header=header,
                    index=index,
                    gas_used=receipt.gas_used - previous_gas,
                    first_log_index=log_index,
                )
            )
            previous_gas = receipt.gas_used
            log_index += len(receipt.logs)
        return result

    def iterate_headers(
        self, from_block: int, to_block: int
    ) -> Iterator[BlockHeaderAPI]:
        """Yield canonical headers from ``from_block`` to ``to_block`` inclusive."""
        for block_number in range(
            from_block, min(to_block, self._head.block_number) + 1
        ):
            header = self.header_by_number(block_number)
            if header is not None:
                yield header


def _rlp_list(encoded_items: list[bytes]) -> bytes:
    """The RLP list of items that are each RLP-encoded already."""
    payload = b"".join(encoded_items)
    return bytes(length_prefix(len(payload), 0xC0)) + payload


def permission_for(genesis: Genesis) -> SenderPermission:
    """Return the sender-permission rule that ``genesis`` chooses."""
    if genesis.permissioning == "open":
        return OpenPermission()
    if genesis.permission_contract is not None:
        return ContractPermission(genesis.allowlist, genesis.permission_contract)
    return AllowlistPermission(genesis.allowlist)


def write_genesis(db: BlockWriteBuffer, genesis: Genesis) -> BlockHeaderAPI:
    """Write the genesis state and block into ``db`` and return the genesis header.

    Writing is idempotent: the same genesis always yields the same header, which
    ``Ledger`` compares with what a data folder already holds.
    """
    atomic = AtomicDB(db)
    pre_genesis = ConsortiumBlockHeader(
        difficulty=0,
        block_number=BlockNumber(0),
        gas_limit=genesis.gas_limit,
        timestamp=0,
    )
    state = ConsortiumVM.build_state(
        atomic, pre_genesis, ChainContext(genesis.chain_id)
    )
    for address, account in genesis.alloc.items():
        state.set_balance(address, account.balance)
        state.set_nonce(address, account.nonce)
        state.set_code(address, account.code)
        for slot, value in account.storage.items():
            state.set_storage(address, slot, value)
    state.persist()

    header = ConsortiumBlockHeader(
        difficulty=BFT_DIFFICULTY,
        block_number=BlockNumber(0),
        gas_limit=genesis.gas_limit,
        timestamp=genesis.timestamp,
        extra_data=genesis.extra_data,
        mix_hash=Hash32(BFT_MIX_HASH),
        nonce=BFT_NONCE,
        state_root=state.state_root,
        base_fee_per_gas=0,
    )
    chaindb = ConsortiumChainDB(atomic)
    if not chaindb.header_exists(header.hash):
        chaindb.persist_header(header)
    return header
