"""Stateful property tests of the money flow.

Random sequences of budgets, town grants, activity awards, redemptions,
settlement requests, confirmations, cancellations and the passing of time
run against the contracts and a plain Python model. After every step:
total supply equals minted minus burned, no unit has minted beyond its
budget, every balance matches the model (so none is negative), and the sum
of all balances equals the supply.
"""

from __future__ import annotations

from collections import defaultdict

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from tests.contracts.harness import Account, Reverted
from tests.contracts.world import DAY, EAST, FEN_PER_POINT, WEST, World, build_world

UNITS = (0, EAST, WEST)


class MoneyFlow(RuleBasedStateMachine):
    """The contracts and a model of balances, budgets and escrow."""

    world: World

    @initialize()
    def deploy(self) -> None:
        self.world = build_world(villagers_per_village=3, budget=0)
        self.balances: dict[str, int] = defaultdict(int)
        self.budget: dict[tuple[int, int], int] = defaultdict(int)
        self.minted: dict[tuple[int, int], int] = defaultdict(int)
        self.total_minted = 0
        self.total_burned = 0
        self.pending: dict[int, tuple[Account, int]] = {}
        self.reference = 0
        self.bank_reference = 0
        self.touched_periods: set[int] = set()

    # -- helpers ---------------------------------------------------------

    def villagers(self, unit: int) -> list[Account]:
        w = self.world
        if unit == EAST:
            return w.east_villagers
        if unit == WEST:
            return w.west_villagers
        return w.east_villagers + w.west_villagers

    def expect(self, allowed: bool, action: object) -> bool:
        """Run ``action``; it must succeed exactly when the model allows it."""
        try:
            action()  # type: ignore[operator]
        except Reverted as error:
            assert not allowed, f"model allowed it, contract said {error.reason}"
            return False
        assert allowed, "contract allowed what the model forbids"
        return True

    def mint(self, unit: int, recipients: list[Account], amount: int) -> None:
        period = self.world.period()
        self.minted[(unit, period)] += amount * len(recipients)
        self.total_minted += amount * len(recipients)
        for account in recipients:
            self.balances[account.address] += amount

    # -- rules -----------------------------------------------------------

    @rule(unit=st.sampled_from(UNITS), amount=st.integers(0, 400))
    def set_budget(self, unit: int, amount: int) -> None:
        period = self.world.period()
        self.touched_periods.add(period)
        allowed = amount >= self.minted[(unit, period)]
        if self.expect(allowed, lambda: self.world.set_budget(unit, amount)):
            self.budget[(unit, period)] = amount

    @rule(index=st.integers(0, 5), amount=st.integers(0, 150))
    def grant(self, index: int, amount: int) -> None:
        w = self.world
        villager = self.villagers(0)[index]
        period = w.period()
        allowed = (
            amount > 0 and self.minted[(0, period)] + amount <= self.budget[(0, period)]
        )
        if self.expect(
            allowed,
            lambda: w.points.grant.transact(
                villager.address, amount, b"\x01" * 32, sender=w.town
            ),
        ):
            self.mint(0, [villager], amount)

    @rule(
        unit=st.sampled_from(UNITS),
        picks=st.sets(st.integers(0, 5), min_size=1, max_size=6),
        points=st.integers(1, 60),
    )
    def award(self, unit: int, picks: set[int], points: int) -> None:
        w = self.world
        pool = self.villagers(unit)
        recipients = [pool[i % len(pool)] for i in sorted(picks)]
        recipients = list({a.address: a for a in recipients}.values())
        activity_id = w.publish(unit, points=points, daily_cap=10_000)
        admin = w.town if unit == 0 else w.admin_of(unit)
        addresses = [a.address for a in recipients]
        w.activities.checkInBatch.transact(activity_id, addresses, sender=admin)
        period = w.period()
        total = points * len(recipients)
        allowed = self.minted[(unit, period)] + total <= self.budget[(unit, period)]
        if self.expect(
            allowed,
            lambda: w.activities.approveParticipants.transact(
                activity_id, 0, addresses, sender=admin
            ),
        ):
            self.mint(unit, recipients, points)

    @rule(index=st.integers(0, 5), west_shop=st.booleans(), amount=st.integers(0, 120))
    def redeem(self, index: int, west_shop: bool, amount: int) -> None:
        w = self.world
        villager = self.villagers(0)[index]
        shop = w.west_shop if west_shop else w.east_shop
        self.reference += 1
        reference = self.reference.to_bytes(32, "big")
        allowed = 0 < amount <= self.balances[villager.address]
        if self.expect(
            allowed,
            lambda: w.points.redeem.transact(
                shop.address, amount, reference, sender=villager
            ),
        ):
            self.balances[villager.address] -= amount
            self.balances[shop.address] += amount

    @rule(west_shop=st.booleans(), amount=st.integers(0, 200))
    def request_settlement(self, west_shop: bool, amount: int) -> None:
        w = self.world
        shop = w.west_shop if west_shop else w.east_shop
        allowed = 0 < amount <= self.balances[shop.address]
        outcome: list[int] = []

        def act() -> None:
            receipt = w.settlement.requestSettlement.transact(amount, sender=shop)
            event = w.settlement.events(receipt, "SettlementRequested")[0]
            outcome.append(event["settlementId"])

        if self.expect(allowed, act):
            self.balances[shop.address] -= amount
            self.balances[w.settlement.address] += amount
            self.pending[outcome[0]] = (shop, amount)

    @rule(data=st.data())
    def confirm_settlement(self, data: st.DataObject) -> None:
        if not self.pending:
            return
        w = self.world
        settlement_id = data.draw(st.sampled_from(sorted(self.pending)))
        shop, amount = self.pending.pop(settlement_id)
        self.bank_reference += 1
        w.settlement.confirmSettlement.transact(
            settlement_id,
            self.bank_reference.to_bytes(32, "big"),
            amount * FEN_PER_POINT,
            sender=w.bank,
        )
        self.balances[w.settlement.address] -= amount
        self.total_burned += amount

    @rule(data=st.data())
    def cancel_settlement(self, data: st.DataObject) -> None:
        if not self.pending:
            return
        w = self.world
        settlement_id = data.draw(st.sampled_from(sorted(self.pending)))
        shop, amount = self.pending.pop(settlement_id)
        w.settlement.cancelSettlement.transact(settlement_id, sender=shop)
        self.balances[w.settlement.address] -= amount
        self.balances[shop.address] += amount

    @rule(days=st.integers(1, 40))
    def pass_time(self, days: int) -> None:
        self.world.h.advance(days * DAY)

    # -- invariants ------------------------------------------------------

    @invariant()
    def supply_is_minted_minus_burned(self) -> None:
        p = self.world.points
        supply = p.totalSupply.call()
        assert p.totalMinted.call() == self.total_minted
        assert p.totalBurned.call() == self.total_burned
        assert supply == self.total_minted - self.total_burned

    @invariant()
    def no_unit_beyond_its_budget(self) -> None:
        p = self.world.points
        for period in self.touched_periods | {self.world.period()}:
            for unit in UNITS:
                minted = p.mintedIn.call(unit, period)
                assert minted == self.minted[(unit, period)]
                assert minted <= p.budgetOf.call(unit, period)

    @invariant()
    def balances_match_and_sum_to_supply(self) -> None:
        w = self.world
        holders = [a.address for a in [*self.villagers(0), w.east_shop, w.west_shop]]
        holders.append(w.settlement.address)
        balances = {h: w.points.balanceOf.call(h) for h in holders}
        for address, balance in balances.items():
            assert balance == self.balances[address] >= 0
        assert sum(balances.values()) == w.points.totalSupply.call()


TestMoneyFlow = MoneyFlow.TestCase
TestMoneyFlow.settings = settings(
    max_examples=25,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
