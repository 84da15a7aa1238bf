"""The block producer of a single-validator chain.

Each block has a slot, the timestamp one ``block_period_seconds`` after its
parent's. The producer builds the block from the pool shortly before its slot,
early by about as long as the build takes, and commits it when the slot comes.
A block is therefore never visible before its timestamp, and is visible at its
timestamp rather than a build's length later: under load every transaction is
confirmed that much sooner. (geth's clique sealer works the same way: it builds
ahead and waits for the header's time.) Blocks are produced even when the pool
is empty, as QBFT networks do, so a client can rely on the head advancing.

With several validators QBFT decides who proposes and when a block is final
(``node.consensus.host``); this producer is the one-validator case only, kept so
that a single node pays nothing for consensus rounds.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

from eth.abc import BlockHeaderAPI

from chain.block_production import build_block, commit_block
from chain.ledger import Ledger
from node.keys import NodeKey
from node.metrics import NodeMetrics

logger = logging.getLogger(__name__)

# How often the producer rechecks the pool while it waits to start a build: the
# pool grows meanwhile, and a bigger block must start earlier.
BUILD_START_CHECK_SECONDS = 0.01


class BuildTimeEstimate:
    """How long this node takes to build a block, learnt from its last builds.

    The model is a fixed cost per block plus a cost per transaction, each an
    exponentially weighted average, so that it follows the machine's load.
    """

    WEIGHT = 0.3  # of the newest build
    FEW_TRANSACTIONS = 10  # a block this small measures the fixed cost
    MARGIN = 1.2  # start early rather than late: a late block delays them all

    def __init__(
        self, fixed_seconds: float = 0.02, seconds_per_transaction: float = 0.002
    ) -> None:
        self.fixed_seconds = fixed_seconds
        self.seconds_per_transaction = seconds_per_transaction

    def seconds_for(self, transactions: int) -> float:
        """Return how long before its slot a block of ``transactions`` should start."""
        expected = self.fixed_seconds + self.seconds_per_transaction * transactions
        return self.MARGIN * expected

    def record(self, transactions: int, seconds: float) -> None:
        """Learn from a build of ``transactions`` that took ``seconds``."""
        if transactions < self.FEW_TRANSACTIONS:
            self.fixed_seconds = self._averaged(self.fixed_seconds, seconds)
            return
        per_transaction = max(seconds - self.fixed_seconds, 0.0) / transactions
        self.seconds_per_transaction = self._averaged(
            self.seconds_per_transaction, per_transaction
        )

    def _averaged(self, old: float, new: float) -> float:
        return (1 - self.WEIGHT) * old + self.WEIGHT * new


class BlockProducer(threading.Thread):
    """Produces one block per period on a background thread."""

    def __init__(
        self,
        ledger: Ledger,
        key: NodeKey,
        *,
        block_period_seconds: float,
        max_transactions: int,
        metrics: NodeMetrics,
        on_block: Callable[[BlockHeaderAPI], None],
        build_time: BuildTimeEstimate | None = None,
    ) -> None:
        super().__init__(name="block-producer", daemon=True)
        self.ledger = ledger
        self.key = key
        self.block_period_seconds = block_period_seconds
        self.max_transactions = max_transactions
        self.metrics = metrics
        self.on_block = on_block
        self.build_time = build_time or BuildTimeEstimate()
        self._stopping = threading.Event()
        self.last_block_time = time.time()

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        while not self._stopping.is_set():
            slot = self._next_slot()
            if not self._wait_for_build_start(slot):
                return
            try:
                self._produce(slot)
            except Exception:
                # A failed block is not committed; the next period tries again.
                logger.exception("block production failed")
                self._stopping.wait(self.block_period_seconds)

    def _next_slot(self) -> int:
        """The next block's timestamp: a period after the head's, and not in
        the past (after a restart the head may be hours old)."""
        due = math.ceil(self.ledger.head.timestamp + self.block_period_seconds)
        return max(due, int(time.time()))

    def _wait_for_build_start(self, slot: int) -> bool:
        """Wait until a build for ``slot`` should start; False if stopped."""
        while True:
            remaining = self._build_start(slot) - time.time()
            if remaining <= 0:
                return True
            if self._stopping.wait(min(remaining, BUILD_START_CHECK_SECONDS)):
                return False

    def _build_start(self, slot: int) -> float:
        """When to start building the block of ``slot``.

        Only a full block is built early: while the pool holds less, the rest
        of the period may bring more, and a block built early would leave that
        room empty. Transactions waiting for an earlier nonce do not count:
        clients sending over several connections deliver nonces out of order.
        """
        if len(self.ledger.pool) < self.max_transactions:
            return slot  # the cheap test first: this runs every few ms
        with self.ledger.pool_lock:
            ready = self.ledger.pool.ready_count()
        if ready < self.max_transactions:
            return slot
        return slot - self.build_time.seconds_for(self.max_transactions)

    def _wait_for_slot(self, slot: int) -> bool:
        """Wait until the clock reaches ``slot``; False if stopped."""
        while (remaining := slot - time.time()) > 0:
            if self._stopping.wait(remaining):
                return False
        return True

    def _produce(self, slot: int) -> None:
        started = time.perf_counter()
        with self.ledger.write_lock:
            built = build_block(
                self.ledger,
                self.key.private_key,
                slot,
                max_transactions=self.max_transactions,
            )
        built_in = time.perf_counter() - started
        count = len(built.block.transactions)
        self.build_time.record(count + len(built.dropped), built_in)
        if not self._wait_for_slot(built.block.header.timestamp):
            return  # stopping: the block was never published, its pool stays
        committing = time.perf_counter()
        header = commit_block(self.ledger, built)
        elapsed = built_in + time.perf_counter() - committing
        self.last_block_time = time.time()
        self.metrics.block_seconds.observe(elapsed)
        self.metrics.block_height.set(header.block_number)
        self.metrics.transactions.inc(count)
        self.metrics.pool_size.set(len(self.ledger.pool))
        logger.info(
            "block %d hash=0x%s txs=%d gas=%d took=%.0fms",
            header.block_number,
            header.hash.hex()[:16],
            count,
            header.gas_used,
            elapsed * 1000,
        )
        self.on_block(header)
