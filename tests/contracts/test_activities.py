"""Activities: publishing, check-in, batch approval, caps and budgets."""

from __future__ import annotations

import pytest

from contracts.catalog import Category, day_of
from tests.contracts.harness import reverts
from tests.contracts.world import DAY, EAST, HOUR, WEST, World, build_world


def test_category_numbers_match_the_catalog(world: World) -> None:
    assert world.activities.CATEGORY_COUNT.call() == len(Category)
    assert world.activities.FIRST_DAILY_CATEGORY.call() == Category.READING
    assert [c for c in Category if c.is_daily_task] == [
        Category.READING,
        Category.VIDEO,
    ]


def test_village_admin_publishes_for_its_own_village(world: World) -> None:
    activity_id = world.publish(EAST, points=15, capacity=30, daily_cap=40)

    stored = world.activities.activities.call(activity_id)
    assert stored[0] == world.east_admin.address.lower()
    assert stored[1:4] == (EAST, Category.CIVIC_CLASS, 15)
    assert stored[4] == 30 and stored[7] == 40


def test_publishing_rejects_wrong_callers(world: World) -> None:
    for caller in (
        world.west_admin,
        world.town,
        world.east_worker,
        world.east_villagers[0],
    ):
        with reverts("activities: caller is not an admin of the issuing unit"):
            world.publish(EAST, sender=caller)
    with reverts("activities: caller is not an admin of the issuing unit"):
        world.publish(0, sender=world.east_admin)
    assert world.publish(0) == 1


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"category": 11}, "activities: unknown category"),
        ({"points": 0}, "activities: zero points"),
        ({"capacity": 0}, "activities: zero capacity"),
        ({"capacity": 2**64 + 1}, "activities: capacity too large"),
        ({"lasts": 0}, "activities: empty time window"),
        (
            {"starts_in": -3 * HOUR, "lasts": HOUR},
            "activities: time window already over",
        ),
        ({"points": 20, "daily_cap": 19}, "activities: daily cap below points"),
    ],
)
def test_publishing_rejects_bad_parameters(
    world: World, overrides: dict[str, int], reason: str
) -> None:
    with reverts(reason):
        world.publish(EAST, **overrides)  # type: ignore[arg-type]


def test_villager_checks_in_and_issuer_approves(world: World) -> None:
    activity_id = world.publish(EAST, points=10)
    villagers = world.east_villagers[:3]
    for villager in villagers:
        world.activities.checkIn.transact(
            activity_id, villager.address, sender=villager
        )

    receipt = world.activities.approveParticipants.transact(
        activity_id, 0, [v.address for v in villagers], sender=world.east_admin
    )

    assert [world.balance(v) for v in villagers] == [10, 10, 10]
    assert world.points.totalSupply.call() == 30
    assert world.points.mintedIn.call(EAST, world.period()) == 30
    (approved,) = world.activities.events(receipt, "ParticipantsApproved")
    assert (approved["activityId"], approved["slot"]) == (activity_id, 0)
    assert (approved["count"], approved["points"]) == (3, 10)
    minted = world.points.events(receipt, "Transfer")
    assert [(t["sender"], t["receiver"], t["value"]) for t in minted] == [
        ("0x" + "00" * 20, v.address.lower(), 10) for v in villagers
    ]
    assert world.activities.participationOf.call(
        activity_id, 0, villagers[0].address
    ) == (
        2,
        world.today(),
    )


def test_social_worker_and_village_admin_check_villagers_in(world: World) -> None:
    activity_id = world.publish(EAST)
    first, second = world.east_villagers[:2]

    world.activities.checkIn.transact(
        activity_id, first.address, sender=world.east_worker
    )
    world.activities.checkInBatch.transact(
        activity_id, [second.address], sender=world.east_admin
    )

    assert world.activities.participantCount.call(activity_id, 0) == 2


def test_check_in_rejects_callers_outside_the_village(world: World) -> None:
    activity_id = world.publish(EAST)
    villager = world.east_villagers[0].address
    callers = [
        world.west_worker,
        world.west_admin,
        world.east_villagers[1],
        world.east_shop,
    ]
    for caller in callers + [world.town, world.bank]:
        with reverts("activities: caller may not check this villager in"):
            world.activities.checkIn.transact(activity_id, villager, sender=caller)


def test_town_admin_checks_villagers_in_to_town_activities(world: World) -> None:
    activity_id = world.publish(0)

    world.activities.checkInBatch.transact(
        activity_id,
        [world.east_villagers[0].address, world.west_villagers[0].address],
        sender=world.town,
    )
    world.activities.approveParticipants.transact(
        activity_id,
        0,
        [world.east_villagers[0].address, world.west_villagers[0].address],
        sender=world.town,
    )

    assert world.points.mintedIn.call(0, world.period()) == 20


def test_village_activity_is_for_its_own_villagers(world: World) -> None:
    activity_id = world.publish(EAST)
    outsider = world.west_villagers[0]

    with reverts("activities: activity is for another village"):
        world.activities.checkIn.transact(
            activity_id, outsider.address, sender=outsider
        )
    with reverts("activities: participant is not a villager"):
        world.activities.checkIn.transact(
            activity_id, world.east_shop.address, sender=world.east_admin
        )


def test_check_in_outside_the_time_window_is_rejected(world: World) -> None:
    activity_id = world.publish(EAST, starts_in=HOUR, lasts=HOUR)
    villager = world.east_villagers[0]

    with reverts("activities: activity has not started"):
        world.activities.checkIn.transact(
            activity_id, villager.address, sender=villager
        )
    world.h.advance(2 * HOUR + 10)
    with reverts("activities: activity has ended"):
        world.activities.checkIn.transact(
            activity_id, villager.address, sender=villager
        )


def test_check_in_beyond_capacity_is_rejected(world: World) -> None:
    activity_id = world.publish(EAST, capacity=2)
    first, second, third = world.east_villagers[:3]
    world.activities.checkInBatch.transact(
        activity_id, [first.address, second.address], sender=world.east_worker
    )

    with reverts("activities: activity is full"):
        world.activities.checkIn.transact(activity_id, third.address, sender=third)


def test_second_check_in_is_rejected(world: World) -> None:
    activity_id = world.publish(EAST)
    villager = world.east_villagers[0]
    world.activities.checkIn.transact(activity_id, villager.address, sender=villager)

    with reverts("activities: already checked in"):
        world.activities.checkIn.transact(
            activity_id, villager.address, sender=world.east_worker
        )


def test_only_the_issuing_admin_approves(world: World) -> None:
    activity_id = world.publish(EAST)
    villager = world.east_villagers[0]
    world.activities.checkIn.transact(activity_id, villager.address, sender=villager)

    for caller in (world.town, world.west_admin, world.east_worker, villager):
        with reverts("activities: caller is not an admin of the issuing unit"):
            world.activities.approveParticipants.transact(
                activity_id, 0, [villager.address], sender=caller
            )
    with reverts("activities: unknown activity"):
        world.activities.approveParticipants.transact(
            99, 0, [villager.address], sender=world.east_admin
        )


def test_approval_requires_check_in_and_happens_once(world: World) -> None:
    activity_id = world.publish(EAST)
    present, absent = world.east_villagers[:2]
    world.activities.checkIn.transact(activity_id, present.address, sender=present)

    with reverts("activities: participant not checked in"):
        world.activities.approveParticipants.transact(
            activity_id, 0, [present.address, absent.address], sender=world.east_admin
        )
    with reverts("activities: participant already approved"):
        world.activities.approveParticipants.transact(
            activity_id, 0, [present.address, present.address], sender=world.east_admin
        )
    world.activities.approveParticipants.transact(
        activity_id, 0, [present.address], sender=world.east_admin
    )
    with reverts("activities: participant already approved"):
        world.activities.approveParticipants.transact(
            activity_id, 0, [present.address], sender=world.east_admin
        )
    assert world.balance(present) == 10


def test_one_off_activity_takes_slot_zero(world: World) -> None:
    activity_id = world.publish(EAST)
    villager = world.east_villagers[0]
    world.activities.checkIn.transact(activity_id, villager.address, sender=villager)

    with reverts("activities: one-off activities use slot 0"):
        world.activities.approveParticipants.transact(
            activity_id, world.today(), [villager.address], sender=world.east_admin
        )


def test_daily_cap_counts_every_activity_of_the_category(world: World) -> None:
    first = world.publish(EAST, category=Category.SAFETY_CLASS, points=30, daily_cap=50)
    second = world.publish(
        EAST, category=Category.SAFETY_CLASS, points=30, daily_cap=50
    )
    other = world.publish(EAST, category=Category.FARM_LABOUR, points=30, daily_cap=50)
    villager = world.east_villagers[0]
    world.award(first, [villager])
    for activity_id in (second, other):
        world.activities.checkIn.transact(
            activity_id, villager.address, sender=villager
        )

    assert world.activities.approvalStatus.call(second, 0, villager.address) == 3
    with reverts("activities: over the daily cap for the category"):
        world.activities.approveParticipants.transact(
            second, 0, [villager.address], sender=world.east_admin
        )
    world.activities.approveParticipants.transact(
        other, 0, [villager.address], sender=world.east_admin
    )
    assert world.balance(villager) == 60


def test_daily_cap_counts_the_day_of_check_in(world: World) -> None:
    first = world.publish(EAST, category=Category.SAFETY_CLASS, points=30, daily_cap=50)
    second = world.publish(
        EAST, category=Category.SAFETY_CLASS, points=30, daily_cap=50, lasts=3 * DAY
    )
    villager = world.east_villagers[0]
    world.activities.checkIn.transact(first, villager.address, sender=villager)
    world.h.advance(DAY)
    world.activities.checkIn.transact(second, villager.address, sender=villager)
    world.h.advance(DAY)

    world.activities.approveParticipants.transact(
        second, 0, [villager.address], sender=world.east_admin
    )
    world.activities.approveParticipants.transact(
        first, 0, [villager.address], sender=world.east_admin
    )

    assert world.balance(villager) == 60
    check_in_day = day_of(world.h.now) - 2
    assert (
        world.activities.earnedOn.call(
            villager.address, Category.SAFETY_CLASS, check_in_day
        )
        == 30
    )


def test_daily_task_may_be_done_once_a_day(world: World) -> None:
    reading = world.publish(
        EAST,
        category=Category.READING,
        points=2,
        daily_cap=4,
        capacity=1,
        lasts=5 * DAY,
    )
    villager, neighbour = world.east_villagers[:2]
    first_day = world.today()
    world.award(reading, [villager], slot=first_day)

    with reverts("activities: already checked in"):
        world.activities.checkIn.transact(reading, villager.address, sender=villager)
    with reverts("activities: activity is full"):
        world.activities.checkIn.transact(reading, neighbour.address, sender=neighbour)

    world.h.advance(DAY)
    world.award(reading, [villager], slot=first_day + 1)
    assert world.balance(villager) == 4


def test_approval_status_reports_each_rule(world: World) -> None:
    activity_id = world.publish(EAST)
    villager, absent = world.east_villagers[:2]
    world.activities.checkIn.transact(activity_id, villager.address, sender=villager)

    assert world.activities.approvalStatus.call(activity_id, 0, villager.address) == 0
    assert world.activities.approvalStatus.call(activity_id, 0, absent.address) == 1
    world.activities.approveParticipants.transact(
        activity_id, 0, [villager.address], sender=world.east_admin
    )
    assert world.activities.approvalStatus.call(activity_id, 0, villager.address) == 2


def test_approval_beyond_the_budget_mints_nothing() -> None:
    world = build_world(budget=0)
    world.set_budget(EAST, 25)
    activity_id = world.publish(EAST, points=10)
    villagers = world.east_villagers[:3]
    world.activities.checkInBatch.transact(
        activity_id, [v.address for v in villagers], sender=world.east_worker
    )

    with reverts("points: over budget"):
        world.activities.approveParticipants.transact(
            activity_id, 0, [v.address for v in villagers], sender=world.east_admin
        )

    assert world.points.totalSupply.call() == 0
    assert (
        world.activities.approvalStatus.call(activity_id, 0, villagers[0].address) == 0
    )
    world.activities.approveParticipants.transact(
        activity_id, 0, [v.address for v in villagers[:2]], sender=world.east_admin
    )
    assert world.points.mintedIn.call(EAST, world.period()) == 20


def test_town_activity_draws_on_the_town_budget() -> None:
    world = build_world(budget=0)
    world.set_budget(EAST, 100)
    activity_id = world.publish(0, points=5)
    world.activities.checkIn.transact(
        activity_id, world.east_villagers[0].address, sender=world.east_villagers[0]
    )

    with reverts("points: over budget"):
        world.activities.approveParticipants.transact(
            activity_id, 0, [world.east_villagers[0].address], sender=world.town
        )


def test_west_villagers_are_untouched_by_east_awards(world: World) -> None:
    activity_id = world.publish(EAST)
    world.award(activity_id, world.east_villagers)

    assert all(world.balance(v) == 0 for v in world.west_villagers)
    assert world.points.mintedIn.call(WEST, world.period()) == 0


def test_empty_approval_batch_is_rejected(world: World) -> None:
    activity_id = world.publish(EAST)

    with reverts("activities: empty batch"):
        world.activities.approveParticipants.transact(
            activity_id, 0, [], sender=world.east_admin
        )


def test_approval_bitmap_spans_words_in_any_order(world: World) -> None:
    # Check-in indexes 0-599 fill three words of the approval bitmap.
    activity_id = world.publish(EAST, category=Category.VOLUNTEER_SERVICE, capacity=600)
    newcomers = [f"0x{0x7100 + i:040x}" for i in range(600)]
    for start in (0, 300):
        world.consortium.registerVillagers.transact(
            newcomers[start : start + 300], EAST, sender=world.east_admin
        )
        world.activities.checkInBatch.transact(
            activity_id, newcomers[start : start + 300], sender=world.east_worker
        )
    first = newcomers[550:] + newcomers[:10] + newcomers[260:250:-1]
    second = [v for v in newcomers if v not in set(first)]

    world.activities.approveParticipants.transact(
        activity_id, 0, first, sender=world.east_admin
    )
    for late in (newcomers[555], newcomers[5], newcomers[255]):
        with reverts("activities: participant already approved"):
            world.activities.approveParticipants.transact(
                activity_id, 0, [newcomers[300], late], sender=world.east_admin
            )
    with reverts("activities: participant already approved"):
        world.activities.approveParticipants.transact(
            activity_id,
            0,
            [newcomers[300], newcomers[20], newcomers[300]],
            sender=world.east_admin,
        )
    for start in (0, 285):
        world.activities.approveParticipants.transact(
            activity_id, 0, second[start : start + 285], sender=world.east_admin
        )

    statuses = {
        world.activities.participationOf.call(activity_id, 0, v)[0] for v in newcomers
    }
    assert statuses == {2}
    assert world.points.totalSupply.call() == 600 * 10
