# pragma version ~=0.4.3
"""
@title Settlement: shops turn points into cash
@notice A shop requests settlement of points it holds; the points move into
        escrow (this contract's balance in Points). The bank pays the shop in
        cash off chain and confirms here with its own payment reference and
        the amount in fen; the escrowed points are then burned. Until the
        bank confirms, the shop may cancel and get its points back.

        The exchange rate (fen per point) is set by a town admin and recorded
        in each request when it is made; the bank must confirm exactly
        `amount * fenPerPoint` of that request, so anyone can reconcile each
        shop's cash from the events alone. A bank payment reference pays one
        settlement only.

        Wiring. The constructor takes the Consortium and Points addresses;
        Points must name this contract as its settlement contract
        (`Points.wire`), which lets it call `moveToSettlement`,
        `returnFromSettlement` and `burnSettled`.
"""

import Consortium
import Points

CONSORTIUM: public(immutable(Consortium.__interface__))
POINTS: public(immutable(Points.__interface__))

# Request status.
REQUESTED: public(constant(uint8)) = 1
CONFIRMED: public(constant(uint8)) = 2
CANCELLED: public(constant(uint8)) = 3


struct SettlementRequest:
    shop: address
    amount: uint256
    fenPerPoint: uint256
    status: uint8
    requestedAt: uint256
    bank: address
    bankReference: bytes32
    amountFen: uint256
    closedAt: uint256


event ExchangeRateSet:
    fenPerPoint: uint256
    sender: indexed(address)


event SettlementRequested:
    settlementId: indexed(uint256)
    shop: indexed(address)
    amount: uint256
    fenPerPoint: uint256


event SettlementConfirmed:
    settlementId: indexed(uint256)
    shop: indexed(address)
    bank: indexed(address)
    amount: uint256
    amountFen: uint256
    bankReference: bytes32


event SettlementCancelled:
    settlementId: indexed(uint256)
    shop: indexed(address)
    amount: uint256


fenPerPoint: public(uint256)
settlementCount: public(uint256)
settlements: public(HashMap[uint256, SettlementRequest])
pendingPointsOf: public(HashMap[address, uint256])
settledPointsOf: public(HashMap[address, uint256])
bankReferenceUsed: public(HashMap[bytes32, bool])


@deploy
def __init__(consortium: address, points: address):
    """
    @param consortium The Consortium contract.
    @param points The Points contract holding the escrow.
    """
    assert consortium != empty(address) and points != empty(address), "settlement: zero address"
    CONSORTIUM = Consortium.__interface__(consortium)
    POINTS = Points.__interface__(points)


@external
def setExchangeRate(fen_per_point: uint256):
    """
    @notice Sets the fen paid per point for requests made from now on.
    @dev Rejects a caller that is not a town admin and a zero rate.
    """
    assert Consortium.Role.TOWN_ADMIN in self._roles(msg.sender), "settlement: caller is not a town admin"
    assert fen_per_point > 0, "settlement: zero exchange rate"

    self.fenPerPoint = fen_per_point
    log ExchangeRateSet(fenPerPoint=fen_per_point, sender=msg.sender)


@external
def requestSettlement(amount: uint256) -> uint256:
    """
    @notice The calling shop asks to be paid for `amount` of its points,
            which move into escrow.
    @dev Rejects: caller not a shop; a zero amount; no exchange rate set;
         an amount beyond the shop's balance (in Points).
    @return The new settlement id (from 1).
    """
    assert Consortium.Role.SHOP in self._roles(msg.sender), "settlement: caller is not a shop"
    assert amount > 0, "settlement: zero amount"
    rate: uint256 = self.fenPerPoint
    assert rate > 0, "settlement: exchange rate not set"

    settlement_id: uint256 = self.settlementCount + 1
    self.settlementCount = settlement_id
    self.settlements[settlement_id] = SettlementRequest(
        shop=msg.sender,
        amount=amount,
        fenPerPoint=rate,
        status=REQUESTED,
        requestedAt=block.timestamp,
        bank=empty(address),
        bankReference=empty(bytes32),
        amountFen=0,
        closedAt=0,
    )
    self.pendingPointsOf[msg.sender] += amount
    extcall POINTS.moveToSettlement(msg.sender, amount)
    log SettlementRequested(settlementId=settlement_id, shop=msg.sender, amount=amount, fenPerPoint=rate)
    return settlement_id


@external
def confirmSettlement(settlement_id: uint256, bank_reference: bytes32, amount_fen: uint256):
    """
    @notice The bank confirms it paid the shop `amount_fen` under its
            payment reference; the escrowed points are burned.
    @dev Rejects: caller not a bank; a request that does not exist or is
         not pending (confirmed or cancelled); a zero or already used bank
         reference; an amount in fen other than points times the recorded
         rate.
    """
    assert Consortium.Role.BANK in self._roles(msg.sender), "settlement: caller is not a bank"
    request: SettlementRequest = self.settlements[settlement_id]
    assert request.status == REQUESTED, "settlement: request is not pending"
    assert bank_reference != empty(bytes32), "settlement: zero bank reference"
    assert not self.bankReferenceUsed[bank_reference], "settlement: bank reference already used"
    assert amount_fen == request.amount * request.fenPerPoint, "settlement: amount in fen does not match"

    self.bankReferenceUsed[bank_reference] = True
    request.status = CONFIRMED
    request.bank = msg.sender
    request.bankReference = bank_reference
    request.amountFen = amount_fen
    request.closedAt = block.timestamp
    self.settlements[settlement_id] = request
    self.pendingPointsOf[request.shop] -= request.amount
    self.settledPointsOf[request.shop] += request.amount
    extcall POINTS.burnSettled(request.amount)
    log SettlementConfirmed(
        settlementId=settlement_id,
        shop=request.shop,
        bank=msg.sender,
        amount=request.amount,
        amountFen=amount_fen,
        bankReference=bank_reference,
    )


@external
def cancelSettlement(settlement_id: uint256):
    """
    @notice The shop withdraws a pending request; its points come back.
    @dev Rejects: a caller other than the requesting shop; a request that
         does not exist or is not pending.
    """
    request: SettlementRequest = self.settlements[settlement_id]
    assert request.status == REQUESTED, "settlement: request is not pending"
    assert msg.sender == request.shop, "settlement: caller is not the requesting shop"

    self.settlements[settlement_id].status = CANCELLED
    self.settlements[settlement_id].closedAt = block.timestamp
    self.pendingPointsOf[request.shop] -= request.amount
    extcall POINTS.returnFromSettlement(request.shop, request.amount)
    log SettlementCancelled(settlementId=settlement_id, shop=request.shop, amount=request.amount)


@internal
@view
def _roles(account: address) -> Consortium.Role:
    roles: Consortium.Role = empty(Consortium.Role)
    village: uint256 = 0
    roles, village = staticcall CONSORTIUM.memberOf(account)
    return roles
