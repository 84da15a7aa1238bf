"""Whole simulated networks of QBFT state machines: commits, faults and safety."""

from __future__ import annotations

import random

import pytest
import rlp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chain.qbft.events import Broadcast, CommitBlock, Effect
from chain.qbft.messages import (
    Commit,
    CommitPayload,
    MessageCode,
    Prepare,
    PreparePayload,
    Proposal,
    ProposalPayload,
    QbftMessage,
    decode_message,
    sign,
)
from chain.qbft.signing import recover_signer, sign_hash
from chain.qbft.validators import quorum_size, select_proposer, sort_validators
from tests.chain.qbft.harness import (
    GENESIS_PROPOSER,
    GENESIS_TIME,
    Network,
    SimulatedNode,
    make_block,
)


def assert_no_fork(network: Network) -> None:
    assert network.conflicts == []
    for node in network.nodes:
        for height, decision in node.decisions.items():
            assert decision.digest == network.canonical[height].digest


def assert_sealed_by_a_quorum(network: Network, decision: CommitBlock) -> None:
    committers = [
        committer
        for seal in decision.committed_seals
        if (committer := recover_signer(seal, decision.digest)) in network.validators
    ]
    assert len(committers) == len(decision.committed_seals)
    # One seal per committer, listed in validator (address) order.
    assert committers == sorted(set(committers))
    assert len(committers) >= quorum_size(len(network.validators))


def round_zero_proposer_index(network: Network) -> int:
    validators = sort_validators(network.validators)
    proposer = select_proposer(validators, GENESIS_PROPOSER, 0)
    return next(node.index for node in network.nodes if node.address == proposer)


@pytest.mark.parametrize("validator_count", [1, 4, 7])
def test_validators_commit_consecutive_blocks_in_round_zero(
    validator_count: int,
) -> None:
    network = Network(validator_count)
    network.start()

    network.run_until(GENESIS_TIME + 60, network.all_reached(3))

    assert all(node.head >= 3 for node in network.nodes)
    assert_no_fork(network)
    for height in (1, 2, 3):
        decision = network.canonical[height]
        assert decision.round == 0
        assert_sealed_by_a_quorum(network, decision)
    # One block per block period: the proposer waits for the period each height.
    assert network.now - GENESIS_TIME < 3 * (network.config.block_period_seconds + 1)


def test_proposers_rotate_from_height_to_height() -> None:
    network = Network(4)
    network.start()

    network.run_until(GENESIS_TIME + 60, network.all_reached(4))

    proposers = [
        network.blocks.describe(network.canonical[h].block).proposer
        for h in (1, 2, 3, 4)
    ]
    assert sorted(proposers) == sorted(network.validators)


def test_offline_proposer_is_replaced_in_round_one() -> None:
    network = Network(4)
    network.crash(round_zero_proposer_index(network))
    network.start()

    network.run_until(GENESIS_TIME + 60, network.all_reached(1))

    decision = network.canonical[1]
    assert decision.round == 1
    assert_sealed_by_a_quorum(network, decision)
    assert_no_fork(network)


def test_two_of_four_offline_stalls_without_fork_then_recovers_in_bounded_time() -> (
    None
):
    network = Network(4)
    network.start()
    network.run_until(GENESIS_TIME + 30, network.all_reached(1))
    network.crash(0)
    network.crash(1)

    outage_start = network.now
    network.run_until(outage_start + 600)

    survivors = [node for node in network.nodes if node.online]
    assert max(network.canonical) == 1
    assert all(node.head == 1 for node in survivors)
    stuck_round = survivors[0].machine.round
    assert stuck_round is not None and stuck_round > 10

    network.restart(0)
    network.restart(1)
    recovery_start = network.now
    network.run_until(recovery_start + 120, network.all_reached(2))

    # Recovery takes at most one capped round timeout plus message delays,
    # however many rounds the survivors went through.
    cap = network.config.maximum_round_timeout_seconds
    assert all(node.head >= 2 for node in network.nodes)
    assert network.now - recovery_start <= cap + 5
    assert network.canonical[2].round <= stuck_round + 2
    assert_sealed_by_a_quorum(network, network.canonical[2])
    assert_no_fork(network)

    network.run_until(network.now + 60, network.all_reached(4))
    assert all(node.head >= 4 for node in network.nodes)
    assert_no_fork(network)


def _byzantine(network: Network, index: int) -> None:
    """Make node ``index`` send garbage, forgeries and equivocations."""
    liar = network.nodes[index]
    victim_key = network.nodes[(index + 1) % len(network.nodes)].key

    def lies(message: QbftMessage) -> list[QbftMessage]:
        if isinstance(message, Proposal):
            # Equivocate: the real proposal first, then a different one.
            other = make_block(
                message.height, message.round, liar.address, b"\x00" * 32, b"twin"
            )
            twin = ProposalPayload(message.height, message.round, other)
            return [message, Proposal(sign(twin, liar.key))]
        if isinstance(message, Prepare):
            # Prepare something nobody proposed instead of the real digest.
            wrong = PreparePayload(message.height, message.round, b"\x99" * 32)
            return [Prepare(sign(wrong, liar.key))]
        if isinstance(message, Commit):
            # Commit with another validator's seal.
            seal = sign_hash(message.digest, victim_key)
            forged = CommitPayload(message.height, message.round, message.digest, seal)
            return [Commit(sign(forged, liar.key))]
        return [message]

    def tamper(node: SimulatedNode, effect: Effect) -> bool:
        if node is not liar or not isinstance(effect, Broadcast):
            return False
        message = decode_message(effect.message_code, effect.data)
        for lie in lies(message):
            network.broadcast_from(liar, Broadcast(lie.code, lie.encode()))
        network.broadcast_from(liar, Broadcast(MessageCode.PREPARE, b"\xc5\x01garbage"))
        return True

    network.on_effect = tamper


def test_byzantine_validator_is_rejected_and_the_others_keep_committing() -> None:
    network = Network(4)
    _byzantine(network, 2)
    network.start()

    honest = [node for node in network.nodes if node.index != 2]
    network.run_until(GENESIS_TIME + 120, lambda: all(n.head >= 5 for n in honest))

    assert all(node.head >= 5 for node in honest)
    assert_no_fork(network)
    rules = {rejection.rule for node in honest for rejection in node.rejections}
    assert "committed seal was not made by the sender" in rules
    assert any(rule.startswith("not valid RLP") for rule in rules)
    assert "second proposal for the round" in rules
    assert "digest differs from the accepted proposal" in rules


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    rng=st.randoms(use_true_random=False),
    drop_rate=st.sampled_from([0.0, 0.1, 0.3, 0.5]),
    duplicate_rate=st.sampled_from([0.0, 0.2]),
    maximum_jitter=st.sampled_from([0.0, 0.5, 3.0, 10.0]),
)
def test_random_delivery_never_commits_two_blocks_at_one_height(
    rng: random.Random, drop_rate: float, duplicate_rate: float, maximum_jitter: float
) -> None:
    network = Network(
        4,
        rng=rng,
        drop_rate=drop_rate,
        duplicate_rate=duplicate_rate,
        maximum_jitter=maximum_jitter,
        latency=0.01,
    )
    network.start()

    network.run_until(GENESIS_TIME + 120, network.all_reached(4))

    assert_no_fork(network)
    for decision in network.canonical.values():
        assert_sealed_by_a_quorum(network, decision)


def test_block_prepared_in_a_failed_round_is_re_proposed_in_the_next() -> None:
    network = Network(4)
    first_proposer = network.nodes[round_zero_proposer_index(network)]

    def lose_round_zero_commits(node: SimulatedNode, effect: Effect) -> bool:
        return (
            isinstance(effect, Broadcast)
            and effect.message_code == MessageCode.COMMIT
            and decode_message(effect.message_code, effect.data).round == 0
        )

    network.on_effect = lose_round_zero_commits
    network.start()

    network.run_until(GENESIS_TIME + 60, network.all_reached(1))

    decision = network.canonical[1]
    assert decision.round == 1
    body = rlp.decode(decision.block)[4]
    assert body == f"block by {first_proposer.index} at 1/0".encode()
    assert_sealed_by_a_quorum(network, decision)
    assert_no_fork(network)
