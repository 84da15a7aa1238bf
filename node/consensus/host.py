"""The chain thread: the one thread that writes a multi-node member's ledger.

Building or executing a block can take about a second, so neither QBFT nor
block import runs on the asyncio loop. ``ChainThread`` takes work from a queue
(QBFT messages from peers, blocks from announcements and sync) and, for a
validator, advances its ``QbftDriver``'s timers in between. Because every
ledger write happens here, consensus commits and imported blocks never race.

After each step the thread compares the ledger's head with the last one it
reported and calls ``on_new_head`` once for every block that arrived, in order,
whichever way it came. Callbacks run on this thread and must only hand work to
the loop (``call_soon_threadsafe``).

An observer (a node whose key is not in the validator set) runs the same
thread without a driver: it only imports.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from eth.abc import BlockHeaderAPI

from chain.block_production import import_block
from chain.errors import BlockRejected, ChainError
from chain.ledger import Ledger
from node.consensus.block_interface import decode_block
from node.consensus.driver import QbftDriver

logger = logging.getLogger(__name__)

# The longest the thread sleeps without looking at its timers or stop flag.
MAXIMUM_WAIT_SECONDS = 0.5


@dataclass(frozen=True)
class _Message:
    message_code: int
    data: bytes


@dataclass(frozen=True)
class _Blocks:
    """Encoded blocks from one peer, in ascending order, to import."""

    peer_id: str
    blocks: Sequence[tuple[int, bytes]]  # (block number, RLP block)
    done: Future[int] = field(default_factory=Future)


class ChainThread(threading.Thread):
    """Runs the QBFT driver (validators) and imports blocks, one step at a time."""

    def __init__(
        self,
        ledger: Ledger,
        driver: QbftDriver | None,
        *,
        on_new_head: Callable[[BlockHeaderAPI], None],
        on_bad_block: Callable[[str, str], None],
    ) -> None:
        super().__init__(name="chain", daemon=True)
        self.ledger = ledger
        self.driver = driver
        self._on_new_head = on_new_head
        self._on_bad_block = on_bad_block
        self._queue: queue.SimpleQueue[_Message | _Blocks | None] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._reported: int = ledger.head.block_number

    # --- what the loop calls (any thread) --------------------------------------

    def submit_message(self, message_code: int, data: bytes) -> None:
        """Queue a QBFT message from a peer; an observer drops it."""
        if self.driver is not None:
            self._queue.put(_Message(message_code, data))

    def submit_blocks(
        self, peer_id: str, blocks: Sequence[tuple[int, bytes]]
    ) -> Future[int]:
        """Queue blocks to import; the future gives how many were imported."""
        work = _Blocks(peer_id, blocks)
        self._queue.put(work)
        return work.done

    def stop(self) -> None:
        self._stopping.set()
        self._queue.put(None)

    # --- the thread -------------------------------------------------------------

    def run(self) -> None:
        if self.driver is not None:
            self._guarded(self.driver.start)
            self._report_new_heads()
        while not self._stopping.is_set():
            try:
                work = self._queue.get(timeout=self._wait_seconds())
            except queue.Empty:
                work = None
            if isinstance(work, _Message) and self.driver is not None:
                self._guarded(self.driver.on_message, work.message_code, work.data)
            elif isinstance(work, _Blocks):
                self._import(work)
            if self.driver is not None:
                self._guarded(self.driver.tick, time.time())
            self._report_new_heads()

    def _wait_seconds(self) -> float:
        deadline = None if self.driver is None else self.driver.next_deadline()
        if deadline is None:
            return MAXIMUM_WAIT_SECONDS
        return min(MAXIMUM_WAIT_SECONDS, max(0.0, deadline - time.time()))

    def _guarded(self, step: Callable[..., object], *arguments: object) -> None:
        # One bad step must not stop the node's consensus for good.
        try:
            step(*arguments)
        except Exception:
            logger.exception("consensus step failed")

    def _import(self, work: _Blocks) -> None:
        imported = 0
        try:
            for block_number, encoded in work.blocks:
                head = self.ledger.head.block_number
                if block_number <= head:
                    continue
                if block_number != head + 1:
                    break
                self._import_one(work.peer_id, block_number, encoded)
                imported += 1
        except ChainError as error:
            self._on_bad_block(work.peer_id, str(error))
        except Exception as error:
            logger.exception("importing a block from %s raised", work.peer_id)
            self._on_bad_block(work.peer_id, f"{type(error).__name__}: {error}")
        finally:
            self._report_new_heads()
            work.done.set_result(imported)

    def _import_one(self, peer_id: str, block_number: int, encoded: bytes) -> None:
        block = decode_block(encoded)
        if block.number != block_number:
            raise BlockRejected(
                block.number, f"announced as #{block_number} but is #{block.number}"
            )
        if self.driver is not None:
            self.driver.import_committed_block(block)
            return
        header = import_block(self.ledger, block)
        logger.info(
            "imported block #%d 0x%s with %d transactions from %s",
            header.block_number,
            header.hash.hex(),
            len(block.transactions),
            peer_id,
        )

    def _report_new_heads(self) -> None:
        head = self.ledger.head.block_number
        while self._reported < head:
            self._reported += 1
            header = self.ledger.header_by_number(self._reported)
            if header is not None:
                self._on_new_head(header)
