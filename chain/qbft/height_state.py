"""Per-height and per-round bookkeeping of the QBFT state machine."""

from __future__ import annotations

from dataclasses import dataclass, field

from eth_typing import Address

from chain.qbft.events import BlockFacts
from chain.qbft.messages import (
    CommitPayload,
    PreparePayload,
    Proposal,
    RoundChange,
    RoundChangePayload,
    SignedPayload,
)
from chain.qbft.validators import quorum_size


@dataclass
class RoundState:
    """Everything received or sent in one round of the current height."""

    proposal: Proposal | None = None
    facts: BlockFacts | None = None
    accepted: bool = False
    proposing: bool = False
    justification: tuple[SignedPayload[RoundChangePayload], ...] = ()
    prepares: dict[Address, SignedPayload[PreparePayload]] = field(default_factory=dict)
    commits: dict[Address, SignedPayload[CommitPayload]] = field(default_factory=dict)
    commit_sent: bool = False


@dataclass(frozen=True)
class PreparedCertificate:
    """The latest round this validator saw prepared, with the proof of it."""

    round: int
    block: bytes
    digest: bytes
    prepares: tuple[SignedPayload[PreparePayload], ...]


@dataclass
class HeightState:
    """The consensus instance deciding block ``height``."""

    height: int
    validators: tuple[Address, ...]
    previous_proposer: Address
    round: int | None = None
    rounds: dict[int, RoundState] = field(default_factory=dict)
    round_changes: dict[Address, dict[int, RoundChange]] = field(default_factory=dict)
    prepared: PreparedCertificate | None = None
    decided: bool = False

    @property
    def quorum(self) -> int:
        return quorum_size(len(self.validators))

    @property
    def current_round(self) -> int:
        # Before round 0 starts every round is in the future.
        return -1 if self.round is None else self.round


def digest_of(round_state: RoundState) -> bytes:
    """Return the digest of the round's proposal; only call once one is known."""
    if round_state.facts is None:
        raise RuntimeError("the round has no proposal yet")
    return round_state.facts.digest
