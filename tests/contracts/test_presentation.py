"""The Python reference verifier: unit tests and agreement with the contract."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator

import pytest
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts.presentation import (
    MerkleTree,
    Presentation,
    PresentationResult,
    check_presentation,
    commitment_tip,
    hash_chain,
    hash_pair,
    leaf_hash,
    process_proof,
    reveal_node,
)
from tests.contracts.credit import CreditBook, Holder, make_holders, new_book
from tests.contracts.world import build_world

R = PresentationResult
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


# -- pure reference -------------------------------------------------------


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 64, 100])
def test_every_leaf_proves_against_the_root(size: int) -> None:
    rng = random.Random(size)
    leaves = [rng.randbytes(32) for _ in range(size)]
    tree = MerkleTree(leaves)

    for leaf in leaves:
        assert process_proof(leaf, tree.proof(leaf)) == tree.root
    assert len(tree.proof(leaves[0])) <= max(1, (size - 1).bit_length())


def test_proof_for_an_absent_leaf_is_refused() -> None:
    tree = MerkleTree([b"\x01" * 32, b"\x02" * 32])
    with pytest.raises(ValueError, match="not in the tree"):
        tree.proof(b"\x03" * 32)


def test_pair_hash_is_order_free() -> None:
    a, b = b"\x01" * 32, b"\x02" * 32
    assert hash_pair(a, b) == hash_pair(b, a)


def test_revealed_node_reaches_the_tip_in_threshold_steps() -> None:
    seed = bytes(range(32))
    tip = commitment_tip(seed, 42)
    for threshold in (0, 1, 41, 42):
        assert hash_chain(reveal_node(seed, 42, threshold), threshold) == tip
    assert reveal_node(seed, 42, 42) != seed


def test_node_above_the_score_cannot_be_revealed() -> None:
    with pytest.raises(ValueError, match="threshold 43"):
        reveal_node(bytes(32), 42, 43)
    with pytest.raises(ValueError, match="negative"):
        commitment_tip(bytes(32), -1)


def test_leaf_depends_on_holder_and_tip() -> None:
    holder, other = Account.create().address, Account.create().address
    tip = b"\x07" * 32
    assert leaf_hash(holder, tip) != leaf_hash(other, tip)
    assert leaf_hash(holder, tip) != leaf_hash(holder, b"\x08" * 32)


# -- agreement with the contract ------------------------------------------


@pytest.fixture(scope="module")
def book() -> Iterator[CreditBook]:
    """A registry with a superseded, an expired and a current epoch."""
    world = build_world(villagers_per_village=1, budget=0)
    book = new_book(world, seed=11)
    rng = random.Random(5)
    first = make_holders(rng, 6)
    book.publish(1, first)
    appealed = [Holder(h.account, h.seed, h.score + 3) for h in first]
    book.publish(1, appealed, appeal=b"\xa1" * 32)
    book.publish(2, make_holders(rng, 4), valid_for=50)
    book.publish(3, make_holders(rng, 7))
    world.h.advance(100)
    yield book


def random_case(
    book: CreditBook, rng: random.Random
) -> tuple[Presentation, str, bytes]:
    """A presentation with random choices and random damage."""
    w = book.world
    published = book.published[rng.choice(list(book.published))]
    holder = rng.choice(published.holders)
    proof = None
    if rng.random() < 0.1:
        # Someone outside the tree, borrowing a member's path.
        member = published.holders[0]
        proof = published.tree.proof(
            leaf_hash(member.account.address, commitment_tip(member.seed, member.score))
        )
        holder = Holder(Account.create(), rng.randbytes(32), holder.score)

    p = book.present(
        published,
        holder,
        rng.choice(
            [0, holder.score, holder.score + 1, rng.randint(0, holder.score), 1001]
        ),
        bank=rng.choice([w.bank, w.bank, w.other_bank, w.regulator]).address,
        nonce=rng.randbytes(32),
        expiry_in=rng.choice([-5, 0, 30, 600]),
        signer=Account.create() if rng.random() < 0.05 else None,
        proof=proof,
    )
    verifier = p.bank
    if rng.random() < 0.1:
        verifier = rng.choice([w.bank, w.other_bank, w.regulator, w.outsider]).address
    nonce = p.nonce if rng.random() < 0.85 else rng.randbytes(32)
    return _damage(p, rng), verifier, nonce


def _damage(p: Presentation, rng: random.Random) -> Presentation:
    fields = dict(p.__dict__)
    roll = rng.random()
    signature = bytearray(p.signature)
    if roll < 0.05:
        signature[rng.randrange(64)] ^= 0x01
    elif roll < 0.08:
        signature = signature[:64]
    elif roll < 0.11:
        signature[64] = 29
    elif roll < 0.14:
        s = int.from_bytes(signature[32:64], "big")
        signature[32:64] = (SECP256K1_N - s).to_bytes(32, "big")
        signature[64] = 55 - signature[64]
    elif roll < 0.18:
        fields["node"] = bytes([p.node[0] ^ 0x80]) + p.node[1:]
    elif roll < 0.22 and p.proof:
        fields["proof"] = p.proof[:-1]
    elif roll < 0.25:
        fields["proof"] = (*p.proof, rng.randbytes(32))
    elif roll < 0.28:
        fields["version"] = rng.choice([0, 1, 2, 3])
    elif roll < 0.30:
        fields["epoch"] = rng.choice([0, 1, 2, 3, 4])
    fields["signature"] = bytes(signature)
    return Presentation(**fields)


def assert_agreement(book: CreditBook, rng: random.Random) -> int:
    presentation, verifier, nonce = random_case(book, rng)
    on_chain = book.check(presentation, verifier, nonce)
    reference = check_presentation(
        presentation,
        bank=verifier,
        expected_nonce=nonce,
        now=book.world.h.now,
        registry=book.view,
    )
    assert on_chain == reference, (presentation, verifier, nonce)
    return on_chain


def test_reference_agrees_with_contract_on_every_rule(book: CreditBook) -> None:
    rng = random.Random(2024)

    seen = Counter(assert_agreement(book, rng) for _ in range(400))

    assert set(seen) == set(PresentationResult), seen


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(seed=st.integers(min_value=0, max_value=2**32))
def test_reference_agrees_with_contract_on_random_presentations(
    book: CreditBook, seed: int
) -> None:
    assert_agreement(book, random.Random(seed))
