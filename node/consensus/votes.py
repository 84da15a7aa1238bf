"""The validator votes a member's operator asks its node to cast.

``qbft_proposeValidatorVote`` records a wish to add or drop a validator; each
block this node proposes then carries one of its wishes that would still change
the set and that it has not cast yet (``chain.validator_votes`` tallies them).
A wish stays until ``qbft_discardValidatorVote``, as in Besu; once the change
is in effect it is simply not cast any more.
"""

from __future__ import annotations

import threading

from eth_typing import Address

from chain.qbft.extra_data import ValidatorVote
from chain.validator_votes import ValidatorTally, vote_problem


class PendingVotes:
    """This node's wishes, shared by the JSON-RPC thread and the chain thread."""

    def __init__(self) -> None:
        self._wishes: dict[Address, bool] = {}
        self._lock = threading.Lock()

    def propose(self, recipient: Address, add: bool) -> None:
        """Wish ``recipient`` added (``add``) or dropped; replaces an older wish."""
        with self._lock:
            self._wishes[recipient] = add

    def discard(self, recipient: Address) -> bool:
        """Forget the wish about ``recipient``; return whether there was one."""
        with self._lock:
            return self._wishes.pop(recipient, None) is not None

    def pending(self) -> dict[Address, bool]:
        """Every wish: address to True for add, False for drop."""
        with self._lock:
            return dict(self._wishes)

    def choose(
        self,
        tally: ValidatorTally,
        proposer: Address,
        block_number: int,
        epoch_length: int,
    ) -> ValidatorVote | None:
        """The vote for ``proposer``'s block ``block_number`` after ``tally``.

        The first wish by address that block may carry (one that would still
        change the set, outside an epoch block) and that ``proposer`` has not
        already cast; None if there is none.
        """
        for recipient, add in sorted(self.pending().items()):
            if tally.votes.get((proposer, recipient)) == add:
                continue  # already cast, waiting for the others
            vote = ValidatorVote(recipient, add)
            if vote_problem(tally, block_number, vote, epoch_length) is None:
                return vote
        return None
