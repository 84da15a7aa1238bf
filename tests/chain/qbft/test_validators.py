"""Quorum, fault tolerance, proposer rotation and round timeouts."""

from __future__ import annotations

import pytest
from eth_typing import Address

from chain.qbft.round_timer import round_timeout_seconds
from chain.qbft.validators import (
    fault_tolerance,
    quorum_size,
    select_proposer,
    sort_validators,
)

VALIDATORS = tuple(
    Address(bytes([0] * 19 + [value])) for value in (0x10, 0x20, 0x30, 0x40)
)


@pytest.mark.parametrize(
    ("validator_count", "quorum", "faults"),
    [
        (1, 1, 0),
        (2, 2, 0),
        (3, 2, 0),
        (4, 3, 1),
        (5, 4, 1),
        (6, 4, 1),
        (7, 5, 2),
        (10, 7, 3),
    ],
)
def test_quorum_is_two_thirds_rounded_up(
    validator_count: int, quorum: int, faults: int
) -> None:
    assert quorum_size(validator_count) == quorum
    assert fault_tolerance(validator_count) == faults


def test_quorum_of_an_empty_set_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        quorum_size(0)


def test_sort_validators_orders_by_address_and_drops_duplicates() -> None:
    shuffled = (
        VALIDATORS[2],
        VALIDATORS[0],
        VALIDATORS[3],
        VALIDATORS[1],
        VALIDATORS[0],
    )

    assert sort_validators(shuffled) == VALIDATORS


def test_proposer_after_a_validator_is_the_next_one_round_robin() -> None:
    assert select_proposer(VALIDATORS, VALIDATORS[1], 0) == VALIDATORS[2]
    assert select_proposer(VALIDATORS, VALIDATORS[1], 1) == VALIDATORS[3]
    assert select_proposer(VALIDATORS, VALIDATORS[1], 2) == VALIDATORS[0]
    assert select_proposer(VALIDATORS, VALIDATORS[3], 0) == VALIDATORS[0]


def test_proposer_after_genesis_is_the_first_validator() -> None:
    genesis_coinbase = Address(b"\x00" * 20)

    assert select_proposer(VALIDATORS, genesis_coinbase, 0) == VALIDATORS[0]
    assert select_proposer(VALIDATORS, genesis_coinbase, 5) == VALIDATORS[1]


def test_proposer_after_a_removed_validator_is_the_next_address_up() -> None:
    removed = Address(bytes([0] * 19 + [0x25]))
    beyond_the_last = Address(bytes([0] * 19 + [0x50]))

    assert select_proposer(VALIDATORS, removed, 0) == VALIDATORS[2]
    assert select_proposer(VALIDATORS, removed, 1) == VALIDATORS[3]
    assert select_proposer(VALIDATORS, beyond_the_last, 0) == VALIDATORS[0]


def test_round_timeouts_double_from_the_request_timeout_and_stop_at_the_cap() -> None:
    timeouts = [round_timeout_seconds(r, 2.0, 30.0) for r in range(7)]

    assert timeouts == [2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert round_timeout_seconds(2**31, 2.0, 30.0) == 30.0


@pytest.mark.parametrize(
    ("round_number", "base", "maximum", "problem"),
    [(-1, 1.0, 2.0, "negative"), (0, 0.0, 2.0, "positive"), (0, 3.0, 2.0, "below")],
)
def test_round_timeout_rejects_bad_settings(
    round_number: int, base: float, maximum: float, problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        round_timeout_seconds(round_number, base, maximum)
