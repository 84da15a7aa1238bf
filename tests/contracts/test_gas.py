"""Gas: a 200-villager batch approval fits a block; costs per operation.

Run with ``-s`` to see the table of gas figures.
"""

from __future__ import annotations

import random

import pytest

from contracts.catalog import Category
from contracts.presentation import PresentationResult
from tests.contracts.credit import make_holders, new_book
from tests.contracts.harness import GAS_LIMIT
from tests.contracts.world import EAST, World, build_world

BATCH = 200


@pytest.fixture(scope="module")
def big_world() -> World:
    return build_world(villagers_per_village=BATCH, budget=10_000_000)


def approve_batch(world: World, villagers: list[str]) -> int:
    activity_id = world.publish(EAST, category=Category.VOLUNTEER_SERVICE, capacity=500)
    world.activities.checkInBatch.transact(
        activity_id, villagers, sender=world.east_worker
    )
    receipt = world.activities.approveParticipants.transact(
        activity_id, 0, villagers, sender=world.east_admin
    )
    return receipt.gas_used


def test_gas_per_operation(big_world: World) -> None:
    w = big_world
    villagers = [v.address for v in w.east_villagers]
    assert len(villagers) == BATCH

    first_batch = approve_batch(w, villagers)
    repeat_batch = approve_batch(w, villagers)

    redeemer = w.east_villagers[0]
    first_redemption = w.points.redeem.transact(
        w.east_shop.address, 1, b"\x01" * 32, sender=redeemer
    ).gas_used
    next_redemption = w.points.redeem.transact(
        w.east_shop.address, 1, b"\x02" * 32, sender=redeemer
    ).gas_used

    book = new_book(w)
    holders = make_holders(random.Random(3), BATCH, max_score=900)
    holders[0].score = 700
    published = book.publish(1, holders)
    checks = {}
    for threshold in (60, 600):
        p = book.present(published, holders[0], threshold)
        assert book.check(p, w.bank.address, p.nonce) == PresentationResult.VALID
        # The bank checks with eth_call; a transaction measures the same work
        # plus the intrinsic cost a gas estimate would include.
        checks[threshold] = w.registry.checkPresentation.transact(
            p.as_abi(), w.bank.address, p.nonce, sender=w.bank
        ).gas_used

    print()
    print(
        f"approve {BATCH} villagers, first award : {first_batch:>10,} gas"
        f" = {first_batch // BATCH:,} per award"
    )
    print(
        f"approve {BATCH} villagers, next award  : {repeat_batch:>10,} gas"
        f" = {repeat_batch // BATCH:,} per award"
    )
    print(
        "redemption (shop's first / next)      : "
        f"{first_redemption:,} / {next_redemption:,}"
    )
    for threshold, gas in checks.items():
        print(f"presentation check, T={threshold}, {BATCH} leaves : {gas:,} gas")

    assert first_batch < GAS_LIMIT // 4
    assert repeat_batch < first_batch
    assert first_redemption < 100_000 and next_redemption < first_redemption
    assert checks[600] < 400_000


def test_largest_batch_fits_the_block(big_world: World) -> None:
    w = big_world
    maximum = w.activities.MAX_BATCH.call()
    # Plain addresses well clear of the precompiles; villagers need no key.
    newcomers = [f"0x{0x6F00 + i:040x}" for i in range(maximum - BATCH)]
    w.consortium.registerVillagers.transact(newcomers, EAST, sender=w.east_admin)
    villagers = [v.address for v in w.east_villagers] + newcomers
    assert len(villagers) == maximum

    gas = approve_batch(w, villagers)

    assert gas < GAS_LIMIT
