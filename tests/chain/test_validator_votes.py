"""The validator tally: majorities, epochs, settled votes, and the quorum guard."""

from __future__ import annotations

from eth_typing import Address

from chain.qbft.extra_data import ValidatorVote
from chain.validator_votes import ValidatorTally, quorum_problem, vote_problem

EPOCH = 100
A, B, C, D, E = (Address(bytes([n]) * 20) for n in range(1, 6))


def four() -> ValidatorTally:
    return ValidatorTally.starting_with((D, B, A, C))


def cast(
    tally: ValidatorTally, *votes: tuple[Address, ValidatorVote], first: int = 1
) -> ValidatorTally:
    for offset, (proposer, vote) in enumerate(votes):
        tally = tally.after_block(first + offset, proposer, vote, EPOCH)
    return tally


def test_genesis_tally_is_sorted_and_has_no_votes() -> None:
    assert four() == ValidatorTally((A, B, C, D), {})


def test_more_than_half_adds_the_candidate_and_settles_its_votes() -> None:
    add_e = ValidatorVote(E, add=True)

    two = cast(four(), (A, add_e), (B, add_e))
    three = cast(two, (C, add_e), first=3)

    assert two.validators == (A, B, C, D)
    assert two.votes == {(A, E): True, (B, E): True}
    assert three == ValidatorTally((A, B, C, D, E), {})


def test_a_proposer_voting_twice_counts_once() -> None:
    add_e = ValidatorVote(E, add=True)

    tally = cast(four(), (A, add_e), (A, add_e), (A, add_e))

    assert tally.validators == (A, B, C, D)


def test_votes_the_other_way_do_not_count_towards_a_change() -> None:
    drop_d = ValidatorVote(D, add=False)
    keep_d = ValidatorVote(D, add=True)

    tally = cast(four(), (A, drop_d), (B, drop_d), (C, keep_d))

    assert tally.validators == (A, B, C, D)
    assert tally.votes[(C, D)] is True


def test_dropping_a_validator_discards_its_own_votes() -> None:
    add_e = ValidatorVote(E, add=True)
    drop_d = ValidatorVote(D, add=False)

    tally = cast(four(), (D, add_e), (A, drop_d), (B, drop_d), (C, drop_d))

    assert tally == ValidatorTally((A, B, C), {})


def test_an_epoch_block_discards_pending_votes() -> None:
    add_e = ValidatorVote(E, add=True)
    pending = cast(four(), (A, add_e), (B, add_e), first=EPOCH - 2)

    after_epoch = pending.after_block(EPOCH, C, None, EPOCH)
    one_more = after_epoch.after_block(EPOCH + 1, C, add_e, EPOCH)

    assert after_epoch.votes == {}
    assert one_more.validators == (A, B, C, D)


def test_tally_survives_encoding() -> None:
    tally = cast(four(), (A, ValidatorVote(E, True)), (B, ValidatorVote(D, False)))

    assert ValidatorTally.decode(tally.encode()) == tally


def test_vote_problems_name_the_rule() -> None:
    tally = four()

    assert vote_problem(tally, 1, None, EPOCH) is None
    assert vote_problem(tally, 1, ValidatorVote(E, True), EPOCH) is None
    assert "epoch block" in str(
        vote_problem(tally, EPOCH, ValidatorVote(E, True), EPOCH)
    )
    assert "already a validator" in str(
        vote_problem(tally, 1, ValidatorVote(A, True), EPOCH)
    )
    assert "not a validator" in str(
        vote_problem(tally, 1, ValidatorVote(E, False), EPOCH)
    )
    alone = ValidatorTally.starting_with((A,))
    assert "last validator" in str(
        vote_problem(alone, 1, ValidatorVote(A, False), EPOCH)
    )


def test_quorum_guard_refuses_adding_an_offline_member_when_one_is_down() -> None:
    validators = (A, B, C, D)

    # All four up: five need four, and four are up.
    assert quorum_problem(validators, frozenset({A, B, C, D}), E, True) is None
    # D down: five would need four, only three are up.
    problem = quorum_problem(validators, frozenset({A, B, C}), E, True)
    assert problem is not None and "3 of its 5" in problem
    # The candidate's node is up: four of five.
    assert quorum_problem(validators, frozenset({A, B, C, E}), E, True) is None


def test_quorum_guard_refuses_dropping_a_running_validator_when_others_are_down() -> (
    None
):
    validators = (A, B, C, D)

    # C and D down, drop B: A alone of A, C, D, below the quorum of two.
    assert quorum_problem(validators, frozenset({A, B}), B, False) is not None
    # Drop a validator that is down: A, B, C need two, and A, B are up.
    assert quorum_problem(validators, frozenset({A, B}), D, False) is None
