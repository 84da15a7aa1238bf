"""One validator's QBFT state machine, run against its ledger.

``QbftDriver`` owns a ``chain.qbft.state_machine.QbftStateMachine`` and carries
out every effect it asks for::

    Broadcast        send(code, data) to the other validators
    StartBlockTimer  kept in a timer table that the host advances with tick(now)
    StartRoundTimer  likewise; a new round timer replaces the old one
    BuildBlock       build_block on the head; reply BlockBuilt (seals stripped)
    ValidateBlock    check the proposed header, execute_block without seals;
                     reply BlockValidated or BlockInvalid
    CommitBlock      put the committed seals in extraData, commit_block, reply
                     NewChainHead so consensus moves to the next height
    MessageRejected  counted; logged once per (author, rule)

Executed blocks are kept by on-chain hash until the head moves, so the block a
quorum commits is persisted from the execution that validated it rather than
executed twice. That hash leaves the round and the seals out, so a prepared
block re-proposed in a later round (see ``block_interface``) finds the same
execution.

The driver reads no clock of its own (``clock`` is passed in), opens no socket
and starts no thread: its host (the node's event loop, or the in-memory
``local_network``) calls it from one thread at a time.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections import Counter, deque
from collections.abc import Callable, MutableMapping
from typing import Any

from eth.abc import BlockAPI, BlockHeaderAPI
from eth_typing import Address

from chain.block_production import (
    BuiltBlock,
    build_block,
    commit_block,
    execute_block,
    import_block,
)
from chain.errors import BlockRejected, ChainError
from chain.genesis import Genesis
from chain.ledger import Ledger
from chain.qbft.events import (
    BlockBuilt,
    BlockInvalid,
    BlockTimerExpired,
    BlockValidated,
    Broadcast,
    BuildBlock,
    CommitBlock,
    Effect,
    Event,
    MessageReceived,
    MessageRejected,
    NewChainHead,
    QbftConfig,
    RoundTimerExpired,
    StartBlockTimer,
    StartRoundTimer,
    ValidateBlock,
)
from chain.qbft.messages import MessageCode
from chain.qbft.state_machine import QbftStateMachine
from node.consensus.block_interface import (
    ConsortiumBlockInterface,
    decode_block,
    encode_block,
    header_extra_data,
    with_extra_data,
    without_seals,
)
from node.consensus.timers import PendingTimer, TimerKind, TimerTable
from node.consensus.votes import PendingVotes

logger = logging.getLogger(__name__)


class _ValidatorLog(logging.LoggerAdapter[logging.Logger]):
    """Prefixes each line with the node's address: a test network or a
    benchmark runs several validators in one process."""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        validator = (self.extra or {}).get("validator")
        return f"node {validator}: {msg}", kwargs


# How far a proposed block's timestamp may run ahead of this validator's clock,
# as Besu's BFT header rule TimestampBoundedByFutureParameter(1) allows.
MAXIMUM_FUTURE_SECONDS = 1.0
# Distinct (author, rule) pairs remembered for logging. Authors are recovered
# from signatures, so random signatures mint new ones; past this many pairs a
# rejection is only counted.
REJECTION_KEYS_LIMIT = 1024
# The state machine's rule for late votes: routine after a decision, not a fault.
PAST_HEIGHT_RULE = "message for a past height"


def consensus_config(
    genesis: Genesis, *, maximum_round_timeout_seconds: float = 30.0
) -> QbftConfig:
    """Return the state machine's timing from the genesis ``qbft`` block.

    ``maximum_round_timeout_seconds`` caps the doubling round timeout; it is not
    in the genesis, so it is at least the request timeout.
    """
    request_timeout = float(genesis.qbft.request_timeout_seconds)
    return QbftConfig(
        block_period_seconds=float(genesis.qbft.block_period_seconds),
        request_timeout_seconds=request_timeout,
        maximum_round_timeout_seconds=max(
            maximum_round_timeout_seconds, request_timeout
        ),
    )


class QbftDriver:
    """Feeds one validator's QBFT state machine and performs its effects.

    ``send(code, data)`` hands a message to the transport for every other
    validator and must not call back into this driver; ``clock()`` returns the
    current time in seconds, on the same scale as header timestamps.
    """

    def __init__(
        self,
        ledger: Ledger,
        validator_key: bytes,
        config: QbftConfig,
        send: Callable[[int, bytes], None],
        clock: Callable[[], float],
        *,
        max_transactions: int = 500,
        votes: PendingVotes | None = None,
    ) -> None:
        self._ledger = ledger
        self._votes = votes or PendingVotes()
        self._validator_key = validator_key
        self._config = config
        self._send = send
        self._clock = clock
        self._max_transactions = max_transactions
        self._machine = QbftStateMachine(
            config, validator_key, ConsortiumBlockInterface()
        )
        self._log = _ValidatorLog(logger, {"validator": f"0x{self.address.hex()[:8]}"})
        self._timers = TimerTable()
        self._executed: dict[bytes, BuiltBlock] = {}
        self._pending: deque[Event] = deque()
        self._feeding = False
        self.rejections: Counter[tuple[Address | None, str]] = Counter()
        self.rejected_messages = 0
        self.invalid_proposals = 0
        self.last_invalid_reason: str | None = None

    # --- what the host calls ------------------------------------------------------

    @property
    def address(self) -> Address:
        """The validator address this driver signs as."""
        return self._machine.address

    @property
    def height(self) -> int | None:
        """The block number being decided, or None before ``start``."""
        return self._machine.height

    @property
    def round(self) -> int | None:
        """The current round, or None while waiting for the block period."""
        return self._machine.round

    def start(self) -> None:
        """Begin consensus on the block after the ledger's head."""
        self._feed(self._head_event())

    def on_message(self, message_code: int, data: bytes) -> None:
        """Take a consensus message that a peer sent; bad ones are only counted."""
        self._feed(MessageReceived(message_code, data))

    def tick(self, now: float) -> None:
        """Fire every timer due at ``now``, a reading of this driver's clock."""
        while (timer := self._timers.pop_due(now)) is not None:
            self._feed(timer.event)

    def next_deadline(self) -> float | None:
        """Return when ``tick`` next has work, or None if no timer runs."""
        return self._timers.next_deadline()

    def import_committed_block(self, block: BlockAPI) -> BlockHeaderAPI:
        """Import a block that other validators committed, then move consensus on.

        The block must extend the head and carry a quorum of committed seals;
        ``import_block`` re-executes it and rejects it (``BlockRejected``)
        otherwise.

        ``node.sync`` calls this (through the chain thread) with the blocks it
        fetches from peers when this node falls behind. Seals are checked
        against the validator set of the block's own height.
        """
        header = import_block(self._ledger, block)
        self._after_new_head(header)
        self._log.info(
            "imported block #%d 0x%s committed by others",
            header.block_number,
            header.hash.hex(),
        )
        self._feed(self._head_event())
        return header

    # --- feeding the machine ------------------------------------------------------

    def _feed(self, event: Event) -> None:
        # Effects answer with further events (BlockBuilt, NewChainHead, ...);
        # they are queued rather than handled recursively, and a call that
        # arrives while the queue drains joins it.
        self._pending.append(event)
        if self._feeding:
            return
        self._feeding = True
        try:
            while self._pending:
                for effect in self._machine.handle(self._pending.popleft()):
                    reply = self._perform(effect)
                    if reply is not None:
                        self._pending.append(reply)
        finally:
            self._feeding = False

    def _perform(self, effect: Effect) -> Event | None:
        if isinstance(effect, Broadcast):
            self._send(effect.message_code, effect.data)
        elif isinstance(effect, StartBlockTimer):
            event = BlockTimerExpired(effect.height)
            self._timers.set(
                TimerKind.BLOCK, PendingTimer(effect.expires_at, effect.height, event)
            )
        elif isinstance(effect, StartRoundTimer):
            self._start_round_timer(effect)
        elif isinstance(effect, BuildBlock):
            return self._build(effect)
        elif isinstance(effect, ValidateBlock):
            return self._validate(effect)
        elif isinstance(effect, CommitBlock):
            return self._commit(effect)
        else:
            self._note_rejection(effect)
        return None

    def _start_round_timer(self, effect: StartRoundTimer) -> None:
        if effect.round > 0:
            self._log.info(
                "height %d: round change to round %d (timeout %.1f s)",
                effect.height,
                effect.round,
                effect.duration_seconds,
            )
        expires_at = self._clock() + effect.duration_seconds
        event = RoundTimerExpired(effect.height, effect.round)
        self._timers.set(
            TimerKind.ROUND, PendingTimer(expires_at, effect.height, event)
        )

    # --- building, validating and committing blocks -------------------------------

    def _build(self, effect: BuildBlock) -> Event | None:
        parent = self._ledger.head
        if parent.block_number + 1 != effect.height:
            self._log.error(
                "cannot build block #%d: the ledger's head is #%d",
                effect.height,
                parent.block_number,
            )
            return None
        earliest = math.ceil(parent.timestamp + self._config.block_period_seconds)
        timestamp = max(earliest, int(self._clock()))

        vote = self._votes.choose(
            self._ledger.validator_tally_after(parent),
            self.address,
            effect.height,
            self._ledger.genesis.qbft.epoch_length,
        )
        try:
            built = build_block(
                self._ledger,
                self._validator_key,
                timestamp,
                round_number=effect.round,
                max_transactions=self._max_transactions,
                vote=vote,
            )
        except ChainError as error:
            # Without a proposal the round times out and the next proposer tries.
            self._log.error(
                "height %d round %d: building a block failed: %s",
                effect.height,
                effect.round,
                error,
            )
            return None

        # build_block seals with the proposer's own seal; a proposal carries
        # none, and the committed seals replace them at commit.
        block = without_seals(built.block)
        self._executed[block.header.hash] = dataclasses.replace(built, block=block)
        self._log.debug(
            "height %d round %d: built block 0x%s with %d transactions",
            effect.height,
            effect.round,
            block.header.hash.hex(),
            len(block.transactions),
        )
        return BlockBuilt(effect.height, effect.round, encode_block(block))

    def _validate(self, effect: ValidateBlock) -> Event:
        try:
            block = decode_block(effect.block)
            self._check_proposed_header(block.header)
            built = execute_block(self._ledger, block, require_seals=False)
        except ChainError as error:
            return self._invalid(effect, str(error))
        except Exception as error:
            # A proposal is untrusted input: whatever py-evm raises on it must
            # not stop the node. Logged with its traceback, since it may be a bug.
            self._log.exception(
                "height %d round %d: executing the proposed block raised",
                effect.height,
                effect.round,
            )
            return self._invalid(effect, f"{type(error).__name__}: {error}")

        self._executed[block.header.hash] = built
        return BlockValidated(effect.height, effect.round, effect.digest)

    def _check_proposed_header(self, header: BlockHeaderAPI) -> None:
        """Reject what execution does not check: the QBFT rules on a proposal.

        A proposal carries no committed seals, names the validator set in its
        extraData, has a validator as coinbase, comes at least a block period
        after its parent and not more than ``MAXIMUM_FUTURE_SECONDS`` ahead of
        this validator's clock.
        """
        block_number = header.block_number
        extra = header_extra_data(header)
        validators = set(self._validators())
        parent = self._ledger.head

        if extra.committed_seals:
            raise BlockRejected(block_number, "a proposed block carries seals")
        if set(extra.validators) != validators:
            raise BlockRejected(
                block_number, "extraData validators differ from the validator set"
            )
        if header.coinbase not in validators:
            raise BlockRejected(block_number, "coinbase is not a validator")
        earliest = parent.timestamp + self._config.block_period_seconds
        if header.timestamp < earliest:
            raise BlockRejected(
                block_number,
                f"timestamp {header.timestamp} is within the block period after "
                f"the parent's {parent.timestamp}",
            )
        latest = self._clock() + MAXIMUM_FUTURE_SECONDS
        if header.timestamp > latest:
            raise BlockRejected(
                block_number,
                f"timestamp {header.timestamp} is ahead of this validator's "
                f"clock ({latest:.0f} at the latest)",
            )

    def _invalid(self, effect: ValidateBlock, reason: str) -> Event:
        self.invalid_proposals += 1
        self.last_invalid_reason = reason
        self._log.warning(
            "height %d round %d: proposed block 0x%s is invalid: %s",
            effect.height,
            effect.round,
            effect.digest.hex(),
            reason,
        )
        return BlockInvalid(effect.height, effect.round, effect.digest, reason)

    def _commit(self, effect: CommitBlock) -> Event | None:
        if self._ledger.head.block_number >= effect.height:
            # Imported by other means first; consensus only needs the new head.
            self._check_same_as_imported(effect)
            return self._head_event()
        try:
            built = self._sealed_block(effect)
            header = commit_block(self._ledger, built)
        except ChainError as error:
            # Block sync fetches the committed block from a peer once this
            # node's head has not moved for a while (see node.sync).
            self._log.error(
                "height %d: the decided block 0x%s could not be committed: %s",
                effect.height,
                effect.digest.hex(),
                error,
            )
            return None

        self._after_new_head(header)
        self._log.info(
            "committed block #%d 0x%s in round %d with %d transactions and %d seals",
            header.block_number,
            header.hash.hex(),
            effect.round,
            len(built.block.transactions),
            len(effect.committed_seals),
        )
        return self._head_event()

    def _check_same_as_imported(self, effect: CommitBlock) -> None:
        imported = self._ledger.header_by_number(effect.height)
        decided = decode_block(effect.block).header.hash
        if imported is not None and imported.hash != decided:
            # Two blocks final at one height: a quorum signed both, so more than
            # f validators are faulty. Nothing here can repair that.
            self._log.critical(
                "height %d: decided block 0x%s but block 0x%s was imported",
                effect.height,
                decided.hex(),
                imported.hash.hex(),
            )

    def _sealed_block(self, effect: CommitBlock) -> BuiltBlock:
        proposal = decode_block(effect.block)
        extra = header_extra_data(proposal.header).with_seals(effect.committed_seals)
        sealed = with_extra_data(proposal, extra)
        kept = self._executed.get(sealed.header.hash)
        if kept is None:
            # A prepared block this validator re-proposed without having seen
            # it before was never executed here; it is now, seals and all.
            return execute_block(self._ledger, sealed, require_seals=True)
        return dataclasses.replace(kept, block=kept.block.copy(header=sealed.header))

    def _after_new_head(self, header: BlockHeaderAPI) -> None:
        # Executions and timers of decided heights are of no further use.
        self._executed.clear()
        self._timers.discard_through(header.block_number)

    # --- helpers ------------------------------------------------------------------

    def _validators(self) -> tuple[Address, ...]:
        # The set that the votes up to the head give decides the next block.
        return self._ledger.validators_after(self._ledger.head)

    def _head_event(self) -> NewChainHead:
        head = self._ledger.head
        return NewChainHead(
            block_number=head.block_number,
            proposer=Address(head.coinbase),
            validators=self._validators(),
            timestamp=float(head.timestamp),
        )

    def _note_rejection(self, effect: MessageRejected) -> None:
        self.rejected_messages += 1
        key = (effect.author, effect.rule)
        if key in self.rejections:
            self.rejections[key] += 1
            return
        if len(self.rejections) >= REJECTION_KEYS_LIMIT:
            return
        self.rejections[key] = 1
        level = logging.DEBUG if effect.rule == PAST_HEIGHT_RULE else logging.WARNING
        self._log.log(
            level,
            "rejected QBFT %s from %s: %s (further ones are only counted)",
            _message_name(effect.message_code),
            "an unknown sender"
            if effect.author is None
            else f"0x{effect.author.hex()}",
            effect.rule,
        )


def _message_name(message_code: int) -> str:
    try:
        return MessageCode(message_code).name
    except ValueError:
        return f"message {message_code:#04x}"
