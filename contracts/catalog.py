"""Names and numbers shared by the contracts and their Python callers.

Role ids are the ``bytes32`` values the Consortium contract uses;
``RoleFlag`` is the bit set that ``Consortium.memberOf`` returns;
``Category`` numbers are Activities' categories. Each must match its
contract; the tests compare them with the deployed contracts.
"""

from __future__ import annotations

import enum

from eth_utils import keccak

TOWN_ADMIN_ROLE = bytes(32)  # snekmate's DEFAULT_ADMIN_ROLE
VILLAGE_ADMIN_ROLE = keccak(text="VILLAGE_ADMIN")
SHOP_ROLE = keccak(text="SHOP")
BANK_ROLE = keccak(text="BANK")
REGULATOR_ROLE = keccak(text="REGULATOR")
SOCIAL_WORKER_ROLE = keccak(text="SOCIAL_WORKER")
VILLAGER_ROLE = keccak(text="VILLAGER")

# Member-level roles by the names used in genesis and bootstrap member lists.
MEMBER_ROLES: dict[str, bytes] = {
    "town": TOWN_ADMIN_ROLE,
    "village": VILLAGE_ADMIN_ROLE,
    "shop": SHOP_ROLE,
    "bank": BANK_ROLE,
    "regulator": REGULATOR_ROLE,
}
# Member roles that belong to one village.
VILLAGE_MEMBER_ROLES = frozenset({"village", "shop"})


class RoleFlag(enum.IntFlag):
    """The bits of ``Consortium.memberOf``'s first result."""

    TOWN_ADMIN = 1
    VILLAGE_ADMIN = 2
    SHOP = 4
    BANK = 8
    REGULATOR = 16
    SOCIAL_WORKER = 32
    VILLAGER = 64


class Category(enum.IntEnum):
    """Activity categories; READING and VIDEO are daily tasks."""

    CIVIC_CLASS = 0
    SAFETY_CLASS = 1
    WORTHY_TALK = 2
    HOUSEHOLD_SAFETY = 3
    VOLUNTEER_SERVICE = 4
    FARM_LABOUR = 5
    PUBLIC_AFFAIRS = 6
    CULTURE_AND_SPORT = 7
    HONOURS = 8
    READING = 9
    VIDEO = 10

    @property
    def is_daily_task(self) -> bool:
        """Whether a villager may take part once a day rather than once."""
        return self >= Category.READING


# `Consortium.canTransact(address) -> bool`, for a node that asks the
# contract directly with a message call instead of through web3.py.
CAN_TRANSACT_SELECTOR = keccak(text="canTransact(address)")[:4]


def can_transact_calldata(account: bytes) -> bytes:
    """Calldata of ``canTransact(account)`` for a 20-byte ``account``.

    Rejects an account that is not 20 bytes.
    """
    if len(account) != 20:
        raise ValueError(f"an account is 20 bytes, got {len(account)}")
    return CAN_TRANSACT_SELECTOR + bytes(12) + account


def decode_can_transact(output: bytes) -> bool:
    """The result of ``canTransact``: True only for a 32-byte ABI ``true``."""
    return output == (1).to_bytes(32, "big")


# China Standard Time: the contracts count days and periods from local
# midnight.
TIME_ZONE_OFFSET = 8 * 3600
SECONDS_PER_DAY = 86_400


def day_of(timestamp: int) -> int:
    """The contracts' day number for a Unix ``timestamp``."""
    return (timestamp + TIME_ZONE_OFFSET) // SECONDS_PER_DAY


def period_of(timestamp: int, period_seconds: int) -> int:
    """The Points contract's budget period for a Unix ``timestamp``."""
    return (timestamp + TIME_ZONE_OFFSET) // period_seconds
