"""The block producer of a single-validator chain.

Every ``block_period_seconds`` it builds a block from the pool, seals it with the
node's key and commits it. Blocks are produced even when the pool is empty, as
QBFT networks do, so a client can rely on the head advancing.

With several validators QBFT decides who proposes and when a block is final
(``node.consensus.host``); this producer is the one-validator case only, kept so
that a single node pays nothing for consensus rounds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from eth.abc import BlockHeaderAPI

from chain.block_production import produce_block
from chain.ledger import Ledger
from node.keys import NodeKey
from node.metrics import NodeMetrics

logger = logging.getLogger(__name__)


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
    ) -> None:
        super().__init__(name="block-producer", daemon=True)
        self.ledger = ledger
        self.key = key
        self.block_period_seconds = block_period_seconds
        self.max_transactions = max_transactions
        self.metrics = metrics
        self.on_block = on_block
        self._stopping = threading.Event()
        self.last_block_time = time.time()

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        while not self._stopping.is_set():
            due = self.ledger.head.timestamp + self.block_period_seconds
            delay = due - time.time()
            if delay > 0 and self._stopping.wait(delay):
                return
            try:
                self._produce()
            except Exception:
                # A failed block is not committed; the next period tries again.
                logger.exception("block production failed")
                self._stopping.wait(self.block_period_seconds)

    def _produce(self) -> None:
        started = time.perf_counter()
        header = produce_block(
            self.ledger,
            self.key.private_key,
            int(time.time()),
            max_transactions=self.max_transactions,
        )
        elapsed = time.perf_counter() - started
        count = len(self.ledger.encoded_transactions_of(header))
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
