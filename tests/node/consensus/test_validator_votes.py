"""Validators vote members in and out; the set changes at a majority, for all.

Five members on real ledgers and fake time (``LocalNetwork``): the first four
validate from genesis, the fifth is a member whose node starts only when the
test says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_typing import Address

from chain.block_production import build_block
from chain.errors import BlockRejected
from chain.genesis import Genesis
from chain.ledger import Ledger
from chain.qbft.extra_data import ValidatorVote, decode_extra_data
from chain.qbft.validators import sort_validators
from node.consensus.local_network import LocalNetwork
from tests.chain.factories import make_key
from tests.node.consensus.support import (
    CONFIG,
    assert_identical_chains,
    assert_quorum_of_seals,
    sealers_of,
)

CANDIDATE = 4
KEYS = [*(make_key(index) for index in range(4)), make_key(50)]


@pytest.fixture
def members(genesis: Genesis, tmp_path: Path) -> Iterator[LocalNetwork]:
    local_network = LocalNetwork(genesis, KEYS, tmp_path / "members", config=CONFIG)
    local_network.stop(CANDIDATE)  # its node is not running yet
    yield local_network
    local_network.close()


def address(network: LocalNetwork, index: int) -> Address:
    return network.validators[index].driver.address


def set_at_head(network: LocalNetwork, index: int) -> tuple[Address, ...]:
    ledger = network.validators[index].ledger
    return ledger.validators_after(ledger.head)


def vote_in_the_candidate(network: LocalNetwork) -> Address:
    """Three of the four validators vote the candidate in; run until it is."""
    candidate = address(network, CANDIDATE)
    for voter in (0, 1, 2):
        network.validators[voter].votes.propose(candidate, add=True)

    network.start()
    added = lambda: candidate in set_at_head(network, 0)  # noqa: E731
    assert network.run_until(added, timeout_seconds=120)
    return candidate


def test_three_of_four_votes_add_a_member_who_then_validates(
    members: LocalNetwork,
) -> None:
    candidate = vote_in_the_candidate(members)
    # The four carry on alone: four of five are a quorum.
    head = members.validators[0].ledger.head.block_number
    assert members.run_until(members.all_reached(head + 2), timeout_seconds=60)

    members.rejoin(CANDIDATE, source=0)
    members.stop(0)
    # Without validator 0 the chain needs the new member's commit seal.
    head = members.validators[1].ledger.head.block_number
    assert members.run_until(members.all_reached(head + 5), timeout_seconds=120)

    live = [1, 2, 3, CANDIDATE]
    assert_identical_chains(members, live)
    headers = members.canonical_headers(1)
    new_set = sort_validators([*members.genesis.validators, candidate])
    for header in headers[head:]:
        assert decode_extra_data(header.extra_data).validators == new_set
        assert_quorum_of_seals(header, new_set)
        assert candidate in sealers_of(header)
    assert candidate in {header.coinbase for header in headers[head:]}


def test_two_of_four_votes_change_nothing(members: LocalNetwork) -> None:
    candidate = address(members, CANDIDATE)
    for voter in (0, 1):
        members.validators[voter].votes.propose(candidate, add=True)

    members.start()
    assert members.run_until(members.all_reached(8), timeout_seconds=120)

    for index in range(4):
        assert set_at_head(members, index) == sort_validators(
            members.genesis.validators
        )
        ledger = members.validators[index].ledger
        votes = ledger.validator_tally_after(ledger.head).votes
        assert votes == {
            (address(members, 0), candidate): True,
            (address(members, 1), candidate): True,
        }


def test_three_of_four_votes_drop_a_validator(members: LocalNetwork) -> None:
    dropped = address(members, 3)
    for voter in (0, 1, 2):
        members.validators[voter].votes.propose(dropped, add=False)

    members.start()
    gone = lambda: dropped not in set_at_head(members, 0)  # noqa: E731
    assert members.run_until(gone, timeout_seconds=120)
    members.stop(3)
    head = members.validators[0].ledger.head.block_number
    # Two of the remaining three are a quorum; the dropped one is not needed.
    assert members.run_until(members.all_reached(head + 4), timeout_seconds=60)

    assert_identical_chains(members, [0, 1, 2])
    for header in members.canonical_headers(0)[head:]:
        assert dropped not in decode_extra_data(header.extra_data).validators
        assert dropped not in sealers_of(header)


def test_proposer_cannot_vote_to_add_a_current_validator(
    members: LocalNetwork,
) -> None:
    ledger = members.validators[0].ledger
    vote = ValidatorVote(address(members, 1), add=True)

    with pytest.raises(BlockRejected, match="already a validator"):
        build_block(ledger, KEYS[0], ledger.head.timestamp + 1, vote=vote)


def test_the_changed_set_survives_reopening_the_ledger(
    members: LocalNetwork, genesis: Genesis, tmp_path: Path
) -> None:
    vote_in_the_candidate(members)
    before = members.validators[0].ledger.validator_tally_after(
        members.validators[0].ledger.head
    )
    members.validators[0].ledger.close()

    reopened = Ledger(tmp_path / "members" / "validator-0", genesis)
    try:
        assert reopened.validator_tally_after(reopened.head) == before
    finally:
        reopened.close()
        members.validators[0].ledger = Ledger(
            tmp_path / "members" / "validator-0", genesis
        )
