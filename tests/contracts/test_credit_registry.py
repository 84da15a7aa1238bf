"""Credit registry: publishing roots and checking presentations."""

from __future__ import annotations

import random
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from contracts.presentation import (
    PresentationResult,
    presentation_digest,
    typed_data,
)
from tests.contracts.credit import (
    RULEBOOK,
    CreditBook,
    Epoch,
    Holder,
    make_holders,
    new_book,
)
from tests.contracts.harness import CHAIN_ID, reverts
from tests.contracts.world import DAY, World

R = PresentationResult
APPEAL = b"\xa9" * 32


@pytest.fixture
def book(world: World) -> CreditBook:
    return new_book(world)


@pytest.fixture
def epoch_one(book: CreditBook) -> Epoch:
    holders = make_holders(random.Random(1), 9)
    holders[0].score = 80
    return book.publish(1, holders)


def test_only_the_town_publishes_roots(world: World) -> None:
    valid_until = world.h.now + DAY
    for caller in (world.east_admin, world.bank, world.regulator, world.outsider):
        with reverts("credit registry: caller is not a town admin"):
            world.registry.publishRoot.transact(
                1, b"\x01" * 32, valid_until, 5, RULEBOOK, bytes(32), sender=caller
            )


def test_publish_records_the_commitment(world: World) -> None:
    valid_until = world.h.now + DAY

    receipt = world.registry.publishRoot.transact(
        4, b"\x01" * 32, valid_until, 5, RULEBOOK, bytes(32), sender=world.town
    )

    (event,) = world.registry.events(receipt, "RootPublished")
    assert (event["epoch"], event["version"]) == (4, 1)
    assert world.registry.currentVersion.call(4) == 1
    assert world.registry.latestEpoch.call() == 4
    commitment = world.registry.currentCommitment.call(4)
    assert commitment[:5] == (
        b"\x01" * 32,
        valid_until,
        5,
        RULEBOOK,
        world.town.address.lower(),
    )


def test_publish_rules(world: World) -> None:
    now, town = world.h.now, world.town
    root = b"\x01" * 32
    with reverts("credit registry: zero root"):
        world.registry.publishRoot.transact(
            1, bytes(32), now + DAY, 5, RULEBOOK, bytes(32), sender=town
        )
    with reverts("credit registry: zero rulebook hash"):
        world.registry.publishRoot.transact(
            1, root, now + DAY, 5, bytes(32), bytes(32), sender=town
        )
    with reverts("credit registry: no leaves"):
        world.registry.publishRoot.transact(
            1, root, now + DAY, 0, RULEBOOK, bytes(32), sender=town
        )
    with reverts("credit registry: expiry not in the future"):
        world.registry.publishRoot.transact(
            1, root, now - 1, 5, RULEBOOK, bytes(32), sender=town
        )
    with reverts("credit registry: first version has no appeal"):
        world.registry.publishRoot.transact(
            1, root, now + DAY, 5, RULEBOOK, APPEAL, sender=town
        )

    world.registry.publishRoot.transact(
        1, root, now + DAY, 5, RULEBOOK, bytes(32), sender=town
    )

    with reverts("credit registry: new version needs an appeal decision"):
        world.registry.publishRoot.transact(
            1, root, now + DAY, 5, RULEBOOK, bytes(32), sender=town
        )
    world.registry.publishRoot.transact(
        1, root, now + DAY, 5, RULEBOOK, APPEAL, sender=town
    )
    assert world.registry.commitments.call(1, 2)[5] == APPEAL


def test_digest_matches_eth_account_and_the_reference(world: World) -> None:
    fields = {
        "bank": world.bank.address,
        "nonce": b"\x11" * 32,
        "threshold": 60,
        "epoch": 3,
        "version": 2,
        "expiry": 1_900_000_000,
    }
    context = {"chain_id": CHAIN_ID, "registry": world.registry.address}
    presentation = (Account.create().address, *fields.values(), b"\x00" * 32, [], b"")

    on_chain = world.registry.presentationDigest.call(presentation)

    by_hand = presentation_digest(**fields, **context)  # type: ignore[arg-type]
    message: Any = typed_data(**fields, **context)
    signable = encode_typed_data(full_message=message)
    by_eth_account = keccak(
        b"\x19" + signable.version + signable.header + signable.body
    )
    assert on_chain == by_hand == by_eth_account


def test_valid_presentation_verifies(book: CreditBook, epoch_one: Epoch) -> None:
    holder = epoch_one.holders[0]
    w = book.world
    for threshold in (0, 1, 60, 80):
        p = book.present(epoch_one, holder, threshold)
        assert book.check(p, w.bank.address, p.nonce) == R.VALID
        assert w.registry.verifyPresentation.call(p.as_abi(), w.bank.address, p.nonce)


def test_higher_threshold_than_committed_fails(
    book: CreditBook, epoch_one: Epoch
) -> None:
    p = book.present(epoch_one, epoch_one.holders[0], 81)

    assert book.check(p, book.world.bank.address, p.nonce) == R.NOT_IN_TREE
    assert not book.world.registry.verifyPresentation.call(
        p.as_abi(), book.world.bank.address, p.nonce
    )


def test_presentation_for_another_bank_fails(
    book: CreditBook, epoch_one: Epoch
) -> None:
    w = book.world
    p = book.present(epoch_one, epoch_one.holders[0], 50, bank=w.bank.address)

    assert book.check(p, w.other_bank.address, p.nonce) == R.WRONG_BANK
    relabelled = p.__class__(**{**p.__dict__, "bank": w.other_bank.address})
    assert book.check(relabelled, w.other_bank.address, p.nonce) == R.BAD_SIGNATURE


def test_presentation_for_a_non_bank_fails(book: CreditBook, epoch_one: Epoch) -> None:
    w = book.world
    p = book.present(epoch_one, epoch_one.holders[0], 50, bank=w.regulator.address)

    assert book.check(p, w.regulator.address, p.nonce) == R.NOT_A_BANK


def test_reused_nonce_fails(book: CreditBook, epoch_one: Epoch) -> None:
    w = book.world
    first_nonce, fresh_nonce = b"\x01" * 32, b"\x02" * 32
    p = book.present(epoch_one, epoch_one.holders[0], 50, nonce=first_nonce)
    assert book.check(p, w.bank.address, first_nonce) == R.VALID

    # The bank issued a fresh nonce for the next request; the old
    # presentation, replayed, carries the used one.
    assert book.check(p, w.bank.address, fresh_nonce) == R.NONCE_MISMATCH


def test_expired_presentation_fails(book: CreditBook, epoch_one: Epoch) -> None:
    w = book.world
    p = book.present(epoch_one, epoch_one.holders[0], 50, expiry_in=60)
    w.h.advance(60)
    assert book.check(p, w.bank.address, p.nonce) == R.VALID

    w.h.advance(1)

    assert book.check(p, w.bank.address, p.nonce) == R.PRESENTATION_EXPIRED


def test_superseded_version_fails(book: CreditBook, epoch_one: Epoch) -> None:
    w = book.world
    holders = [Holder(h.account, h.seed, h.score) for h in epoch_one.holders]
    holders[1].score += 25  # the appeal raised this villager's score
    old = book.present(epoch_one, holders[0], 50)

    appealed = book.publish(1, holders, appeal=APPEAL)

    assert book.check(old, w.bank.address, old.nonce) == R.SUPERSEDED_VERSION
    new = book.present(appealed, holders[0], 50)
    assert book.check(new, w.bank.address, new.nonce) == R.VALID
    raised = book.present(appealed, holders[1], holders[1].score)
    assert book.check(raised, w.bank.address, raised.nonce) == R.VALID


def test_expired_commitment_and_unknown_epoch_fail(book: CreditBook) -> None:
    w = book.world
    published = book.publish(2, make_holders(random.Random(2), 3), valid_for=100)
    p = book.present(published, published.holders[0], 0, expiry_in=500)
    w.h.advance(101)

    assert book.check(p, w.bank.address, p.nonce) == R.COMMITMENT_EXPIRED
    elsewhere = p.__class__(**{**p.__dict__, "epoch": 9})
    assert book.check(elsewhere, w.bank.address, p.nonce) == R.UNKNOWN_COMMITMENT


def test_signature_by_another_key_fails(book: CreditBook, epoch_one: Epoch) -> None:
    impostor = Account.create()
    p = book.present(epoch_one, epoch_one.holders[0], 10, signer=impostor)

    assert book.check(p, book.world.bank.address, p.nonce) == R.BAD_SIGNATURE


def test_threshold_beyond_the_maximum_fails(book: CreditBook, epoch_one: Epoch) -> None:
    assert book.world.registry.MAX_THRESHOLD.call() == 1000
    p = book.present(epoch_one, epoch_one.holders[0], 1001)

    assert book.check(p, book.world.bank.address, p.nonce) == R.THRESHOLD_TOO_HIGH


def test_result_codes_match_the_reference(world: World) -> None:
    for result in PresentationResult:
        assert getattr(world.registry, result.name).call() == result.value
