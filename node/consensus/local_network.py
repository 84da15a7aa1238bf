"""Several validators in one process: real ledgers, an in-memory bus, fake time.

For tests and experiments. Each validator has its own ``Ledger`` in its own
folder under one genesis, and its own ``QbftDriver``. A broadcast goes onto a
bus and reaches every other online validator in send order, with no latency.
Time is a number that moves only when ``run_until`` jumps it to the next timer,
so a run is deterministic and takes only the time its block executions take.

``message_filter`` sees every delivery ``(sender, recipient, code, data)`` and
returns the bytes to deliver or None to drop them: a test builds partitions,
lost messages and byzantine senders with it. An offline validator neither
receives nor ticks, and messages sent to it are lost, as with a stopped process.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from eth.abc import BlockHeaderAPI

from chain.genesis import Genesis
from chain.ledger import Ledger
from chain.qbft.events import QbftConfig
from node.consensus.driver import QbftDriver, consensus_config
from node.consensus.votes import PendingVotes

logger = logging.getLogger(__name__)

MessageFilter = Callable[[int, int, int, bytes], bytes | None]
"""``(sender, recipient, message_code, data)`` -> bytes to deliver, or None."""


@dataclass
class LocalValidator:
    """One validator of a local network: its ledger, its driver, whether it runs."""

    index: int
    key: bytes
    ledger: Ledger
    driver: QbftDriver
    votes: PendingVotes
    online: bool = True


class LocalNetwork:
    """Validators with one shared genesis, joined by an in-memory message bus."""

    def __init__(
        self,
        genesis: Genesis,
        validator_keys: Sequence[bytes],
        data_dir: Path,
        *,
        config: QbftConfig | None = None,
        start_time: float | None = None,
        max_transactions: int = 500,
    ) -> None:
        self.genesis = genesis
        self.config = config or consensus_config(genesis)
        self.now = float(genesis.timestamp) if start_time is None else start_time
        self.message_filter: MessageFilter | None = None
        self.messages_delivered = 0
        self._max_transactions = max_transactions
        self._bus: deque[tuple[int, int, bytes]] = deque()
        self.validators = [
            self._new_validator(index, key, data_dir / f"validator-{index}")
            for index, key in enumerate(validator_keys)
        ]

    def _new_validator(self, index: int, key: bytes, folder: Path) -> LocalValidator:
        ledger = Ledger(folder, self.genesis, sync_writes=False)
        votes = PendingVotes()
        driver = self._new_driver(index, key, ledger, votes)
        return LocalValidator(index, key, ledger, driver, votes)

    def _new_driver(
        self, index: int, key: bytes, ledger: Ledger, votes: PendingVotes
    ) -> QbftDriver:
        def send(message_code: int, data: bytes) -> None:
            self._bus.append((index, message_code, data))

        return QbftDriver(
            ledger,
            key,
            self.config,
            send,
            self.clock,
            max_transactions=self._max_transactions,
            votes=votes,
        )

    # --- control ------------------------------------------------------------------

    def clock(self) -> float:
        """Return the network's fake time, the clock every driver reads."""
        return self.now

    def start(self) -> None:
        """Start consensus on every online validator."""
        for validator in self.online():
            validator.driver.start()

    def stop(self, index: int) -> None:
        """Stop validator ``index`` as a crash would; messages sent to it are lost.

        Its ledger keeps what it committed; its consensus state is gone.
        """
        self.validators[index].online = False

    def rejoin(self, index: int, source: int) -> None:
        """Restart validator ``index`` with a fresh driver, after the blocks it missed.

        The blocks come straight from the ledger of validator ``source``: this
        harness tests consensus, and block sync between processes is tested
        with real nodes (``tests/network``).
        """
        validator = self.validators[index]
        validator.driver = self._new_driver(
            index, validator.key, validator.ledger, validator.votes
        )
        source_ledger = self.validators[source].ledger
        for block_number in range(
            validator.ledger.head.block_number + 1,
            source_ledger.head.block_number + 1,
        ):
            header = _header(source_ledger, block_number)
            validator.driver.import_committed_block(source_ledger.block_of(header))
        validator.online = True
        validator.driver.start()

    def close(self) -> None:
        """Close every ledger."""
        for validator in self.validators:
            validator.ledger.close()

    # --- running ------------------------------------------------------------------

    def online(self) -> list[LocalValidator]:
        """Return the validators that are running."""
        return [validator for validator in self.validators if validator.online]

    def heads(self) -> list[int]:
        """Return every validator's head block number, in index order."""
        return [v.ledger.head.block_number for v in self.validators]

    def all_reached(self, block_number: int) -> Callable[[], bool]:
        """Return a stop condition: every online validator has ``block_number``."""
        return lambda: all(
            v.ledger.head.block_number >= block_number for v in self.online()
        )

    def deliver_messages(self) -> None:
        """Deliver queued messages, and those they cause, until the bus is empty."""
        while self._bus:
            sender, message_code, data = self._bus.popleft()
            for recipient in self.online():
                if recipient.index == sender:
                    continue
                delivered: bytes | None = data
                if self.message_filter is not None:
                    delivered = self.message_filter(
                        sender, recipient.index, message_code, data
                    )
                if delivered is None:
                    continue
                self.messages_delivered += 1
                recipient.driver.on_message(message_code, delivered)

    def run_until(self, done: Callable[[], bool], *, timeout_seconds: float) -> bool:
        """Run until ``done()`` or ``timeout_seconds`` of fake time; return ``done()``.

        Messages are delivered first; when the bus is empty time jumps to the
        earliest timer of any online validator, and every online validator
        fires what is due.
        """
        time_limit = self.now + timeout_seconds
        while True:
            self.deliver_messages()
            if done():
                return True
            deadlines = [
                deadline
                for v in self.online()
                if (deadline := v.driver.next_deadline()) is not None
            ]
            if not deadlines or min(deadlines) > time_limit:
                self.now = max(self.now, time_limit)
                return done()
            self.now = max(self.now, min(deadlines))
            for validator in self.online():
                validator.driver.tick(self.now)

    def canonical_headers(self, index: int) -> list[BlockHeaderAPI]:
        """Return validator ``index``'s headers from block 1 to its head."""
        ledger = self.validators[index].ledger
        return [
            _header(ledger, block_number)
            for block_number in range(1, ledger.head.block_number + 1)
        ]


def _header(ledger: Ledger, block_number: int) -> BlockHeaderAPI:
    header = ledger.header_by_number(block_number)
    if header is None:
        raise LookupError(f"ledger has no canonical block #{block_number}")
    return header
