"""What goes into the QBFT state machine, what comes out, and what the host supplies.

Inputs (``Event``)::

    NewChainHead        a block was imported (by our decision or by sync)
    MessageReceived     bytes of a consensus message from a peer, with its code
    BlockTimerExpired   the block period after the parent block has elapsed
    RoundTimerExpired   the timer of a round ran out
    BlockBuilt          the host built the block that BuildBlock asked for
    BlockValidated      the host executed a proposed block and it is valid
    BlockInvalid        the host executed a proposed block and it is not

Outputs (``Effect``)::

    Broadcast           send these message bytes to every other validator
    StartBlockTimer     fire BlockTimerExpired at an absolute time
    StartRoundTimer     fire RoundTimerExpired after a duration (replaces older ones)
    BuildBlock          build a block for this height and round, reply BlockBuilt
    ValidateBlock       execute this proposed block, reply BlockValidated/BlockInvalid
    CommitBlock         the block is decided: seal it with these seals and import it
    MessageRejected     a message broke a rule; the host logs it, nothing else

Times are seconds as numbers; the machine never reads a clock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from eth_typing import Address


@dataclass(frozen=True)
class QbftConfig:
    """Consensus timing and memory bounds.

    ``block_period_seconds`` is the minimum gap between block timestamps;
    ``request_timeout_seconds`` the timeout of round 0, doubled every round up
    to ``maximum_round_timeout_seconds``. ``future_message_limit`` bounds the
    messages kept for heights not reached yet, ``future_round_window`` how far
    ahead of the current round PREPAREs and COMMITs are kept, and
    ``round_changes_per_validator`` how many rounds of ROUND-CHANGEs are kept
    from each validator.
    """

    block_period_seconds: float = 1.0
    request_timeout_seconds: float = 2.0
    maximum_round_timeout_seconds: float = 30.0
    future_message_limit: int = 1000
    future_round_window: int = 10
    round_changes_per_validator: int = 8


@dataclass(frozen=True)
class BlockFacts:
    """What consensus needs to know about a proposed block.

    ``digest`` is the block hash that excludes committed seals: the value that
    PREPARE and COMMIT name and that each committed seal signs. ``round`` is the
    round written in the block's extraData and ``proposer`` its coinbase.
    """

    height: int
    round: int
    proposer: Address
    digest: bytes


class BlockInterface(Protocol):
    """The host's view of blocks; the machine treats block bytes as opaque.

    Both methods raise a ``ChainError`` for bytes that are not a block.
    """

    def describe(self, block: bytes) -> BlockFacts:
        """Return the height, round, proposer and digest of ``block``."""
        ...

    def replace_round(
        self, block: bytes, round_number: int, proposer: Address
    ) -> bytes:
        """Return ``block`` with ``round_number`` in its extraData and no seals.

        The host may also set the coinbase to ``proposer`` (Besu does when it
        re-proposes a prepared block); it must do the same every time, since
        justifications are checked by replacing the round back.
        """
        ...


# --- inputs -----------------------------------------------------------------------


@dataclass(frozen=True)
class NewChainHead:
    """Block ``block_number`` is now the head; consensus moves to the next height.

    ``proposer`` is that block's coinbase, ``validators`` the validator set for
    the next block and ``timestamp`` the head's header timestamp.
    """

    block_number: int
    proposer: Address
    validators: tuple[Address, ...]
    timestamp: float


@dataclass(frozen=True)
class MessageReceived:
    """A peer sent ``data`` with the devp2p message code ``message_code``."""

    message_code: int
    data: bytes


@dataclass(frozen=True)
class BlockTimerExpired:
    """The block period after the parent of ``height`` has elapsed."""

    height: int


@dataclass(frozen=True)
class RoundTimerExpired:
    """Round ``round`` of ``height`` ran out of time."""

    height: int
    round: int


@dataclass(frozen=True)
class BlockBuilt:
    """The block the machine asked for with ``BuildBlock``."""

    height: int
    round: int
    block: bytes


@dataclass(frozen=True)
class BlockValidated:
    """The proposed block with ``digest`` executed and is valid."""

    height: int
    round: int
    digest: bytes


@dataclass(frozen=True)
class BlockInvalid:
    """The proposed block with ``digest`` failed execution; ``reason`` says why."""

    height: int
    round: int
    digest: bytes
    reason: str


Event = (
    NewChainHead
    | MessageReceived
    | BlockTimerExpired
    | RoundTimerExpired
    | BlockBuilt
    | BlockValidated
    | BlockInvalid
)


# --- outputs ----------------------------------------------------------------------


@dataclass(frozen=True)
class Broadcast:
    """Send ``data`` with ``message_code`` to every other validator."""

    message_code: int
    data: bytes


@dataclass(frozen=True)
class StartBlockTimer:
    """Fire ``BlockTimerExpired(height)`` at ``expires_at`` (header-time seconds)."""

    height: int
    expires_at: float


@dataclass(frozen=True)
class StartRoundTimer:
    """Fire ``RoundTimerExpired(height, round)`` after ``duration_seconds``.

    A new round timer supersedes the previous one; the machine ignores the
    expiry of any round it has left, so cancelling is optional.
    """

    height: int
    round: int
    duration_seconds: float


@dataclass(frozen=True)
class BuildBlock:
    """Build a block for ``height`` whose extraData round is ``round``.

    Its coinbase must be this validator; reply with ``BlockBuilt``.
    """

    height: int
    round: int


@dataclass(frozen=True)
class ValidateBlock:
    """Execute the proposed ``block``; reply ``BlockValidated`` or ``BlockInvalid``."""

    height: int
    round: int
    block: bytes
    digest: bytes


@dataclass(frozen=True)
class CommitBlock:
    """``block`` is final: put ``committed_seals`` in its extraData and import it.

    The seals are in validator order, one per committer, each over ``digest``.
    Follow with ``NewChainHead`` once imported.
    """

    height: int
    round: int
    block: bytes
    digest: bytes
    committed_seals: tuple[bytes, ...]


@dataclass(frozen=True)
class MessageRejected:
    """A message broke ``rule``; ``author`` is None when it could not be known."""

    message_code: int
    author: Address | None
    rule: str


Effect = (
    Broadcast
    | StartBlockTimer
    | StartRoundTimer
    | BuildBlock
    | ValidateBlock
    | CommitBlock
    | MessageRejected
)
