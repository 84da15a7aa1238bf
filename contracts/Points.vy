# pragma version ~=0.4.3
"""
@title Points (gongfen): the work-point token
@notice A token with the ERC-20 read interface (`name`, `symbol`,
        `decimals` = 0, `totalSupply`, `balanceOf`, `allowance`) and the
        ERC-20 `Transfer` event, so wallets and explorers show it, but with
        no free transfers. Points move only along the money flow:

        - minted to a villager by an approved activity award (only the wired
          Activities contract may call `mintAwards`) or by a town grant
          (`grant`), always within the issuing unit's budget for the current
          period;
        - from a villager to a registered shop (`redeem`), under a payment
          reference that can be used once;
        - from a shop into settlement escrow, back on cancellation, and burned
          on the bank's confirmation (only the wired Settlement contract may
          call those three).

        `transfer`, `transferFrom` and `approve` exist so that ERC-20 clients
        get a clear reason instead of a bare revert; they always revert.

        Units and periods. A unit is a village id, or 0 for the town itself
        (town activities and town grants draw on the town's budget). A period
        is `(block.timestamp + 8 h) // PERIOD_SECONDS`, counted in China
        Standard Time so that periods start at local midnight. The town admin
        sets `budgetOf[unit][period]` for the current or a later period, never
        below what the unit already minted in it.

        Wiring. The deployer passes the Consortium address to the constructor;
        a town admin then calls `wire(activities, settlement)` once. After
        that nobody can change who mints or burns.

        Snekmate's `erc20` module is not used: its constructor makes the
        deployer a minter and it carries transfer, approve and permit paths
        that the no-free-transfer rule forbids; only its interface and events
        are standard here (`ethereum.ercs.IERC20`).

        Invariants (checked by the property tests): `totalSupply ==
        totalMinted - totalBurned`; `mintedIn[u][p] <= budgetOf[u][p]`; the
        sum of all balances equals `totalSupply`.
"""

from ethereum.ercs import IERC20

import Consortium

implements: IERC20

name: public(constant(String[25])) = "Gongfen Work Points"
symbol: public(constant(String[5])) = "GFP"
decimals: public(constant(uint8)) = 0

# China Standard Time, so that days and periods turn over at local midnight.
TIME_ZONE_OFFSET: public(constant(uint256)) = 8 * 3600
MAX_BATCH: public(constant(uint256)) = 500

CONSORTIUM: public(immutable(Consortium.__interface__))
PERIOD_SECONDS: public(immutable(uint256))


event BudgetSet:
    unit: indexed(uint256)
    period: indexed(uint256)
    amount: uint256
    sender: indexed(address)


event Granted:
    villager: indexed(address)
    amount: uint256
    reason: bytes32
    sender: indexed(address)


event Redeemed:
    villager: indexed(address)
    shop: indexed(address)
    amount: uint256
    paymentReference: indexed(bytes32)


event Wired:
    activities: address
    settlement: address
    sender: indexed(address)


totalSupply: public(uint256)
totalMinted: public(uint256)
totalBurned: public(uint256)
balanceOf: public(HashMap[address, uint256])
budgetOf: public(HashMap[uint256, HashMap[uint256, uint256]])
mintedIn: public(HashMap[uint256, HashMap[uint256, uint256]])
paymentReferenceUsed: public(HashMap[bytes32, bool])
activities: public(address)
settlement: public(address)


@deploy
def __init__(consortium: address, period_seconds: uint256):
    """
    @param consortium The Consortium contract.
    @param period_seconds Length of a budget period, a whole number of days.
    """
    assert consortium != empty(address), "points: zero consortium"
    assert period_seconds >= 86400 and period_seconds % 86400 == 0, (
        "points: period must be a whole number of days"
    )
    CONSORTIUM = Consortium.__interface__(consortium)
    PERIOD_SECONDS = period_seconds


@external
def wire(activities: address, settlement: address):
    """
    @notice Fixes, once, the contracts that may mint and settle.
    @dev Rejects a caller that is not a town admin, zero addresses and a
         second call.
    """
    assert Consortium.Role.TOWN_ADMIN in self._roles(msg.sender), "points: caller is not a town admin"
    assert self.activities == empty(address), "points: already wired"
    assert activities != empty(address) and settlement != empty(address), (
        "points: zero address"
    )

    self.activities = activities
    self.settlement = settlement
    log Wired(activities=activities, settlement=settlement, sender=msg.sender)


@external
@view
def currentPeriod() -> uint256:
    """
    @notice The budget period that minting now draws on.
    """
    return self._current_period()


@external
@view
def allowance(owner: address, spender: address) -> uint256:
    """
    @notice Always 0: points cannot be approved for spending.
    """
    return 0


@external
def transfer(receiver: address, amount: uint256) -> bool:
    """
    @notice Always reverts: points move only through `redeem`.
    """
    raise "points: free transfers are disabled; a villager pays a shop with redeem"


@external
def transferFrom(sender: address, receiver: address, amount: uint256) -> bool:
    """
    @notice Always reverts: points move only through `redeem`.
    """
    raise "points: free transfers are disabled; a villager pays a shop with redeem"


@external
def approve(spender: address, amount: uint256) -> bool:
    """
    @notice Always reverts: there are no allowances.
    """
    raise "points: approvals are disabled"


@external
def setBudget(unit: uint256, period: uint256, amount: uint256):
    """
    @notice Sets how many points `unit` (a village, or 0 for the town) may
            mint in `period`.
    @dev Rejects: caller not a town admin; an unknown village; a period
         already over; an amount below what the unit minted in the period.
    """
    assert Consortium.Role.TOWN_ADMIN in self._roles(msg.sender), "points: caller is not a town admin"
    assert unit == 0 or staticcall CONSORTIUM.villageExists(unit), "points: unknown village"
    assert period >= self._current_period(), "points: period is over"
    assert amount >= self.mintedIn[unit][period], "points: budget below points already minted"

    self.budgetOf[unit][period] = amount
    log BudgetSet(unit=unit, period=period, amount=amount, sender=msg.sender)


@external
def grant(villager: address, amount: uint256, reason: bytes32):
    """
    @notice A town-level grant: mints `amount` to `villager` from the town's
            (unit 0) budget for the current period.
    @dev Rejects: caller not a town admin; a recipient that is not a
         villager; a zero amount; an amount beyond the remaining budget.
    """
    assert Consortium.Role.TOWN_ADMIN in self._roles(msg.sender), "points: caller is not a town admin"
    assert Consortium.Role.VILLAGER in self._roles(villager), "points: recipient is not a villager"
    assert amount > 0, "points: zero amount"

    self._draw_budget(0, amount)
    self._add_supply(amount)
    self._credit_minted(villager, amount)
    log Granted(villager=villager, amount=amount, reason=reason, sender=msg.sender)


@external
def mintAwards(unit: uint256, villagers: DynArray[address, MAX_BATCH], amount: uint256):
    """
    @notice Mints `amount` to each of `villagers` from `unit`'s budget for
            the current period. The Activities contract has already checked
            participation and daily caps.
    @dev Rejects a caller other than the wired Activities contract, and a
         total beyond the remaining budget.
    """
    assert msg.sender == self.activities and msg.sender != empty(address), (
        "points: caller is not the activities contract"
    )

    total: uint256 = amount * len(villagers)
    self._draw_budget(unit, total)
    self._add_supply(total)
    for villager: address in villagers:
        self._credit_minted(villager, amount)


@external
def redeem(shop: address, amount: uint256, payment_reference: bytes32):
    """
    @notice A villager pays `shop` `amount` points; `payment_reference` is
            the shop's unique reference for this payment.
    @dev Rejects: caller not a villager; a receiver that is not a shop
         (another villager included); a zero amount; a zero or already used
         reference; an amount beyond the villager's balance.
    """
    assert Consortium.Role.VILLAGER in self._roles(msg.sender), "points: caller is not a villager"
    assert Consortium.Role.SHOP in self._roles(shop), "points: receiver is not a shop"
    assert amount > 0, "points: zero amount"
    assert payment_reference != empty(bytes32), "points: zero payment reference"
    assert not self.paymentReferenceUsed[payment_reference], "points: payment reference already used"

    self.paymentReferenceUsed[payment_reference] = True
    self._move(msg.sender, shop, amount)
    log Redeemed(villager=msg.sender, shop=shop, amount=amount, paymentReference=payment_reference)


@external
def moveToSettlement(shop: address, amount: uint256):
    """
    @notice Moves a shop's points into settlement escrow (the Settlement
            contract's balance).
    @dev Rejects a caller other than the wired Settlement contract and an
         amount beyond the shop's balance.
    """
    self._check_settlement_caller()
    self._move(shop, msg.sender, amount)


@external
def returnFromSettlement(shop: address, amount: uint256):
    """
    @notice Returns escrowed points to a shop when a request is cancelled.
    @dev Rejects a caller other than the wired Settlement contract.
    """
    self._check_settlement_caller()
    self._move(msg.sender, shop, amount)


@external
def burnSettled(amount: uint256):
    """
    @notice Burns escrowed points whose settlement the bank confirmed.
    @dev Rejects a caller other than the wired Settlement contract and an
         amount beyond the escrow.
    """
    self._check_settlement_caller()
    balance: uint256 = self.balanceOf[msg.sender]
    assert balance >= amount, "points: burn exceeds escrow"

    self.balanceOf[msg.sender] = balance - amount
    self.totalSupply -= amount
    self.totalBurned += amount
    log IERC20.Transfer(sender=msg.sender, receiver=empty(address), value=amount)


@internal
@view
def _current_period() -> uint256:
    return (block.timestamp + TIME_ZONE_OFFSET) // PERIOD_SECONDS


@internal
@view
def _roles(account: address) -> Consortium.Role:
    roles: Consortium.Role = empty(Consortium.Role)
    village: uint256 = 0
    roles, village = staticcall CONSORTIUM.memberOf(account)
    return roles


@internal
@view
def _check_settlement_caller():
    assert msg.sender == self.settlement and msg.sender != empty(address), (
        "points: caller is not the settlement contract"
    )


@internal
def _draw_budget(unit: uint256, amount: uint256):
    period: uint256 = self._current_period()
    minted: uint256 = self.mintedIn[unit][period] + amount
    assert minted <= self.budgetOf[unit][period], "points: over budget"
    self.mintedIn[unit][period] = minted


@internal
def _add_supply(amount: uint256):
    self.totalSupply += amount
    self.totalMinted += amount


@internal
def _credit_minted(villager: address, amount: uint256):
    # The supply was raised once for the whole batch by `_add_supply`.
    self.balanceOf[villager] += amount
    log IERC20.Transfer(sender=empty(address), receiver=villager, value=amount)


@internal
def _move(sender: address, receiver: address, amount: uint256):
    balance: uint256 = self.balanceOf[sender]
    assert balance >= amount, "points: amount exceeds balance"
    self.balanceOf[sender] = balance - amount
    self.balanceOf[receiver] += amount
    log IERC20.Transfer(sender=sender, receiver=receiver, value=amount)
