"""Changes to the validator set, by the votes that proposers put in headers.

Each block's proposer may carry one vote in the header's ``extraData``: add an
account to the validator set, or drop a validator. The current validators'
votes are tallied block by block, and a change takes effect, from the next
block on, once more than half of the validators have voted for it (Besu's
block-header validator selection for QBFT). Pending votes are discarded:

- at each epoch block (a number that is a multiple of the epoch length), which
  itself carries no vote;
- for a candidate, once the change for it takes effect;
- of a validator, once it is dropped.

Pure code: ``chain.ledger`` stores the tally after each block and hands it in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import rlp
from eth_typing import Address

from chain.qbft.extra_data import ValidatorVote
from chain.qbft.validators import quorum_size, sort_validators


@dataclass(frozen=True)
class ValidatorTally:
    """The validator set after a block, and the votes pending at that point.

    ``validators`` (sorted by address) validate the next block. ``votes`` maps
    (voter, candidate) to True for add and False for drop.
    """

    validators: tuple[Address, ...]
    votes: Mapping[tuple[Address, Address], bool]

    @classmethod
    def starting_with(cls, validators: tuple[Address, ...]) -> ValidatorTally:
        """The tally of a chain's genesis: its validators and no votes."""
        return cls(sort_validators(validators), {})

    def after_block(
        self,
        block_number: int,
        proposer: Address,
        vote: ValidatorVote | None,
        epoch_length: int,
    ) -> ValidatorTally:
        """Return the tally once block ``block_number`` with ``vote`` is added.

        The block must have passed ``vote_problem``; an epoch block resets
        the votes.
        """
        if block_number % epoch_length == 0:
            return ValidatorTally(self.validators, {})
        if vote is None:
            return self

        votes = dict(self.votes)
        votes[(proposer, vote.recipient)] = vote.add
        in_favour = sum(
            1
            for (_, candidate), add in votes.items()
            if candidate == vote.recipient and add == vote.add
        )
        if 2 * in_favour <= len(self.validators):
            return ValidatorTally(self.validators, votes)

        return self._with_change(vote, votes)

    def _with_change(
        self, vote: ValidatorVote, votes: dict[tuple[Address, Address], bool]
    ) -> ValidatorTally:
        recipient = vote.recipient
        validators = set_after_change(self.validators, recipient, vote.add)
        # Votes about the recipient are settled; a dropped validator's own
        # votes no longer count.
        remaining = {
            (voter, candidate): add
            for (voter, candidate), add in votes.items()
            if candidate != recipient and (vote.add or voter != recipient)
        }
        return ValidatorTally(validators, remaining)

    def encode(self) -> bytes:
        """RLP of ``[validators, [[voter, candidate, add], ...]]``, as stored."""
        votes = [
            [voter, candidate, b"\x01" if add else b""]
            for (voter, candidate), add in sorted(self.votes.items())
        ]
        return bytes(rlp.encode([list(self.validators), votes]))

    @classmethod
    def decode(cls, encoded: bytes) -> ValidatorTally:
        """The tally that ``encode`` wrote."""
        validators, votes = rlp.decode(encoded)
        return cls(
            tuple(Address(v) for v in validators),
            {
                (Address(voter), Address(candidate)): add == b"\x01"
                for voter, candidate, add in votes
            },
        )


def vote_problem(
    tally: ValidatorTally,
    block_number: int,
    vote: ValidatorVote | None,
    epoch_length: int,
) -> str | None:
    """Why block ``block_number`` may not carry ``vote`` after ``tally``, or None.

    Rejected: any vote in an epoch block, a vote to add a validator, to drop
    an account that is not one, or to drop the last validator.
    """
    if vote is None:
        return None
    recipient = "0x" + vote.recipient.hex()
    if block_number % epoch_length == 0:
        return "an epoch block carries no validator vote"
    if vote.add and vote.recipient in tally.validators:
        return f"vote to add {recipient}, already a validator"
    if not vote.add and vote.recipient not in tally.validators:
        return f"vote to drop {recipient}, not a validator"
    if not vote.add and len(tally.validators) == 1:
        return f"vote to drop {recipient}, the last validator"
    return None


def set_after_change(
    validators: tuple[Address, ...], recipient: Address, add: bool
) -> tuple[Address, ...]:
    """The validator set once a vote to add or drop ``recipient`` takes effect."""
    if add:
        return sort_validators((*validators, recipient))
    return tuple(v for v in validators if v != recipient)


def quorum_problem(
    validators: tuple[Address, ...],
    online: frozenset[Address],
    recipient: Address,
    add: bool,
) -> str | None:
    """Why a change would stall the chain with only ``online`` running, or None.

    A set with fewer than a quorum of its members online commits no block;
    a vote that would produce one (adding an account whose node is down, or
    dropping one of the few validators that are up) is refused.
    """
    after = set_after_change(validators, recipient, add)
    if not after:
        return "the change would leave no validators"
    running = len(set(after) & online)
    needed = quorum_size(len(after))
    if running < needed:
        return (
            f"after the change {running} of its {len(after)} validators would be "
            f"online, fewer than the quorum of {needed}: the chain would stop; "
            "bring validators online first"
        )
    return None
