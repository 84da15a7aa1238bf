"""The transaction pool: admitted transactions waiting for a block.

Transactions are kept per sender in nonce order. A transaction whose nonce is
ahead of the sender's next nonce waits until the gap fills; block building takes,
for each sender, only the run of consecutive nonces starting at the account's
nonce in the head state. Senders are served in order of their next
transaction's fee tip, then arrival (first come, first served at zero fees).

The pool knows nothing of chain state: callers pass in account nonces. It is not
thread-safe; the ledger holds a lock around it.

A transaction with the nonce of a pooled one replaces it only when it raises
both the fee cap and the tip by at least ``price_bump_percent`` (geth's rule),
so a replacement cannot be used to spam the pool for free.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

from eth.abc import SignedTransactionAPI
from eth_typing import Address, Hash32

from chain.errors import AlreadyKnown, PoolFull, ReplacementUnderpriced


@dataclass(frozen=True)
class PoolLimits:
    """How much the pool holds."""

    max_transactions: int = 50_000
    max_per_sender: int = 5_000
    max_nonce_gap: int = 1_000
    price_bump_percent: int = 10


@dataclass(order=True)
class PooledTransaction:
    """A transaction in the pool, with the order it arrived in."""

    arrival: int
    transaction: SignedTransactionAPI = field(compare=False)

    @property
    def hash(self) -> Hash32:
        return Hash32(self.transaction.hash)


class TransactionPool:
    """Pending transactions by sender and nonce."""

    def __init__(self, limits: PoolLimits | None = None) -> None:
        self.limits = limits or PoolLimits()
        self._by_sender: dict[Address, dict[int, PooledTransaction]] = {}
        self._by_hash: dict[Hash32, PooledTransaction] = {}
        # Each pooled sender's account nonce as last seen (at ``add`` and at
        # ``remove_mined``), so that ``ready_count`` needs no state reads.
        self._account_nonces: dict[Address, int] = {}
        self._arrivals = itertools.count()

    def __len__(self) -> int:
        return len(self._by_hash)

    def __contains__(self, transaction_hash: object) -> bool:
        return transaction_hash in self._by_hash

    def get(self, transaction_hash: Hash32) -> SignedTransactionAPI | None:
        """Return the pooled transaction with ``transaction_hash``, if any."""
        pooled = self._by_hash.get(transaction_hash)
        return None if pooled is None else pooled.transaction

    def add(self, transaction: SignedTransactionAPI, account_nonce: int) -> None:
        """Add ``transaction``, whose sender's next nonce on chain is ``account_nonce``.

        Rejects a transaction already pooled (``AlreadyKnown``), a same-nonce
        replacement that does not outbid (``ReplacementUnderpriced``), and one
        that would exceed the pool's, the sender's or the nonce-gap limit
        (``PoolFull``).
        """
        transaction_hash = Hash32(transaction.hash)
        if transaction_hash in self._by_hash:
            raise AlreadyKnown("0x" + transaction_hash.hex())
        sender = transaction.sender
        queue = self._by_sender.get(sender, {})
        if transaction.nonce - account_nonce > self.limits.max_nonce_gap:
            raise PoolFull(
                f"nonce too high: nonce {transaction.nonce} is more than "
                f"{self.limits.max_nonce_gap} ahead of the account nonce "
                f"{account_nonce}"
            )

        existing = queue.get(transaction.nonce)
        if existing is not None:
            self._check_replacement(existing.transaction, transaction)
        else:
            if len(queue) >= self.limits.max_per_sender:
                raise PoolFull(
                    f"txpool is full: sender already has {len(queue)} pending "
                    "transactions"
                )
            if len(self._by_hash) >= self.limits.max_transactions:
                raise PoolFull(f"txpool is full: {len(self._by_hash)} transactions")

        pooled = PooledTransaction(next(self._arrivals), transaction)
        if existing is not None:
            del self._by_hash[existing.hash]
        queue[transaction.nonce] = pooled
        self._by_sender[sender] = queue
        self._by_hash[transaction_hash] = pooled
        # Account nonces only rise: a caller holding an older state says less.
        known = self._account_nonces.get(sender, account_nonce)
        self._account_nonces[sender] = max(known, account_nonce)

    def _check_replacement(
        self, old: SignedTransactionAPI, new: SignedTransactionAPI
    ) -> None:
        bump = 100 + self.limits.price_bump_percent
        fee_cap_raised = new.max_fee_per_gas * 100 >= old.max_fee_per_gas * bump
        tip_raised = (
            new.max_priority_fee_per_gas * 100 >= old.max_priority_fee_per_gas * bump
        )
        strictly_more = new.max_fee_per_gas > old.max_fee_per_gas
        if not (fee_cap_raised and tip_raised and strictly_more):
            raise ReplacementUnderpriced(new.nonce)

    def ready_count(self) -> int:
        """How many pooled transactions the next block could take: each
        sender's consecutive run of nonces from its account nonce as last seen
        (a block built but not yet committed is not counted out)."""
        return sum(
            self.pending_nonce(sender, self._account_nonces[sender]) - nonce
            for sender, nonce in self._account_nonces.items()
        )

    def pending_nonce(self, sender: Address, account_nonce: int) -> int:
        """Return the nonce after the sender's consecutive pooled transactions."""
        queue = self._by_sender.get(sender, {})
        nonce = account_nonce
        while nonce in queue:
            nonce += 1
        return nonce

    def select(
        self, account_nonces: dict[Address, int], gas_limit: int, max_count: int
    ) -> list[SignedTransactionAPI]:
        """Choose transactions for a block, within ``gas_limit`` and ``max_count``.

        ``account_nonces`` must hold the head-state nonce of every sender that
        ``senders()`` returns. Each sender contributes its consecutive run of
        nonces from its account nonce; senders take turns by tip, then arrival,
        so one busy sender cannot starve the others.
        """
        runs = {
            sender: self._ready_run(sender, account_nonces[sender])
            for sender in self._by_sender
        }
        # A heap of each sender's next transaction keeps selection O(n log s).
        heap: list[tuple[tuple[int, int], Address, PooledTransaction]] = []
        for sender, run in runs.items():
            first = next(run, None)
            if first is not None:
                heap.append((_priority(first), sender, first))
        heapq.heapify(heap)

        selected: list[SignedTransactionAPI] = []
        gas_left = gas_limit
        while heap and len(selected) < max_count:
            _, sender, pooled = heapq.heappop(heap)
            transaction = pooled.transaction
            if transaction.gas > gas_left:
                continue  # the sender's later nonces cannot jump this one
            selected.append(transaction)
            gas_left -= transaction.gas
            following = next(runs[sender], None)
            if following is not None:
                heapq.heappush(heap, (_priority(following), sender, following))
        return selected

    def _ready_run(
        self, sender: Address, account_nonce: int
    ) -> Iterator[PooledTransaction]:
        queue = self._by_sender.get(sender, {})
        nonce = account_nonce
        while nonce in queue:
            yield queue[nonce]
            nonce += 1

    def senders(self) -> list[Address]:
        """Return every sender with pooled transactions."""
        return list(self._by_sender)

    def remove_mined(self, account_nonces: dict[Address, int]) -> None:
        """Drop transactions whose nonce is below the sender's new account nonce."""
        for sender, account_nonce in account_nonces.items():
            queue = self._by_sender.get(sender)
            if not queue:
                continue
            for nonce in [n for n in queue if n < account_nonce]:
                pooled = queue.pop(nonce)
                del self._by_hash[pooled.hash]
            if queue:
                self._account_nonces[sender] = account_nonce
            else:
                self._forget(sender)

    def remove(self, transaction_hash: Hash32) -> None:
        """Drop one transaction (for example one a block import found invalid)."""
        pooled = self._by_hash.pop(transaction_hash, None)
        if pooled is None:
            return
        sender = pooled.transaction.sender
        queue = self._by_sender[sender]
        del queue[pooled.transaction.nonce]
        if not queue:
            self._forget(sender)

    def _forget(self, sender: Address) -> None:
        del self._by_sender[sender]
        del self._account_nonces[sender]

    def transactions(self) -> list[SignedTransactionAPI]:
        """Return every pooled transaction in arrival order."""
        return [p.transaction for p in sorted(self._by_hash.values())]


def _priority(pooled: PooledTransaction) -> tuple[int, int]:
    # Higher tip first, then earlier arrival.
    return (-pooled.transaction.max_priority_fee_per_gas, pooled.arrival)
