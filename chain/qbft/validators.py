"""Validator-set arithmetic: quorum, fault tolerance and round-robin proposers."""

from __future__ import annotations

from collections.abc import Sequence

from eth_typing import Address


def quorum_size(validator_count: int) -> int:
    """Return ceil(2n/3), the messages needed to prepare, commit or change round.

    Besu ``BftHelpers.calculateRequiredValidatorQuorum``. Rejects a count below 1.
    """
    if validator_count < 1:
        raise ValueError(
            f"a validator set needs at least 1 member, got {validator_count}"
        )
    return -(-2 * validator_count // 3)


def fault_tolerance(validator_count: int) -> int:
    """Return f = floor((n - 1) / 3), the most byzantine validators tolerated.

    f + 1 messages include at least one from an honest validator; Besu's
    ``calculateRequiredFutureRCQuorum`` uses the same count for round catch-up.
    """
    return (validator_count - 1) // 3


def sort_validators(validators: Sequence[Address]) -> tuple[Address, ...]:
    """Return ``validators`` in ascending address order, duplicates removed.

    Besu keeps validator sets sorted by address, and proposer rotation indexes
    into that order, so every node must use the same one.
    """
    return tuple(sorted(set(validators)))


def select_proposer(
    validators: Sequence[Address], previous_proposer: Address, round_number: int
) -> Address:
    """Return the proposer for ``round_number`` of the block after the previous one.

    ``validators`` is the sorted set for the new height and ``previous_proposer``
    is the coinbase of the previous block. As in Besu's ``ProposerSelector``
    (with a change of proposer on every block): if the previous proposer is a
    validator, round 0 goes to the validator after it and each later round to
    the next one round-robin; if it is not (the genesis block, or it was voted
    out), round 0 goes to the first validator whose address sorts after it.
    Rejects an empty validator set or a negative round.
    """
    if not validators:
        raise ValueError("cannot select a proposer from an empty validator set")
    if round_number < 0:
        raise ValueError(f"round must not be negative, got {round_number}")

    if previous_proposer in validators:
        start = validators.index(previous_proposer) + 1
    else:
        later = [index for index, v in enumerate(validators) if v > previous_proposer]
        start = later[0] if later else 0
    return validators[(start + round_number) % len(validators)]
