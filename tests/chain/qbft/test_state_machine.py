"""One QBFT state machine fed crafted inputs: rule checks, timers and buffering."""

from __future__ import annotations

from dataclasses import replace

import pytest
from eth_typing import Address
from hypothesis import given, settings
from hypothesis import strategies as st

from chain.qbft.events import (
    BlockBuilt,
    BlockInvalid,
    BlockTimerExpired,
    BlockValidated,
    Broadcast,
    BuildBlock,
    CommitBlock,
    Effect,
    MessageReceived,
    MessageRejected,
    NewChainHead,
    QbftConfig,
    RoundTimerExpired,
    StartBlockTimer,
    StartRoundTimer,
    ValidateBlock,
)
from chain.qbft.messages import (
    Commit,
    CommitPayload,
    MessageCode,
    Prepare,
    PreparedRound,
    PreparePayload,
    Proposal,
    ProposalPayload,
    QbftMessage,
    RoundChange,
    RoundChangePayload,
    SignedPayload,
    decode_message,
    sign,
)
from chain.qbft.signing import address_of_private_key, sign_hash
from chain.qbft.state_machine import QbftStateMachine
from chain.qbft.validators import select_proposer, sort_validators
from tests.chain.qbft.harness import (
    GENESIS_DIGEST,
    GENESIS_PROPOSER,
    GENESIS_TIME,
    ToyBlocks,
    make_block,
    validator_key,
)

CONFIG = QbftConfig(
    block_period_seconds=1.0,
    request_timeout_seconds=2.0,
    maximum_round_timeout_seconds=16.0,
    future_message_limit=3,
)
KEYS = {address_of_private_key(key): key for key in map(validator_key, range(4))}
VALIDATORS = sort_validators(list(KEYS))
OUTSIDER_KEY = validator_key(99)


def proposer(round_number: int) -> Address:
    return select_proposer(VALIDATORS, GENESIS_PROPOSER, round_number)


def key_of(address: Address) -> bytes:
    return KEYS[address]


def start_machine(address: Address) -> tuple[QbftStateMachine, list[Effect]]:
    machine = QbftStateMachine(CONFIG, key_of(address), ToyBlocks())
    effects = machine.handle(
        NewChainHead(0, GENESIS_PROPOSER, VALIDATORS, GENESIS_TIME)
    )
    return machine, effects


def received(message: QbftMessage) -> MessageReceived:
    return MessageReceived(message.code, message.encode())


def rejected_rules(effects: list[Effect]) -> list[str]:
    return [effect.rule for effect in effects if isinstance(effect, MessageRejected)]


def of_type(effects: list[Effect], kind: type[Effect]) -> list[Effect]:
    return [effect for effect in effects if isinstance(effect, kind)]


def broadcasts(effects: list[Effect]) -> list[QbftMessage]:
    return [
        decode_message(effect.message_code, effect.data)
        for effect in effects
        if isinstance(effect, Broadcast)
    ]


def block_for(round_number: int, body: bytes = b"payload") -> bytes:
    return make_block(1, round_number, proposer(round_number), GENESIS_DIGEST, body)


def digest_of(block: bytes) -> bytes:
    return ToyBlocks().describe(block).digest


def proposal(
    round_number: int, block: bytes, author: Address | None = None
) -> Proposal:
    key = key_of(author or proposer(round_number))
    return Proposal(sign(ProposalPayload(1, round_number, block), key))


def prepare(author_key: bytes, digest: bytes, round_number: int = 0) -> Prepare:
    return Prepare(sign(PreparePayload(1, round_number, digest), author_key))


def commit(author_key: bytes, digest: bytes, seal_key: bytes | None = None) -> Commit:
    seal = sign_hash(digest, seal_key or author_key)
    return Commit(sign(CommitPayload(1, 0, digest, seal), author_key))


def others(excluded: Address) -> list[Address]:
    return [v for v in VALIDATORS if v != excluded]


@pytest.fixture
def follower() -> QbftStateMachine:
    """A validator that proposes neither round 0 nor round 1, in round 0."""
    machine, _ = start_machine(proposer(2))
    machine.handle(BlockTimerExpired(1))
    return machine


def accept_round_zero_block(machine: QbftStateMachine, block: bytes) -> list[Effect]:
    effects = machine.handle(received(proposal(0, block)))
    assert of_type(effects, ValidateBlock) == [
        ValidateBlock(1, 0, block, digest_of(block))
    ]
    return machine.handle(BlockValidated(1, 0, digest_of(block)))


# --- starting a height ------------------------------------------------------------


def test_new_chain_head_starts_the_block_timer_after_the_block_period() -> None:
    _, effects = start_machine(proposer(0))

    assert effects == [StartBlockTimer(1, GENESIS_TIME + 1.0)]


def test_round_zero_proposer_asks_for_a_block_when_the_block_timer_fires() -> None:
    machine, _ = start_machine(proposer(0))

    effects = machine.handle(BlockTimerExpired(1))

    assert effects == [StartRoundTimer(1, 0, 2.0), BuildBlock(1, 0)]


def test_proposer_broadcasts_the_built_block_and_prepares_it() -> None:
    machine, _ = start_machine(proposer(0))
    machine.handle(BlockTimerExpired(1))
    block = block_for(0)

    sent = broadcasts(machine.handle(BlockBuilt(1, 0, block)))

    assert [type(message) for message in sent] == [Proposal, Prepare]
    assert isinstance(sent[0], Proposal) and sent[0].block == block
    assert isinstance(sent[1], Prepare) and sent[1].digest == digest_of(block)


def test_follower_prepares_a_proposal_only_after_the_host_validates_it(
    follower: QbftStateMachine,
) -> None:
    block = block_for(0)

    effects = follower.handle(received(proposal(0, block)))
    assert broadcasts(effects) == []

    sent = broadcasts(follower.handle(BlockValidated(1, 0, digest_of(block))))
    assert [type(message) for message in sent] == [Prepare]


def test_quorum_of_prepares_then_commits_decides_with_the_committers_seals(
    follower: QbftStateMachine,
) -> None:
    block = block_for(0)
    digest = digest_of(block)
    accept_round_zero_block(follower, block)
    peers = others(follower.address)

    follower.handle(received(prepare(key_of(peers[0]), digest)))
    sent = broadcasts(follower.handle(received(prepare(key_of(peers[1]), digest))))
    assert [type(message) for message in sent] == [Commit]

    effects = follower.handle(received(commit(key_of(peers[0]), digest)))
    assert of_type(effects, CommitBlock) == []
    effects = follower.handle(received(commit(key_of(peers[1]), digest)))

    decisions = of_type(effects, CommitBlock)
    assert len(decisions) == 1
    decision = decisions[0]
    assert isinstance(decision, CommitBlock)
    assert (decision.height, decision.round, decision.block) == (1, 0, block)
    expected_committers = sorted([follower.address, peers[0], peers[1]])
    assert decision.committed_seals == tuple(
        sign_hash(digest, key_of(v)) for v in expected_committers
    )


# --- byzantine and malformed input ------------------------------------------------


def test_rejects_message_from_non_validator(follower: QbftStateMachine) -> None:
    effects = follower.handle(received(prepare(OUTSIDER_KEY, GENESIS_DIGEST)))

    assert effects == [
        MessageRejected(
            MessageCode.PREPARE,
            address_of_private_key(OUTSIDER_KEY),
            "sender is not a validator",
        )
    ]


def test_rejects_message_whose_signature_recovers_no_key(
    follower: QbftStateMachine,
) -> None:
    unsigned = Prepare(
        SignedPayload(PreparePayload(1, 0, GENESIS_DIGEST), b"\x00" * 65)
    )

    effects = follower.handle(received(unsigned))

    assert effects == [MessageRejected(MessageCode.PREPARE, None, "bad signature")]


def test_rejects_message_altered_after_signing(follower: QbftStateMachine) -> None:
    signed = prepare(key_of(VALIDATORS[0]), GENESIS_DIGEST).signed
    altered = Prepare(
        replace(signed, payload=replace(signed.payload, digest=b"\x11" * 32))
    )

    assert rejected_rules(follower.handle(received(altered))) == [
        "sender is not a validator"
    ]


@pytest.mark.parametrize(
    ("code", "data"),
    [
        (MessageCode.PROPOSAL, b""),
        (MessageCode.PREPARE, b"\xde\xad\xbe\xef"),
        (MessageCode.COMMIT, b"\xc3\x01\x02\x03"),
        (MessageCode.ROUND_CHANGE, b"\xc1\xc0"),
        (0x99, b"\xc0"),
    ],
)
def test_rejects_malformed_bytes_without_raising(
    follower: QbftStateMachine, code: int, data: bytes
) -> None:
    effects = follower.handle(MessageReceived(code, data))

    assert len(effects) == 1
    assert isinstance(effects[0], MessageRejected) and effects[0].author is None


def test_rejects_proposal_from_a_validator_that_is_not_the_proposer(
    follower: QbftStateMachine,
) -> None:
    impostor = others(proposer(0))[0]

    effects = follower.handle(received(proposal(0, block_for(0), author=impostor)))

    assert rejected_rules(effects) == ["sender is not the round's proposer"]
    assert of_type(effects, ValidateBlock) == []


def test_keeps_the_first_of_two_proposals_for_one_round(
    follower: QbftStateMachine,
) -> None:
    first, second = block_for(0, b"first"), block_for(0, b"second")
    follower.handle(received(proposal(0, first)))

    effects = follower.handle(received(proposal(0, second)))
    validated = follower.handle(BlockValidated(1, 0, digest_of(second)))

    assert rejected_rules(effects) == ["second proposal for the round"]
    assert of_type(effects, ValidateBlock) == []
    assert broadcasts(validated) == []
    sent = broadcasts(follower.handle(BlockValidated(1, 0, digest_of(first))))
    assert isinstance(sent[0], Prepare) and sent[0].digest == digest_of(first)


def test_ignores_a_repeated_copy_of_the_same_proposal(
    follower: QbftStateMachine,
) -> None:
    message = received(proposal(0, block_for(0)))
    follower.handle(message)

    assert follower.handle(message) == []


def test_rejects_proposal_whose_block_is_for_another_round(
    follower: QbftStateMachine,
) -> None:
    wrong_round = make_block(1, 3, proposer(0), GENESIS_DIGEST, b"x")

    effects = follower.handle(received(proposal(0, wrong_round)))

    assert rejected_rules(effects) == [
        "block height or round differs from the proposal's"
    ]


def test_rejects_proposal_whose_block_does_not_decode(
    follower: QbftStateMachine,
) -> None:
    effects = follower.handle(received(proposal(0, b"\xc2\x01\x02")))

    assert rejected_rules(effects) == [
        "block does not decode: block 0 rejected: not a toy block"
    ]


def test_rejects_round_zero_proposal_that_carries_a_justification(
    follower: QbftStateMachine,
) -> None:
    round_change = sign(RoundChangePayload(1, 0), key_of(VALIDATORS[0]))
    message = replace(proposal(0, block_for(0)), round_changes=(round_change,))

    assert rejected_rules(follower.handle(received(message))) == [
        "round-0 proposal must not carry round changes or prepares"
    ]


def test_rejects_later_round_proposal_without_a_round_change_quorum(
    follower: QbftStateMachine,
) -> None:
    round_changes = tuple(
        sign(RoundChangePayload(1, 1), key_of(v)) for v in VALIDATORS[:2]
    )
    message = replace(proposal(1, block_for(1)), round_changes=round_changes)

    assert rejected_rules(follower.handle(received(message))) == [
        "2 round changes are fewer than the quorum 3"
    ]


def test_rejects_later_round_proposal_that_ignores_a_prepared_block(
    follower: QbftStateMachine,
) -> None:
    prepared_block = block_for(0)
    prepared_digest = digest_of(prepared_block)
    prepares = tuple(prepare(key_of(v), prepared_digest).signed for v in VALIDATORS[:3])
    round_changes = (
        sign(
            RoundChangePayload(1, 1, PreparedRound(0, prepared_digest)),
            key_of(VALIDATORS[0]),
        ),
        sign(RoundChangePayload(1, 1), key_of(VALIDATORS[1])),
        sign(RoundChangePayload(1, 1), key_of(VALIDATORS[2])),
    )
    fresh_block = block_for(1, b"something else")
    message = replace(
        proposal(1, fresh_block), round_changes=round_changes, prepares=prepares
    )

    assert rejected_rules(follower.handle(received(message))) == [
        "block is not the highest prepared block of the round changes"
    ]


def test_accepts_later_round_proposal_that_re_proposes_the_prepared_block(
    follower: QbftStateMachine,
) -> None:
    prepared_block = block_for(0)
    prepared_digest = digest_of(prepared_block)
    prepares = tuple(prepare(key_of(v), prepared_digest).signed for v in VALIDATORS[:3])
    round_changes = (
        sign(
            RoundChangePayload(1, 1, PreparedRound(0, prepared_digest)),
            key_of(VALIDATORS[0]),
        ),
        sign(RoundChangePayload(1, 1), key_of(VALIDATORS[1])),
        sign(RoundChangePayload(1, 1), key_of(VALIDATORS[2])),
    )
    re_proposed = ToyBlocks().replace_round(prepared_block, 1, proposer(1))
    message = replace(
        proposal(1, re_proposed), round_changes=round_changes, prepares=prepares
    )

    effects = follower.handle(received(message))

    assert rejected_rules(effects) == []
    assert of_type(effects, ValidateBlock) == [
        ValidateBlock(1, 1, re_proposed, digest_of(re_proposed))
    ]
    assert follower.round == 1


def test_rejects_prepare_whose_digest_differs_from_the_accepted_proposal(
    follower: QbftStateMachine,
) -> None:
    accept_round_zero_block(follower, block_for(0))

    sender_key = key_of(others(follower.address)[0])

    effects = follower.handle(received(prepare(sender_key, b"\x22" * 32)))

    assert rejected_rules(effects) == ["digest differs from the accepted proposal"]


def test_drops_early_prepare_with_another_digest_once_the_proposal_is_accepted(
    follower: QbftStateMachine,
) -> None:
    sender = others(follower.address)[0]
    follower.handle(received(prepare(key_of(sender), b"\x22" * 32)))

    effects = accept_round_zero_block(follower, block_for(0))

    assert effects[0] == MessageRejected(
        MessageCode.PREPARE, sender, "digest differs from the accepted proposal"
    )


def test_rejects_commit_whose_seal_was_made_by_another_key(
    follower: QbftStateMachine,
) -> None:
    block = block_for(0)
    digest = digest_of(block)
    accept_round_zero_block(follower, block)
    peers = others(follower.address)
    for peer in peers[:2]:
        follower.handle(received(prepare(key_of(peer), digest)))
    follower.handle(received(commit(key_of(peers[0]), digest)))

    forged = commit(key_of(peers[1]), digest, seal_key=key_of(peers[2]))
    effects = follower.handle(received(forged))

    assert rejected_rules(effects) == ["committed seal was not made by the sender"]
    assert of_type(effects, CommitBlock) == []


def test_rejects_commit_whose_seal_signs_another_digest(
    follower: QbftStateMachine,
) -> None:
    sender_key = key_of(others(follower.address)[0])
    seal = sign_hash(b"\x33" * 32, sender_key)
    message = Commit(sign(CommitPayload(1, 0, GENESIS_DIGEST, seal), sender_key))

    assert rejected_rules(follower.handle(received(message))) == [
        "committed seal was not made by the sender"
    ]


def test_rejects_a_second_different_prepare_from_one_validator(
    follower: QbftStateMachine,
) -> None:
    sender_key = key_of(others(follower.address)[0])
    follower.handle(received(prepare(sender_key, b"\x44" * 32)))

    effects = follower.handle(received(prepare(sender_key, b"\x55" * 32)))

    assert rejected_rules(effects) == ["second prepare from the sender"]


def test_rejects_round_change_with_too_few_prepares_for_its_prepared_block(
    follower: QbftStateMachine,
) -> None:
    block = block_for(0)
    sender_key = key_of(VALIDATORS[3])
    payload = RoundChangePayload(1, 1, PreparedRound(0, digest_of(block)))
    prepares = (prepare(sender_key, digest_of(block)).signed,)
    message = RoundChange(sign(payload, sender_key), block, prepares)

    assert rejected_rules(follower.handle(received(message))) == [
        "1 prepares are fewer than the quorum 3"
    ]


def test_rejects_round_change_whose_block_is_not_the_prepared_one(
    follower: QbftStateMachine,
) -> None:
    sender_key = key_of(VALIDATORS[3])
    payload = RoundChangePayload(1, 1, PreparedRound(0, b"\x66" * 32))
    message = RoundChange(sign(payload, sender_key), block_for(0), ())

    assert rejected_rules(follower.handle(received(message))) == [
        "prepared block does not hash to the prepared digest"
    ]


# --- heights ----------------------------------------------------------------------


def test_rejects_message_for_a_past_height(follower: QbftStateMachine) -> None:
    old = Prepare(sign(PreparePayload(0, 0, GENESIS_DIGEST), key_of(VALIDATORS[0])))

    assert rejected_rules(follower.handle(received(old))) == [
        "message for a past height"
    ]


def test_buffers_a_future_height_proposal_until_that_height_starts(
    follower: QbftStateMachine,
) -> None:
    next_proposer = select_proposer(VALIDATORS, VALIDATORS[0], 0)
    block = make_block(2, 0, next_proposer, b"\x77" * 32, b"next")
    early = Proposal(sign(ProposalPayload(2, 0, block), key_of(next_proposer)))

    assert follower.handle(received(early)) == []
    effects = follower.handle(
        NewChainHead(1, VALIDATORS[0], VALIDATORS, GENESIS_TIME + 5)
    )

    assert follower.height == 2
    assert ValidateBlock(2, 0, block, digest_of(block)) in effects


def test_future_height_buffer_keeps_at_most_its_limit(
    follower: QbftStateMachine,
) -> None:
    for round_number in range(5):
        stranger = Prepare(
            sign(PreparePayload(2, round_number, GENESIS_DIGEST), OUTSIDER_KEY)
        )
        follower.handle(received(stranger))

    effects = follower.handle(
        NewChainHead(1, VALIDATORS[0], VALIDATORS, GENESIS_TIME + 5)
    )

    assert rejected_rules(effects) == ["sender is not a validator"] * 3


def test_machine_outside_the_validator_set_stays_silent() -> None:
    machine = QbftStateMachine(CONFIG, OUTSIDER_KEY, ToyBlocks())

    head = machine.handle(NewChainHead(0, GENESIS_PROPOSER, VALIDATORS, GENESIS_TIME))
    timer = machine.handle(BlockTimerExpired(1))
    message = machine.handle(received(proposal(0, block_for(0))))

    assert head == timer == message == []


# --- rounds and timers ------------------------------------------------------------


def test_round_timeouts_double_then_stay_at_the_cap(follower: QbftStateMachine) -> None:
    durations = []
    for round_number in range(7):
        effects = follower.handle(RoundTimerExpired(1, round_number))
        timers = of_type(effects, StartRoundTimer)
        assert len(timers) == 1
        timer = timers[0]
        assert isinstance(timer, StartRoundTimer)
        durations.append(timer.duration_seconds)

    assert durations == [4.0, 8.0, 16.0, 16.0, 16.0, 16.0, 16.0]
    assert follower.round == 7


def test_round_timeout_sends_a_round_change_with_the_prepared_certificate(
    follower: QbftStateMachine,
) -> None:
    block = block_for(0)
    accept_round_zero_block(follower, block)
    for peer in others(follower.address)[:2]:
        follower.handle(received(prepare(key_of(peer), digest_of(block))))

    sent = broadcasts(follower.handle(RoundTimerExpired(1, 0)))

    assert len(sent) == 1 and isinstance(sent[0], RoundChange)
    assert sent[0].round == 1
    assert sent[0].prepared == PreparedRound(0, digest_of(block))
    assert sent[0].prepared_block == block
    assert len(sent[0].prepares) == 3


def test_expiry_of_a_round_already_left_is_ignored(follower: QbftStateMachine) -> None:
    follower.handle(RoundTimerExpired(1, 0))

    assert follower.handle(RoundTimerExpired(1, 0)) == []
    assert follower.round == 1


def test_round_changes_from_f_plus_one_validators_pull_a_validator_forward(
    follower: QbftStateMachine,
) -> None:
    senders = others(follower.address)[:2]
    follower.handle(
        received(RoundChange(sign(RoundChangePayload(1, 5), key_of(senders[0]))))
    )
    assert follower.round == 0

    effects = follower.handle(
        received(RoundChange(sign(RoundChangePayload(1, 3), key_of(senders[1]))))
    )

    assert follower.round == 3
    sent = broadcasts(effects)
    assert isinstance(sent[0], RoundChange) and sent[0].round == 3


def test_later_round_proposer_builds_a_block_on_a_round_change_quorum() -> None:
    machine, _ = start_machine(proposer(1))
    machine.handle(BlockTimerExpired(1))
    machine.handle(RoundTimerExpired(1, 0))
    senders = others(machine.address)

    first = machine.handle(
        received(RoundChange(sign(RoundChangePayload(1, 1), key_of(senders[0]))))
    )
    second = machine.handle(
        received(RoundChange(sign(RoundChangePayload(1, 1), key_of(senders[1]))))
    )

    assert of_type(first, BuildBlock) == []
    assert of_type(second, BuildBlock) == [BuildBlock(1, 1)]
    sent = broadcasts(machine.handle(BlockBuilt(1, 1, block_for(1))))
    assert isinstance(sent[0], Proposal) and len(sent[0].round_changes) == 3


def test_invalid_block_is_not_prepared_and_the_round_times_out(
    follower: QbftStateMachine,
) -> None:
    block = block_for(0)
    follower.handle(received(proposal(0, block)))

    effects = follower.handle(BlockInvalid(1, 0, digest_of(block), "bad state root"))
    later = follower.handle(received(proposal(0, block_for(0, b"another try"))))

    assert effects == []
    assert rejected_rules(later) == ["second proposal for the round"]
    sent = broadcasts(follower.handle(RoundTimerExpired(1, 0)))
    assert isinstance(sent[0], RoundChange) and sent[0].prepared is None


def test_validator_key_is_not_in_the_machine_repr() -> None:
    key = key_of(VALIDATORS[0])
    machine = QbftStateMachine(CONFIG, key, ToyBlocks())

    text = repr(machine._key) + repr(vars(machine))

    assert key.hex() not in text
    assert "private_key=***" in text


def _valid_traffic() -> list[QbftMessage]:
    prepared_block = block_for(0)
    prepared_digest = digest_of(prepared_block)
    prepares = tuple(prepare(key_of(v), prepared_digest).signed for v in VALIDATORS[:3])
    prepared_change = RoundChange(
        sign(
            RoundChangePayload(1, 1, PreparedRound(0, prepared_digest)),
            key_of(VALIDATORS[0]),
        ),
        prepared_block,
        prepares,
    )
    round_changes = (
        prepared_change.signed,
        sign(RoundChangePayload(1, 1), key_of(VALIDATORS[1])),
        sign(RoundChangePayload(1, 1), key_of(VALIDATORS[3])),
    )
    re_proposed = ToyBlocks().replace_round(prepared_block, 1, proposer(1))
    return [
        proposal(0, prepared_block),
        prepare(key_of(VALIDATORS[0]), prepared_digest),
        commit(key_of(VALIDATORS[1]), prepared_digest),
        prepared_change,
        replace(
            proposal(1, re_proposed), round_changes=round_changes, prepares=prepares
        ),
    ]


@settings(max_examples=200, deadline=None)
@given(
    message=st.sampled_from(_valid_traffic()),
    edits=st.lists(
        st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)),
        min_size=1,
        max_size=4,
    ),
)
def test_corrupted_messages_never_raise_out_of_the_machine(
    message: QbftMessage, edits: list[tuple[int, int]]
) -> None:
    machine, _ = start_machine(proposer(2))
    machine.handle(BlockTimerExpired(1))
    data = bytearray(message.encode())
    for position, value in edits:
        data[position % len(data)] = value

    effects = machine.handle(MessageReceived(message.code, bytes(data)))

    assert of_type(effects, CommitBlock) == []
