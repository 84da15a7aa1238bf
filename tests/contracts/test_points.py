"""Points: ERC-20 reads, budgets, town grants and redemptions."""

from __future__ import annotations

from contracts.catalog import period_of
from tests.contracts.harness import reverts
from tests.contracts.world import EAST, PERIOD_SECONDS, WEST, World, build_world

REASON = b"\x01" * 32


def reference(n: int) -> bytes:
    return n.to_bytes(32, "big")


def test_erc20_read_interface(world: World) -> None:
    p = world.points
    assert p.name.call() == "Gongfen Work Points"
    assert p.symbol.call() == "GFP"
    assert p.decimals.call() == 0
    assert p.totalSupply.call() == 0
    assert p.balanceOf.call(world.east_villagers[0].address) == 0
    assert (
        p.allowance.call(world.east_villagers[0].address, world.east_shop.address) == 0
    )


def test_free_transfers_are_disabled(world: World) -> None:
    villager, neighbour = world.east_villagers[0], world.east_villagers[1]
    world.points.grant.transact(villager.address, 10, REASON, sender=world.town)

    with reverts("points: free transfers are disabled"):
        world.points.transfer.transact(neighbour.address, 1, sender=villager)
    with reverts("points: free transfers are disabled"):
        world.points.transfer.transact(world.east_shop.address, 1, sender=villager)
    with reverts("points: free transfers are disabled"):
        world.points.transferFrom.transact(
            villager.address, neighbour.address, 1, sender=neighbour
        )
    with reverts("points: approvals are disabled"):
        world.points.approve.transact(neighbour.address, 1, sender=villager)
    assert world.balance(villager) == 10


def test_current_period_follows_china_time(world: World) -> None:
    assert world.period() == period_of(world.h.now, PERIOD_SECONDS)


def test_only_town_admin_sets_budgets(world: World) -> None:
    period = world.period()
    for caller in (world.east_admin, world.bank, world.east_villagers[0]):
        with reverts("points: caller is not a town admin"):
            world.points.setBudget.transact(EAST, period, 5, sender=caller)

    receipt = world.points.setBudget.transact(EAST, period + 1, 500, sender=world.town)

    assert world.points.budgetOf.call(EAST, period + 1) == 500
    assert world.points.events(receipt, "BudgetSet")[0]["amount"] == 500


def test_budget_rules(world: World) -> None:
    period = world.period()
    with reverts("points: unknown village"):
        world.points.setBudget.transact(3, period, 5, sender=world.town)
    with reverts("points: period is over"):
        world.points.setBudget.transact(EAST, period - 1, 5, sender=world.town)

    world.points.grant.transact(
        world.east_villagers[0].address, 30, REASON, sender=world.town
    )
    with reverts("points: budget below points already minted"):
        world.points.setBudget.transact(0, period, 29, sender=world.town)
    world.points.setBudget.transact(0, period, 30, sender=world.town)


def test_town_grant_mints_within_the_town_budget(world: World) -> None:
    world.set_budget(0, 100)
    villager = world.east_villagers[0]

    receipt = world.points.grant.transact(
        villager.address, 60, REASON, sender=world.town
    )

    (transfer,) = world.points.events(receipt, "Transfer")
    assert transfer == {
        "sender": "0x" + "00" * 20,
        "receiver": villager.address.lower(),
        "value": 60,
    }
    assert world.points.events(receipt, "Granted")[0]["reason"] == REASON
    assert world.balance(villager) == 60
    assert world.points.mintedIn.call(0, world.period()) == 60
    with reverts("points: over budget"):
        world.points.grant.transact(villager.address, 41, REASON, sender=world.town)
    world.points.grant.transact(villager.address, 40, REASON, sender=world.town)


def test_grant_rejections(world: World) -> None:
    villager = world.east_villagers[0].address
    with reverts("points: caller is not a town admin"):
        world.points.grant.transact(villager, 1, REASON, sender=world.east_admin)
    with reverts("points: recipient is not a villager"):
        world.points.grant.transact(
            world.east_shop.address, 1, REASON, sender=world.town
        )
    with reverts("points: zero amount"):
        world.points.grant.transact(villager, 0, REASON, sender=world.town)


def test_budget_of_a_new_period_starts_empty(world: World) -> None:
    world.set_budget(0, 10)
    world.points.grant.transact(
        world.east_villagers[0].address, 10, REASON, sender=world.town
    )

    world.h.advance(PERIOD_SECONDS)

    with reverts("points: over budget"):
        world.points.grant.transact(
            world.east_villagers[0].address, 1, REASON, sender=world.town
        )


def test_only_the_activities_contract_mints_awards(world: World) -> None:
    villagers = [world.east_villagers[0].address]
    for caller in (world.town, world.east_admin, world.east_villagers[0]):
        with reverts("points: caller is not the activities contract"):
            world.points.mintAwards.transact(EAST, villagers, 5, sender=caller)


def test_only_the_settlement_contract_moves_escrow(world: World) -> None:
    shop = world.east_shop
    with reverts("points: caller is not the settlement contract"):
        world.points.moveToSettlement.transact(shop.address, 1, sender=shop)
    with reverts("points: caller is not the settlement contract"):
        world.points.returnFromSettlement.transact(shop.address, 1, sender=world.town)
    with reverts("points: caller is not the settlement contract"):
        world.points.burnSettled.transact(1, sender=world.bank)


def test_wiring_happens_once_by_the_town(world: World) -> None:
    with reverts("points: already wired"):
        world.points.wire.transact(
            world.outsider.address, world.outsider.address, sender=world.town
        )
    fresh = world.h.deploy(
        "Points", world.consortium.address, PERIOD_SECONDS, sender=world.town
    )
    with reverts("points: caller is not a town admin"):
        fresh.wire.transact(
            world.outsider.address, world.outsider.address, sender=world.bank
        )
    with reverts("points: zero address"):
        fresh.wire.transact("0x" + "00" * 20, world.outsider.address, sender=world.town)


def test_redemption_moves_points_from_villager_to_shop(world: World) -> None:
    villager, shop = world.east_villagers[0], world.east_shop
    world.points.grant.transact(villager.address, 50, REASON, sender=world.town)

    receipt = world.points.redeem.transact(
        shop.address, 20, reference(1), sender=villager
    )

    assert world.balance(villager) == 30
    assert world.balance(shop) == 20
    assert world.points.totalSupply.call() == 50
    (redeemed,) = world.points.events(receipt, "Redeemed")
    assert redeemed["paymentReference"] == reference(1)
    assert world.points.paymentReferenceUsed.call(reference(1))


def test_villager_may_pay_a_shop_of_another_village(world: World) -> None:
    villager = world.east_villagers[0]
    world.points.grant.transact(villager.address, 5, REASON, sender=world.town)

    world.points.redeem.transact(
        world.west_shop.address, 5, reference(1), sender=villager
    )

    assert world.balance(world.west_shop) == 5


def test_redemption_to_anyone_but_a_shop_is_rejected(world: World) -> None:
    villager = world.east_villagers[0]
    world.points.grant.transact(villager.address, 50, REASON, sender=world.town)

    for receiver in (
        world.east_villagers[1],
        world.west_villagers[0],
        world.bank,
        world.outsider,
    ):
        with reverts("points: receiver is not a shop"):
            world.points.redeem.transact(
                receiver.address, 1, reference(9), sender=villager
            )
    assert world.balance(villager) == 50


def test_replayed_payment_reference_is_rejected(world: World) -> None:
    first, second = world.east_villagers[0], world.east_villagers[1]
    for villager in (first, second):
        world.points.grant.transact(villager.address, 50, REASON, sender=world.town)
    world.points.redeem.transact(world.east_shop.address, 5, reference(7), sender=first)

    with reverts("points: payment reference already used"):
        world.points.redeem.transact(
            world.east_shop.address, 5, reference(7), sender=first
        )
    with reverts("points: payment reference already used"):
        world.points.redeem.transact(
            world.west_shop.address, 5, reference(7), sender=second
        )
    with reverts("points: zero payment reference"):
        world.points.redeem.transact(
            world.east_shop.address, 5, bytes(32), sender=first
        )


def test_redemption_rejections(world: World) -> None:
    villager, shop = world.east_villagers[0], world.east_shop
    world.points.grant.transact(villager.address, 10, REASON, sender=world.town)

    with reverts("points: amount exceeds balance"):
        world.points.redeem.transact(shop.address, 11, reference(1), sender=villager)
    with reverts("points: zero amount"):
        world.points.redeem.transact(shop.address, 0, reference(1), sender=villager)
    with reverts("points: caller is not a villager"):
        world.points.redeem.transact(
            world.west_shop.address, 1, reference(1), sender=shop
        )
    assert not world.points.paymentReferenceUsed.call(reference(1))


def test_a_removed_villager_can_no_longer_redeem(world: World) -> None:
    villager = world.east_villagers[0]
    world.points.grant.transact(villager.address, 10, REASON, sender=world.town)
    world.consortium.removeVillager.transact(villager.address, sender=world.east_admin)

    with reverts("points: caller is not a villager"):
        world.points.redeem.transact(
            world.east_shop.address, 1, reference(1), sender=villager
        )


def test_budgets_are_per_village() -> None:
    world = build_world(budget=0)
    world.set_budget(EAST, 10)
    east_activity = world.publish(EAST, points=10)
    west_activity = world.publish(WEST, points=10)

    world.award(east_activity, world.east_villagers[:1])
    world.activities.checkIn.transact(
        west_activity, world.west_villagers[0].address, sender=world.west_villagers[0]
    )

    with reverts("points: over budget"):
        world.activities.approveParticipants.transact(
            west_activity, 0, [world.west_villagers[0].address], sender=world.west_admin
        )
    assert world.points.mintedIn.call(EAST, world.period()) == 10
