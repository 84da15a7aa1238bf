"""Settlement: escrow on request, burn on the bank's confirmation, cancel."""

from __future__ import annotations

import pytest

from tests.contracts.harness import reverts
from tests.contracts.world import FEN_PER_POINT, World, build_world

BANK_REF = b"\xba" * 32


@pytest.fixture
def shop_world(world: World) -> World:
    """The world with 100 points redeemed at the East shop."""
    villager = world.east_villagers[0]
    world.points.grant.transact(villager.address, 100, b"\x01" * 32, sender=world.town)
    world.points.redeem.transact(
        world.east_shop.address, 100, b"\x02" * 32, sender=villager
    )
    return world


def request(world: World, amount: int) -> int:
    receipt = world.settlement.requestSettlement.transact(
        amount, sender=world.east_shop
    )
    (event,) = world.settlement.events(receipt, "SettlementRequested")
    settlement_id: int = event["settlementId"]
    return settlement_id


def test_request_moves_points_into_escrow(shop_world: World) -> None:
    w = shop_world

    settlement_id = request(w, 60)

    assert w.balance(w.east_shop) == 40
    assert w.balance(w.settlement) == 60
    assert w.points.totalSupply.call() == 100
    assert w.settlement.pendingPointsOf.call(w.east_shop.address) == 60
    stored = w.settlement.settlements.call(settlement_id)
    assert stored[:4] == (w.east_shop.address.lower(), 60, FEN_PER_POINT, 1)


def test_bank_confirmation_burns_the_escrow(shop_world: World) -> None:
    w = shop_world
    settlement_id = request(w, 60)

    receipt = w.settlement.confirmSettlement.transact(
        settlement_id, BANK_REF, 60 * FEN_PER_POINT, sender=w.bank
    )

    assert w.points.totalSupply.call() == 40
    assert w.points.totalBurned.call() == 60
    assert w.balance(w.settlement) == 0
    assert w.settlement.settledPointsOf.call(w.east_shop.address) == 60
    (confirmed,) = w.settlement.events(receipt, "SettlementConfirmed")
    assert confirmed["amountFen"] == 6000 and confirmed["bankReference"] == BANK_REF
    burn = w.points.events(receipt, "Transfer")[0]
    assert burn["receiver"] == "0x" + "00" * 20 and burn["value"] == 60


def test_settling_more_than_held_is_rejected(shop_world: World) -> None:
    with reverts("points: amount exceeds balance"):
        request(shop_world, 101)
    request(shop_world, 100)
    with reverts("points: amount exceeds balance"):
        request(shop_world, 1)


def test_only_shops_request_settlement(shop_world: World) -> None:
    w = shop_world
    for caller in (w.east_villagers[0], w.bank, w.town):
        with reverts("settlement: caller is not a shop"):
            w.settlement.requestSettlement.transact(1, sender=caller)
    with reverts("settlement: zero amount"):
        request(w, 0)


def test_request_needs_an_exchange_rate() -> None:
    world = build_world(fen_per_point=0)
    with reverts("settlement: exchange rate not set"):
        world.settlement.requestSettlement.transact(1, sender=world.east_shop)


def test_only_banks_confirm(shop_world: World) -> None:
    w = shop_world
    settlement_id = request(w, 10)
    for caller in (w.east_shop, w.town, w.regulator):
        with reverts("settlement: caller is not a bank"):
            w.settlement.confirmSettlement.transact(
                settlement_id, BANK_REF, 10 * FEN_PER_POINT, sender=caller
            )


def test_unconfirmed_settlement_burns_nothing_and_cannot_be_confirmed_twice(
    shop_world: World,
) -> None:
    w = shop_world
    settlement_id = request(w, 10)
    assert w.points.totalBurned.call() == 0

    with reverts("settlement: request is not pending"):
        w.settlement.confirmSettlement.transact(99, BANK_REF, 0, sender=w.bank)
    w.settlement.confirmSettlement.transact(
        settlement_id, BANK_REF, 10 * FEN_PER_POINT, sender=w.bank
    )
    with reverts("settlement: request is not pending"):
        w.settlement.confirmSettlement.transact(
            settlement_id, b"\xbb" * 32, 10 * FEN_PER_POINT, sender=w.bank
        )
    with reverts("settlement: request is not pending"):
        w.settlement.cancelSettlement.transact(settlement_id, sender=w.east_shop)


def test_confirmation_amount_and_reference_rules(shop_world: World) -> None:
    w = shop_world
    first, second = request(w, 10), request(w, 10)

    with reverts("settlement: amount in fen does not match"):
        w.settlement.confirmSettlement.transact(first, BANK_REF, 999, sender=w.bank)
    with reverts("settlement: zero bank reference"):
        w.settlement.confirmSettlement.transact(first, bytes(32), 1000, sender=w.bank)
    w.settlement.confirmSettlement.transact(first, BANK_REF, 1000, sender=w.bank)
    with reverts("settlement: bank reference already used"):
        w.settlement.confirmSettlement.transact(
            second, BANK_REF, 1000, sender=w.other_bank
        )


def test_rate_is_recorded_at_request(shop_world: World) -> None:
    w = shop_world
    settlement_id = request(w, 10)

    w.settlement.setExchangeRate.transact(150, sender=w.town)

    with reverts("settlement: amount in fen does not match"):
        w.settlement.confirmSettlement.transact(
            settlement_id, BANK_REF, 1500, sender=w.bank
        )
    w.settlement.confirmSettlement.transact(
        settlement_id, BANK_REF, 1000, sender=w.bank
    )
    assert w.settlement.settlements.call(request(w, 10))[2] == 150


def test_only_the_town_sets_the_exchange_rate(world: World) -> None:
    with reverts("settlement: caller is not a town admin"):
        world.settlement.setExchangeRate.transact(1, sender=world.bank)
    with reverts("settlement: zero exchange rate"):
        world.settlement.setExchangeRate.transact(0, sender=world.town)


def test_shop_cancels_a_pending_request(shop_world: World) -> None:
    w = shop_world
    settlement_id = request(w, 30)

    with reverts("settlement: caller is not the requesting shop"):
        w.settlement.cancelSettlement.transact(settlement_id, sender=w.west_shop)
    receipt = w.settlement.cancelSettlement.transact(settlement_id, sender=w.east_shop)

    assert w.balance(w.east_shop) == 100
    assert w.settlement.pendingPointsOf.call(w.east_shop.address) == 0
    assert w.settlement.events(receipt, "SettlementCancelled")[0]["amount"] == 30
    with reverts("settlement: request is not pending"):
        w.settlement.confirmSettlement.transact(
            settlement_id, BANK_REF, 3000, sender=w.bank
        )
    with reverts("settlement: request is not pending"):
        w.settlement.cancelSettlement.transact(settlement_id, sender=w.east_shop)


def test_shop_cannot_redeem_or_transfer_its_points(shop_world: World) -> None:
    w = shop_world
    with reverts("points: free transfers are disabled"):
        w.points.transfer.transact(w.west_shop.address, 1, sender=w.east_shop)
    with reverts("points: caller is not a villager"):
        w.points.redeem.transact(
            w.west_shop.address, 1, b"\x03" * 32, sender=w.east_shop
        )
