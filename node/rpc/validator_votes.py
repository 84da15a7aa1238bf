"""The ``qbft_`` JSON-RPC methods: the validator set and this node's votes.

As Besu names them: ``qbft_getValidatorsByBlockNumber``,
``qbft_proposeValidatorVote``, ``qbft_discardValidatorVote`` and
``qbft_getPendingVotes``. Proposing a vote is refused when the change, once in
effect, would leave fewer than a quorum of the new set online as far as this
node sees (itself and the members it is connected to).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eth_typing import Address
from eth_utils import to_checksum_address

from chain.ledger import Ledger
from chain.qbft.extra_data import decode_extra_data
from chain.validator_votes import quorum_problem
from node.consensus.votes import PendingVotes
from node.rpc.errors import ServerError
from node.rpc.params import parse_address, parse_block_id, parse_bool, positional

Handler = Callable[[Any], Any]


class ValidatorVoteApi:
    """Handlers for the validator set of ``ledger`` and the node's ``votes``.

    ``online()`` returns the addresses of the members whose nodes this node
    can reach, its own included. ``refusal`` is why this node casts no votes
    (a chain with one validator and no QBFT network), or None.
    """

    def __init__(
        self,
        ledger: Ledger,
        votes: PendingVotes,
        online: Callable[[], frozenset[Address]],
        header_for: Callable[[Any], Any],
        *,
        refusal: str | None = None,
    ) -> None:
        self.ledger = ledger
        self.votes = votes
        self.online = online
        self.header_for = header_for
        self.refusal = refusal

    def handlers(self) -> dict[str, Handler]:
        return {
            "qbft_getValidatorsByBlockNumber": self.validators_by_block_number,
            "qbft_proposeValidatorVote": self.propose_vote,
            "qbft_discardValidatorVote": self.discard_vote,
            "qbft_getPendingVotes": self.pending_votes,
        }

    def validators_by_block_number(self, params: Any) -> Any:
        """The validator set a block's header names, as Besu's method returns it."""
        (block_id,) = positional(params, 1, 1, "qbft_getValidatorsByBlockNumber")
        header = self.header_for(parse_block_id(block_id, "blockNumber"))
        if header is None:
            raise ServerError("header not found")
        extra = decode_extra_data(header.extra_data)
        return [to_checksum_address(validator) for validator in extra.validators]

    def propose_vote(self, params: Any) -> Any:
        """Cast, in this node's proposals, a vote to add or drop an account."""
        address, add = positional(params, 2, 2, "qbft_proposeValidatorVote")
        recipient = parse_address(address, "address")
        add = parse_bool(add, "add")
        if self.refusal is not None:
            raise ServerError(f"vote refused: {self.refusal}")

        validators = self.ledger.validators_after(self.ledger.head)
        problem = quorum_problem(validators, self.online(), recipient, add)
        if problem is not None:
            raise ServerError(f"vote refused: {problem}")
        self.votes.propose(recipient, add)
        return True

    def discard_vote(self, params: Any) -> Any:
        """Stop casting the vote about an account."""
        (address,) = positional(params, 1, 1, "qbft_discardValidatorVote")
        self.votes.discard(parse_address(address, "address"))
        return True

    def pending_votes(self, params: Any) -> Any:
        """The votes this node casts: address to true (add) or false (drop)."""
        positional(params, 0, 0, "qbft_getPendingVotes")
        return {
            to_checksum_address(recipient): add
            for recipient, add in sorted(self.votes.pending().items())
        }
