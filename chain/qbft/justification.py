"""Checks that a ROUND-CHANGE or a PROPOSAL carries the proof it claims to.

Moniz, "The Istanbul BFT Consensus Algorithm" (2020), JustifyRoundChange and
JustifyPrePrepare, as Besu's ``RoundChangeMessageValidator`` and
``ProposalValidator`` apply them:

- a ROUND-CHANGE that names a prepared round carries that round's block and a
  quorum of PREPAREs for it, and the prepared round is below the target round;
- a PROPOSAL for round 0 carries nothing; a PROPOSAL for a later round carries
  a quorum of ROUND-CHANGE payloads for its height and round and, if any of them
  is prepared, a quorum of PREPAREs for the highest prepared round, whose block
  is the proposed block with only its round (and proposer) changed.

Each check raises ``QbftMessageError`` naming the rule at the first failure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from eth_typing import Address

from chain.errors import QbftMessageError
from chain.qbft.events import BlockFacts, BlockInterface
from chain.qbft.messages import (
    PreparePayload,
    Proposal,
    RoundChange,
    RoundChangePayload,
    SignedPayload,
)


def check_prepare_certificate(
    prepares: Sequence[SignedPayload[PreparePayload]],
    *,
    height: int,
    prepared_round: int,
    digest: bytes,
    validators: Sequence[Address],
    quorum: int,
    message_type: str,
) -> None:
    """Check that ``prepares`` prove ``digest`` prepared in ``prepared_round``.

    Rejects more entries than validators, a bad signature, a non-validator or
    repeated author, a PREPARE for another height, round or digest, and fewer
    than ``quorum`` entries.
    """
    if len(prepares) > len(validators):
        raise QbftMessageError(message_type, "more prepares than validators")
    authors = _distinct_validator_authors(prepares, validators, message_type, "prepare")
    for prepare in prepares:
        payload = prepare.payload
        if (payload.height, payload.round) != (height, prepared_round):
            raise QbftMessageError(
                message_type, "prepare is not for the height and prepared round"
            )
        if payload.digest != digest:
            raise QbftMessageError(
                message_type, "prepare digest differs from the prepared digest"
            )
    if len(authors) < quorum:
        raise QbftMessageError(
            message_type, f"{len(authors)} prepares are fewer than the quorum {quorum}"
        )


def check_round_change(
    message: RoundChange,
    *,
    height: int,
    validators: Sequence[Address],
    quorum: int,
    blocks: BlockInterface,
) -> None:
    """Check the prepared certificate a ROUND-CHANGE carries, if it claims one.

    Rejects a block or prepares without a prepared round, a prepared round
    without a block, a prepared round not below the target round, a block whose
    height, round or digest differ from the claim, and a prepare certificate
    that ``check_prepare_certificate`` rejects. Block decoding errors from
    ``blocks`` propagate as the host's ``ChainError``.
    """
    prepared = message.prepared
    if prepared is None:
        if message.prepared_block is not None or message.prepares:
            raise QbftMessageError(
                "ROUND_CHANGE", "block or prepares sent without a prepared round"
            )
        return
    if message.prepared_block is None:
        raise QbftMessageError("ROUND_CHANGE", "prepared round sent without its block")
    if prepared.round >= message.round:
        raise QbftMessageError(
            "ROUND_CHANGE", "prepared round is not below the target round"
        )

    facts = blocks.describe(message.prepared_block)
    if (facts.height, facts.round) != (height, prepared.round):
        raise QbftMessageError(
            "ROUND_CHANGE", "prepared block is not for the height and prepared round"
        )
    if facts.digest != prepared.digest:
        raise QbftMessageError(
            "ROUND_CHANGE", "prepared block does not hash to the prepared digest"
        )
    check_prepare_certificate(
        message.prepares,
        height=height,
        prepared_round=prepared.round,
        digest=prepared.digest,
        validators=validators,
        quorum=quorum,
        message_type="ROUND_CHANGE",
    )


def check_proposal(
    proposal: Proposal,
    facts: BlockFacts,
    *,
    height: int,
    validators: Sequence[Address],
    quorum: int,
    proposer_for_round: Callable[[int], Address],
    blocks: BlockInterface,
) -> None:
    """Check a PROPOSAL's block facts and its justification.

    ``facts`` describe the proposed block. Rejects a block for another height
    or round, a round-0 proposal with a justification, a later proposal without
    a quorum of valid ROUND-CHANGEs for its round, inconsistent prepared claims,
    a block that is not the highest prepared block re-rounded, prepares that do
    not prove it, and a fresh block whose coinbase is not the proposer.
    """
    author = proposal.author()
    if (facts.height, facts.round) != (height, proposal.round):
        raise QbftMessageError(
            "PROPOSAL", "block height or round differs from the proposal's"
        )
    if proposal.round == 0:
        if proposal.round_changes or proposal.prepares:
            raise QbftMessageError(
                "PROPOSAL", "round-0 proposal must not carry round changes or prepares"
            )
        _check_coinbase(facts, author)
        return

    _check_round_change_quorum(proposal, height, validators, quorum)
    best = highest_prepared(proposal.round_changes)
    if best is None or best.prepared is None:
        if proposal.prepares:
            raise QbftMessageError(
                "PROPOSAL", "prepares sent although no round change is prepared"
            )
        _check_coinbase(facts, author)
        return

    prepared = best.prepared
    earlier_block = blocks.replace_round(
        proposal.block, prepared.round, proposer_for_round(prepared.round)
    )
    if blocks.describe(earlier_block).digest != prepared.digest:
        raise QbftMessageError(
            "PROPOSAL", "block is not the highest prepared block of the round changes"
        )
    check_prepare_certificate(
        proposal.prepares,
        height=height,
        prepared_round=prepared.round,
        digest=prepared.digest,
        validators=validators,
        quorum=quorum,
        message_type="PROPOSAL",
    )


def highest_prepared(
    round_changes: Sequence[SignedPayload[RoundChangePayload]],
) -> RoundChangePayload | None:
    """Return the payload with the highest prepared round, or None if none is."""
    prepared = [rc.payload for rc in round_changes if rc.payload.prepared is not None]
    if not prepared:
        return None
    return max(prepared, key=lambda payload: _prepared_round(payload))


def _check_round_change_quorum(
    proposal: Proposal, height: int, validators: Sequence[Address], quorum: int
) -> None:
    round_changes = proposal.round_changes
    if len(round_changes) > len(validators):
        raise QbftMessageError("PROPOSAL", "more round changes than validators")
    authors = _distinct_validator_authors(
        round_changes, validators, "PROPOSAL", "round change"
    )
    claims: dict[int, bytes] = {}
    for round_change in round_changes:
        payload = round_change.payload
        if (payload.height, payload.round) != (height, proposal.round):
            raise QbftMessageError(
                "PROPOSAL", "round change is not for the proposal's height and round"
            )
        if payload.prepared is None:
            continue
        if payload.prepared.round >= proposal.round:
            raise QbftMessageError(
                "PROPOSAL", "round change prepared round is not below the round"
            )
        # Two digests prepared in one round would need a quorum each, which
        # honest validators never give; such a set proves nothing.
        known = claims.setdefault(payload.prepared.round, payload.prepared.digest)
        if known != payload.prepared.digest:
            raise QbftMessageError(
                "PROPOSAL", "round changes claim different digests for one round"
            )
    if len(authors) < quorum:
        raise QbftMessageError(
            "PROPOSAL",
            f"{len(authors)} round changes are fewer than the quorum {quorum}",
        )


def _distinct_validator_authors(
    entries: Sequence[SignedPayload[PreparePayload]]
    | Sequence[SignedPayload[RoundChangePayload]],
    validators: Sequence[Address],
    message_type: str,
    what: str,
) -> set[Address]:
    authors: set[Address] = set()
    for entry in entries:
        author = entry.author()
        if author not in validators:
            raise QbftMessageError(message_type, f"{what} from a non-validator")
        if author in authors:
            raise QbftMessageError(message_type, f"two {what}s from one validator")
        authors.add(author)
    return authors


def _check_coinbase(facts: BlockFacts, author: Address) -> None:
    if facts.proposer != author:
        raise QbftMessageError("PROPOSAL", "block coinbase is not the proposer")


def _prepared_round(payload: RoundChangePayload) -> int:
    return -1 if payload.prepared is None else payload.prepared.round
