"""A deployed consortium with named members, for contract tests.

Two villages (East = 1, West = 2), a town admin, one village admin, shop
and social worker per village, a bank, a second bank, a regulator, villagers
in each village and an outsider with no role. Budgets for the current
period are set generously unless a test asks otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

from contracts.catalog import (
    BANK_ROLE,
    REGULATOR_ROLE,
    SHOP_ROLE,
    VILLAGE_ADMIN_ROLE,
    Category,
)
from tests.contracts.harness import Account, Contract, Harness

EAST = 1
WEST = 2
PERIOD_SECONDS = 30 * 86_400
FEN_PER_POINT = 100
DAY = 86_400
HOUR = 3_600


@dataclass
class World:
    """Handles to the contracts and the members' accounts."""

    h: Harness
    consortium: Contract
    points: Contract
    activities: Contract
    settlement: Contract
    registry: Contract
    feedback: Contract
    town: Account
    east_admin: Account
    west_admin: Account
    east_shop: Account
    west_shop: Account
    east_worker: Account
    west_worker: Account
    bank: Account
    other_bank: Account
    regulator: Account
    outsider: Account
    bootstrap: Account
    east_villagers: list[Account]
    west_villagers: list[Account]

    def period(self) -> int:
        """The current budget period."""
        period: int = self.points.currentPeriod.call()
        return period

    def today(self) -> int:
        """The current day number."""
        day: int = self.activities.today.call()
        return day

    def set_budget(self, unit: int, amount: int) -> None:
        """Set ``unit``'s budget for the current period."""
        self.points.setBudget.transact(unit, self.period(), amount, sender=self.town)

    def publish(
        self,
        unit: int = EAST,
        *,
        category: int = Category.CIVIC_CLASS,
        points: int = 10,
        capacity: int = 100,
        starts_in: int = 0,
        lasts: int = 2 * HOUR,
        daily_cap: int = 50,
        sender: Account | None = None,
    ) -> int:
        """Publish an activity starting ``starts_in`` seconds from now."""
        admin = sender or (self.town if unit == 0 else self.admin_of(unit))
        start = self.h.now + starts_in
        receipt = self.activities.publishActivity.transact(
            unit,
            category,
            points,
            capacity,
            start,
            start + lasts,
            daily_cap,
            sender=admin,
        )
        (event,) = self.activities.events(receipt, "ActivityPublished")
        activity_id: int = event["activityId"]
        return activity_id

    def admin_of(self, village: int) -> Account:
        """The village admin of ``village``."""
        return self.east_admin if village == EAST else self.west_admin

    def award(self, activity_id: int, villagers: list[Account], slot: int = 0) -> None:
        """Check ``villagers`` in themselves and approve them as the issuer."""
        for villager in villagers:
            self.activities.checkIn.transact(
                activity_id, villager.address, sender=villager
            )
        unit = self.activities.activities.call(activity_id)[1]
        admin = self.town if unit == 0 else self.admin_of(unit)
        self.activities.approveParticipants.transact(
            activity_id, slot, [v.address for v in villagers], sender=admin
        )

    def balance(self, account: Account | Contract) -> int:
        """Points held by ``account``."""
        balance: int = self.points.balanceOf.call(account.address)
        return balance


def build_world(
    villagers_per_village: int = 4,
    budget: int = 1_000_000,
    fen_per_point: int = FEN_PER_POINT,
) -> World:
    """Deploy and populate a consortium on a fresh harness."""
    h = Harness(account_count=12 + 2 * villagers_per_village)
    a = h.accounts
    town, east_admin, west_admin, east_shop, west_shop = a[0:5]
    east_worker, west_worker, bank, other_bank, regulator, outsider, bootstrap = a[5:12]
    east_villagers = a[12 : 12 + villagers_per_village]
    west_villagers = a[12 + villagers_per_village :]

    consortium = h.deploy("Consortium", [bootstrap.address], sender=town)
    points = h.deploy("Points", consortium.address, PERIOD_SECONDS, sender=town)
    activities = h.deploy("Activities", consortium.address, points.address, sender=town)
    settlement = h.deploy("Settlement", consortium.address, points.address, sender=town)
    registry = h.deploy("CreditRegistry", consortium.address, sender=town)
    feedback = h.deploy("FeedbackAnchors", consortium.address, sender=town)
    points.wire.transact(activities.address, settlement.address, sender=town)
    if fen_per_point:
        settlement.setExchangeRate.transact(fen_per_point, sender=town)

    consortium.addVillage.transact("East", sender=town)
    consortium.addVillage.transact("West", sender=town)
    grants = [
        (VILLAGE_ADMIN_ROLE, east_admin, EAST),
        (VILLAGE_ADMIN_ROLE, west_admin, WEST),
        (SHOP_ROLE, east_shop, EAST),
        (SHOP_ROLE, west_shop, WEST),
        (BANK_ROLE, bank, 0),
        (BANK_ROLE, other_bank, 0),
        (REGULATOR_ROLE, regulator, 0),
    ]
    for role, account, village in grants:
        consortium.grantMemberRole.transact(role, account.address, village, sender=town)
    consortium.registerSocialWorker.transact(
        east_worker.address, EAST, sender=east_admin
    )
    consortium.registerSocialWorker.transact(
        west_worker.address, WEST, sender=west_admin
    )
    consortium.registerVillagers.transact(
        [v.address for v in east_villagers], EAST, sender=east_admin
    )
    consortium.registerVillagers.transact(
        [v.address for v in west_villagers], WEST, sender=west_admin
    )

    world = World(
        h=h,
        consortium=consortium,
        points=points,
        activities=activities,
        settlement=settlement,
        registry=registry,
        feedback=feedback,
        town=town,
        east_admin=east_admin,
        west_admin=west_admin,
        east_shop=east_shop,
        west_shop=west_shop,
        east_worker=east_worker,
        west_worker=west_worker,
        bank=bank,
        other_bank=other_bank,
        regulator=regulator,
        outsider=outsider,
        bootstrap=bootstrap,
        east_villagers=east_villagers,
        west_villagers=west_villagers,
    )
    if budget:
        for unit in (0, EAST, WEST):
            world.set_budget(unit, budget)
    return world
