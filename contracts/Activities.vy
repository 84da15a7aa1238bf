# pragma version ~=0.4.3
"""
@title Activities: publishing, check-in and batch approval
@notice The only way points are earned from the village programme.

        An activity has an issuing unit (a village, or 0 for the town), the
        account that published it, a category, points per participation, a
        capacity, a time window `[startsAt, endsAt]` for check-in, and a
        per-villager daily cap for its category (the most points one villager
        may earn in that category on one day, counting every activity of the
        category). Village activities are open to that village's villagers;
        town activities to every villager.

        Categories 0-8 are one-off programme activities: a villager takes part
        once per activity and the capacity counts participants. Categories 9
        (reading) and 10 (video) are daily tasks: a villager may take part once
        a day, and the capacity counts participants per day. The "slot" of a
        participation is its day for daily tasks and 0 otherwise.

        Check-in (`checkIn`, `checkInBatch`) is made by the villager, by a
        social worker or village admin of the villager's village, or by an
        admin of the issuing unit, while the window is open. Approval
        (`approveParticipants`) is made by an admin of the issuing unit, in
        batches of up to `MAX_BATCH`; it is all-or-nothing, so a batch with
        one participant over the daily cap or not checked in reverts with the
        rule that failed, and the caller can pre-filter with `approvalStatus`.
        Daily caps count the day of the check-in, not of the approval.

        Wiring. The constructor takes the Consortium and Points addresses;
        Points must list this contract as its minter (`Points.wire`). Each
        approval calls `Points.mintAwards` once for the whole batch, which
        draws on the issuing unit's budget for the current period.
"""

import Consortium
import Points

MAX_BATCH: public(constant(uint256)) = 500
MAX_CAPACITY: public(constant(uint256)) = 1 << 64
CATEGORY_COUNT: public(constant(uint8)) = 11
# Categories at or above this are daily tasks (reading, video).
FIRST_DAILY_CATEGORY: public(constant(uint8)) = 9
# China Standard Time, as in Points, so a day turns over at local midnight.
TIME_ZONE_OFFSET: public(constant(uint256)) = 8 * 3600

# Participation record: (check-in index << 128) | (day of check-in << 2) | 1,
# written once at check-in. Approval sets bit `index` of the slot's approval
# bitmap instead of rewriting the record: 256 approvals share one storage
# word, which saves one SSTORE per award (py-evm's costliest step).
_CHECKED_IN: constant(uint256) = 1
_APPROVED: constant(uint256) = 2
_INDEX_SHIFT: constant(uint256) = 128
_DAY_MASK: constant(uint256) = (1 << 126) - 1

# Results of `approvalStatus`.
APPROVABLE: public(constant(uint8)) = 0
NOT_CHECKED_IN: public(constant(uint8)) = 1
ALREADY_APPROVED: public(constant(uint8)) = 2
OVER_DAILY_CAP: public(constant(uint8)) = 3

CONSORTIUM: public(immutable(Consortium.__interface__))
POINTS: public(immutable(Points.__interface__))


struct Activity:
    issuer: address
    unit: uint256
    category: uint8
    points: uint256
    capacity: uint256
    startsAt: uint256
    endsAt: uint256
    dailyCap: uint256


event ActivityPublished:
    activityId: indexed(uint256)
    unit: indexed(uint256)
    issuer: indexed(address)
    category: uint8
    points: uint256
    capacity: uint256
    startsAt: uint256
    endsAt: uint256
    dailyCap: uint256


event CheckedIn:
    activityId: indexed(uint256)
    villager: indexed(address)
    day: uint256
    sender: indexed(address)


# One per approval; each award's points arrive as the ERC-20 `Transfer` from
# the zero address that Points emits in the same transaction, in batch order.
event ParticipantsApproved:
    activityId: indexed(uint256)
    slot: indexed(uint256)
    count: uint256
    points: uint256


activityCount: public(uint256)
activities: public(HashMap[uint256, Activity])
# activity id -> slot -> participants checked in
participantCount: public(HashMap[uint256, HashMap[uint256, uint256]])
# villager -> category -> day -> points awarded
earnedOn: public(HashMap[address, HashMap[uint8, HashMap[uint256, uint256]]])
# activity id -> slot -> villager -> record
_participation: HashMap[uint256, HashMap[uint256, HashMap[address, uint256]]]
# activity id -> slot -> word -> approval bits by check-in index
_approved: HashMap[uint256, HashMap[uint256, HashMap[uint256, uint256]]]


@deploy
def __init__(consortium: address, points: address):
    """
    @param consortium The Consortium contract.
    @param points The Points contract, which mints the awards.
    """
    assert consortium != empty(address) and points != empty(address), "activities: zero address"
    CONSORTIUM = Consortium.__interface__(consortium)
    POINTS = Points.__interface__(points)


@external
@view
def today() -> uint256:
    """
    @notice The current day number (days since 1970-01-01, China time).
    """
    return self._today()


@external
@view
def participationOf(activity_id: uint256, slot: uint256, villager: address) -> (uint256, uint256):
    """
    @notice A villager's participation in an activity slot.
    @return (status, day): status 0 none, 1 checked in, 2 approved; the
            day of the check-in.
    """
    record: uint256 = self._participation[activity_id][slot][villager]
    if record == 0:
        return 0, 0
    if self._is_approved(activity_id, slot, record):
        return _APPROVED, (record >> 2) & _DAY_MASK
    return _CHECKED_IN, (record >> 2) & _DAY_MASK


@external
@view
def approvalStatus(activity_id: uint256, slot: uint256, villager: address) -> uint8:
    """
    @notice Whether approving `villager` now would pass the per-participant
            rules: APPROVABLE (0), NOT_CHECKED_IN (1), ALREADY_APPROVED (2) or
            OVER_DAILY_CAP (3). Budget and caller are not considered.
    """
    activity: Activity = self.activities[activity_id]
    record: uint256 = self._participation[activity_id][slot][villager]
    if record == 0:
        return NOT_CHECKED_IN
    if self._is_approved(activity_id, slot, record):
        return ALREADY_APPROVED
    day: uint256 = (record >> 2) & _DAY_MASK
    if self.earnedOn[villager][activity.category][day] + activity.points > activity.dailyCap:
        return OVER_DAILY_CAP
    return APPROVABLE


@external
def publishActivity(
    unit: uint256,
    category: uint8,
    points: uint256,
    capacity: uint256,
    starts_at: uint256,
    ends_at: uint256,
    daily_cap: uint256,
) -> uint256:
    """
    @notice Publishes an activity of `unit` (a village id, or 0 for the town).
    @dev Rejects: caller not an admin of `unit` (a town admin for 0, a
         village admin of that village otherwise); an unknown category;
         zero points; a capacity of zero or above `MAX_CAPACITY`; a window
         that is empty or already over; a daily cap below the points of one
         participation.
    @return The new activity id (from 1).
    """
    self._check_unit_admin(msg.sender, unit)
    assert category < CATEGORY_COUNT, "activities: unknown category"
    assert points > 0, "activities: zero points"
    assert capacity > 0, "activities: zero capacity"
    # Check-in indexes share the participation record with the day.
    assert capacity <= MAX_CAPACITY, "activities: capacity too large"
    assert starts_at < ends_at, "activities: empty time window"
    assert ends_at > block.timestamp, "activities: time window already over"
    assert daily_cap >= points, "activities: daily cap below points per participation"

    activity_id: uint256 = self.activityCount + 1
    self.activityCount = activity_id
    self.activities[activity_id] = Activity(
        issuer=msg.sender,
        unit=unit,
        category=category,
        points=points,
        capacity=capacity,
        startsAt=starts_at,
        endsAt=ends_at,
        dailyCap=daily_cap,
    )
    log ActivityPublished(
        activityId=activity_id,
        unit=unit,
        issuer=msg.sender,
        category=category,
        points=points,
        capacity=capacity,
        startsAt=starts_at,
        endsAt=ends_at,
        dailyCap=daily_cap,
    )
    return activity_id


@external
def checkIn(activity_id: uint256, villager: address):
    """
    @notice Records that `villager` takes part in the activity now.
    @dev Rejects: an unknown activity; outside the time window; a
         participant that is not a villager, or of another village for a
         village activity; a caller that is neither the villager, nor a
         social worker or village admin of its village, nor an admin of the
         issuing unit; a second check-in in the same slot; a full activity.
    """
    activity: Activity = self._load_activity(activity_id)
    caller_roles: Consortium.Role = empty(Consortium.Role)
    caller_village: uint256 = 0
    caller_roles, caller_village = staticcall CONSORTIUM.memberOf(msg.sender)

    self._check_in(activity_id, activity, villager, caller_roles, caller_village)


@external
def checkInBatch(activity_id: uint256, villagers: DynArray[address, MAX_BATCH]):
    """
    @notice `checkIn` for many villagers at once (a social worker scanning
            points cards); all-or-nothing.
    @dev Rejects as `checkIn`, for each villager.
    """
    activity: Activity = self._load_activity(activity_id)
    caller_roles: Consortium.Role = empty(Consortium.Role)
    caller_village: uint256 = 0
    caller_roles, caller_village = staticcall CONSORTIUM.memberOf(msg.sender)

    for villager: address in villagers:
        self._check_in(activity_id, activity, villager, caller_roles, caller_village)


@external
def approveParticipants(activity_id: uint256, slot: uint256, villagers: DynArray[address, MAX_BATCH]):
    """
    @notice Approves checked-in participants and mints their points.
    @param slot The day of participation for a daily task; 0 otherwise.
    @dev Rejects (the whole batch): an unknown activity; caller not an
         admin of the issuing unit; an empty batch; a non-zero slot for a
         one-off activity; a participant not checked in in this slot or
         already approved (a duplicate in the batch included); a
         participant whose points in the category on the day of check-in
         would exceed the daily cap; a total beyond the unit's budget for
         the current period (in Points).
    """
    activity: Activity = self._load_activity(activity_id)
    self._check_unit_admin(msg.sender, activity.unit)
    assert len(villagers) > 0, "activities: empty batch"
    assert slot == 0 or activity.category >= FIRST_DAILY_CATEGORY, (
        "activities: one-off activities use slot 0"
    )

    # The bitmap word in use is kept in memory and written back when the
    # batch moves to another word, and once at the end.
    word: uint256 = max_value(uint256)
    bits: uint256 = 0
    for villager: address in villagers:
        record: uint256 = self._participation[activity_id][slot][villager]
        assert record != 0, "activities: participant not checked in"
        index: uint256 = record >> _INDEX_SHIFT
        if index >> 8 != word:
            if word != max_value(uint256):
                self._approved[activity_id][slot][word] = bits
            word = index >> 8
            bits = self._approved[activity_id][slot][word]
        bit: uint256 = 1 << (index & 255)
        assert bits & bit == 0, "activities: participant already approved"
        bits |= bit
        day: uint256 = (record >> 2) & _DAY_MASK
        earned: uint256 = self.earnedOn[villager][activity.category][day] + activity.points
        assert earned <= activity.dailyCap, "activities: over the daily cap for the category"

        self.earnedOn[villager][activity.category][day] = earned

    self._approved[activity_id][slot][word] = bits
    log ParticipantsApproved(
        activityId=activity_id, slot=slot, count=len(villagers), points=activity.points
    )
    extcall POINTS.mintAwards(activity.unit, villagers, activity.points)


@internal
@view
def _is_approved(activity_id: uint256, slot: uint256, record: uint256) -> bool:
    index: uint256 = record >> _INDEX_SHIFT
    return (self._approved[activity_id][slot][index >> 8] >> (index & 255)) & 1 == 1


@internal
@view
def _today() -> uint256:
    return (block.timestamp + TIME_ZONE_OFFSET) // 86400


@internal
@view
def _load_activity(activity_id: uint256) -> Activity:
    activity: Activity = self.activities[activity_id]
    assert activity.issuer != empty(address), "activities: unknown activity"
    return activity


@internal
@view
def _check_unit_admin(account: address, unit: uint256):
    roles: Consortium.Role = empty(Consortium.Role)
    village: uint256 = 0
    roles, village = staticcall CONSORTIUM.memberOf(account)
    assert self._is_unit_admin(roles, village, unit), "activities: caller is not an admin of the issuing unit"


@internal
@view
def _is_unit_admin(roles: Consortium.Role, village: uint256, unit: uint256) -> bool:
    # The town's admins administer unit 0; a village admin only its village.
    if unit == 0:
        return Consortium.Role.TOWN_ADMIN in roles
    return Consortium.Role.VILLAGE_ADMIN in roles and village == unit


@internal
def _check_in(
    activity_id: uint256,
    activity: Activity,
    villager: address,
    caller_roles: Consortium.Role,
    caller_village: uint256,
):
    assert activity.startsAt <= block.timestamp, "activities: activity has not started"
    assert block.timestamp <= activity.endsAt, "activities: activity has ended"

    roles: Consortium.Role = empty(Consortium.Role)
    village: uint256 = 0
    roles, village = staticcall CONSORTIUM.memberOf(villager)
    assert Consortium.Role.VILLAGER in roles, "activities: participant is not a villager"
    assert activity.unit == 0 or activity.unit == village, "activities: activity is for another village"

    if msg.sender != villager:
        staff: bool = caller_village == village and (
            Consortium.Role.SOCIAL_WORKER in caller_roles or Consortium.Role.VILLAGE_ADMIN in caller_roles
        )
        assert staff or self._is_unit_admin(caller_roles, caller_village, activity.unit), (
            "activities: caller may not check this villager in"
        )

    day: uint256 = self._today()
    slot: uint256 = 0
    if activity.category >= FIRST_DAILY_CATEGORY:
        slot = day
    assert self._participation[activity_id][slot][villager] == 0, "activities: already checked in"
    count: uint256 = self.participantCount[activity_id][slot]
    assert count < activity.capacity, "activities: activity is full"

    self.participantCount[activity_id][slot] = count + 1
    self._participation[activity_id][slot][villager] = (
        (count << _INDEX_SHIFT) | (day << 2) | _CHECKED_IN
    )
    log CheckedIn(activityId=activity_id, villager=villager, day=day, sender=msg.sender)
