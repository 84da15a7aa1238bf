# pragma version ~=0.4.3
"""
@title Consortium: membership and roles
@notice The one place that says who may do what on the ledger. Every other
        contract of the set holds this contract's address as an immutable and
        asks it about the caller before changing anything.

        Roles. Member-level roles (town admin, village admin, shop, bank,
        regulator) are granted and revoked by a town admin only. Villagers and
        social workers are registered by a village admin of their own village
        (or by a town admin). Village admins, shops, social workers and
        villagers belong to exactly one village; town admins, banks and
        regulators belong to none (village 0). A villager account holds no
        other role, so that "points move only from villagers to shops" cannot
        be blurred by an account that is both. Villagers are addresses only:
        no personal data is stored here.

        Storage. The role table is snekmate's `access_control.hasRole`, which
        gives the standard `RoleGranted` / `RoleRevoked` events. Next to it,
        `_roles_of` keeps the same facts as a `Role` flag per account, so that
        other contracts learn an account's roles and village in one call
        (`memberOf`). Both are written only by `_grant` and `_revoke`, which
        update them together. `TOWN_ADMIN_ROLE` is snekmate's
        `DEFAULT_ADMIN_ROLE` (zero), granted to the deployer.

        Transaction permission. The node lets a sender submit transactions
        when `canTransact(sender)` is true: the account holds any role, or it
        is one of the bootstrap accounts fixed at deployment (the genesis
        members' operator accounts). A town admin may retire a bootstrap
        account; none can be added after deployment.
"""

from snekmate.auth import access_control

initializes: access_control

exports: access_control.hasRole


flag Role:
    TOWN_ADMIN
    VILLAGE_ADMIN
    SHOP
    BANK
    REGULATOR
    SOCIAL_WORKER
    VILLAGER


TOWN_ADMIN_ROLE: public(constant(bytes32)) = access_control.DEFAULT_ADMIN_ROLE
VILLAGE_ADMIN_ROLE: public(constant(bytes32)) = keccak256("VILLAGE_ADMIN")
SHOP_ROLE: public(constant(bytes32)) = keccak256("SHOP")
BANK_ROLE: public(constant(bytes32)) = keccak256("BANK")
REGULATOR_ROLE: public(constant(bytes32)) = keccak256("REGULATOR")
SOCIAL_WORKER_ROLE: public(constant(bytes32)) = keccak256("SOCIAL_WORKER")
VILLAGER_ROLE: public(constant(bytes32)) = keccak256("VILLAGER")

_MAX_BOOTSTRAP: constant(uint256) = 64
_MAX_BATCH: constant(uint256) = 500


event VillageAdded:
    village: indexed(uint256)
    name: String[64]
    sender: indexed(address)


event VillageAssigned:
    account: indexed(address)
    village: indexed(uint256)
    sender: indexed(address)


event BootstrapAccountRegistered:
    account: indexed(address)


event BootstrapAccountRetired:
    account: indexed(address)
    sender: indexed(address)


villageCount: public(uint256)
villageName: public(HashMap[uint256, String[64]])
villageOf: public(HashMap[address, uint256])
isBootstrapAccount: public(HashMap[address, bool])
townAdminCount: public(uint256)
_roles_of: HashMap[address, Role]


@deploy
def __init__(bootstrap_accounts: DynArray[address, _MAX_BOOTSTRAP]):
    """
    @notice Makes the deployer the first town admin and registers the
            bootstrap accounts that may transact before holding a role.
    @param bootstrap_accounts Operator accounts of the genesis members.
    """
    access_control.__init__()
    self._roles_of[msg.sender] = Role.TOWN_ADMIN
    self.townAdminCount = 1

    for account: address in bootstrap_accounts:
        assert account != empty(address), "consortium: zero bootstrap account"
        self.isBootstrapAccount[account] = True
        log BootstrapAccountRegistered(account=account)


@external
@view
def canTransact(account: address) -> bool:
    """
    @notice Whether the node should accept transactions from `account`.
    @return True for any holder of a role and for a bootstrap account.
    """
    return self._roles_of[account] != empty(Role) or self.isBootstrapAccount[account]


@external
@view
def memberOf(account: address) -> (Role, uint256):
    """
    @notice The roles `account` holds and the village it belongs to
            (0 for none); one call for the other contracts' checks.
    """
    return self._roles_of[account], self.villageOf[account]


@external
@view
def villageExists(village: uint256) -> bool:
    """
    @notice Whether `village` is a registered village id (ids start at 1).
    """
    return village != 0 and village <= self.villageCount


@external
def addVillage(name: String[64]) -> uint256:
    """
    @notice Registers a village; its id is the next number from 1.
    @dev Rejects a caller that is not a town admin and an empty name.
    @return The new village id.
    """
    self._check_town_admin(msg.sender)
    assert len(name) > 0, "consortium: empty village name"

    village: uint256 = self.villageCount + 1
    self.villageCount = village
    self.villageName[village] = name
    log VillageAdded(village=village, name=name, sender=msg.sender)
    return village


@external
def grantMemberRole(role: bytes32, account: address, village: uint256):
    """
    @notice Grants a member-level role: town admin, village admin, shop,
            bank or regulator.
    @dev Rejects: caller not a town admin; any other role; the zero
         address; an account that already holds the role or is a villager;
         a village admin or shop without an existing village, or in a
         village other than the account's; a village for the other roles.
    """
    self._check_town_admin(msg.sender)
    flag_: Role = self._member_role_flag(role)

    self._check_grantable(flag_, account, village)
    self._grant(role, flag_, account, village)


@external
def revokeMemberRole(role: bytes32, account: address):
    """
    @notice Revokes a member-level role.
    @dev Rejects: caller not a town admin; a non-member role; an account
         without the role; revoking the last town admin.
    """
    self._check_town_admin(msg.sender)
    flag_: Role = self._member_role_flag(role)
    assert flag_ in self._roles_of[account], "consortium: account lacks the role"
    if flag_ == Role.TOWN_ADMIN:
        assert self.townAdminCount > 1, "consortium: cannot revoke the last town admin"

    self._revoke(role, flag_, account)


@external
def registerVillagers(accounts: DynArray[address, _MAX_BATCH], village: uint256):
    """
    @notice Registers villager accounts of `village`.
    @dev Rejects: caller neither a village admin of `village` nor a town
         admin; a village that does not exist; the zero address; an account
         that already holds any role.
    """
    self._check_admin_of_village(msg.sender, village)

    for account: address in accounts:
        self._check_grantable(Role.VILLAGER, account, village)
        self._grant(VILLAGER_ROLE, Role.VILLAGER, account, village)


@external
def removeVillager(account: address):
    """
    @notice Removes a villager. Its points stay where they are; without the
            role it can neither redeem nor be awarded.
    @dev Rejects: an account that is not a villager; caller neither a
         village admin of the villager's village nor a town admin.
    """
    assert Role.VILLAGER in self._roles_of[account], "consortium: not a villager"
    self._check_admin_of_village(msg.sender, self.villageOf[account])

    self._revoke(VILLAGER_ROLE, Role.VILLAGER, account)


@external
def registerSocialWorker(account: address, village: uint256):
    """
    @notice Registers a social worker of `village`, who may check villagers
            of that village in to activities and relay anonymous feedback.
    @dev Rejects as `registerVillagers`, and an account of another village.
    """
    self._check_admin_of_village(msg.sender, village)
    self._check_grantable(Role.SOCIAL_WORKER, account, village)

    self._grant(SOCIAL_WORKER_ROLE, Role.SOCIAL_WORKER, account, village)


@external
def removeSocialWorker(account: address):
    """
    @notice Removes a social worker.
    @dev Rejects an account that is not a social worker, and a caller
         neither a village admin of its village nor a town admin.
    """
    assert Role.SOCIAL_WORKER in self._roles_of[account], "consortium: not a social worker"
    self._check_admin_of_village(msg.sender, self.villageOf[account])

    self._revoke(SOCIAL_WORKER_ROLE, Role.SOCIAL_WORKER, account)


@external
def retireBootstrapAccount(account: address):
    """
    @notice Withdraws a bootstrap account's permission to transact (any
            role it holds still counts).
    @dev Rejects a caller that is not a town admin and an account that is
         not a bootstrap account.
    """
    self._check_town_admin(msg.sender)
    assert self.isBootstrapAccount[account], "consortium: not a bootstrap account"

    self.isBootstrapAccount[account] = False
    log BootstrapAccountRetired(account=account, sender=msg.sender)


@internal
@view
def _check_town_admin(account: address):
    assert Role.TOWN_ADMIN in self._roles_of[account], "consortium: caller is not a town admin"


@internal
@view
def _check_admin_of_village(account: address, village: uint256):
    # A village admin manages its own village's people; a town admin any.
    assert village != 0 and village <= self.villageCount, "consortium: unknown village"
    roles: Role = self._roles_of[account]
    if Role.TOWN_ADMIN in roles:
        return
    assert Role.VILLAGE_ADMIN in roles and self.villageOf[account] == village, (
        "consortium: caller is not an admin of this village"
    )


@internal
@view
def _village_roles() -> Role:
    # Roles whose holders belong to one village (flag constants cannot be
    # combined at compile time).
    return Role.VILLAGE_ADMIN | Role.SHOP | Role.SOCIAL_WORKER | Role.VILLAGER


@internal
@view
def _member_role_flag(role: bytes32) -> Role:
    if role == TOWN_ADMIN_ROLE:
        return Role.TOWN_ADMIN
    if role == VILLAGE_ADMIN_ROLE:
        return Role.VILLAGE_ADMIN
    if role == SHOP_ROLE:
        return Role.SHOP
    if role == BANK_ROLE:
        return Role.BANK
    if role == REGULATOR_ROLE:
        return Role.REGULATOR
    raise "consortium: not a member-level role"


@internal
@view
def _check_grantable(flag_: Role, account: address, village: uint256):
    assert account != empty(address), "consortium: zero account"
    roles: Role = self._roles_of[account]
    assert flag_ not in roles, "consortium: account already holds the role"
    assert Role.VILLAGER not in roles, "consortium: a villager holds no other role"
    if flag_ == Role.VILLAGER:
        assert roles == empty(Role), "consortium: a villager holds no other role"

    if flag_ in self._village_roles():
        assert village != 0 and village <= self.villageCount, "consortium: unknown village"
        current: uint256 = self.villageOf[account]
        assert current == 0 or current == village, "consortium: account belongs to another village"
    else:
        assert village == 0, "consortium: role takes no village"


@internal
def _grant(role: bytes32, flag_: Role, account: address, village: uint256):
    access_control._grant_role(role, account)
    self._roles_of[account] = self._roles_of[account] | flag_
    if flag_ == Role.TOWN_ADMIN:
        self.townAdminCount += 1
    if flag_ in self._village_roles() and self.villageOf[account] != village:
        self.villageOf[account] = village
        log VillageAssigned(account=account, village=village, sender=msg.sender)


@internal
def _revoke(role: bytes32, flag_: Role, account: address):
    access_control._revoke_role(role, account)
    remaining: Role = self._roles_of[account] & ~flag_
    self._roles_of[account] = remaining
    if flag_ == Role.TOWN_ADMIN:
        self.townAdminCount -= 1
    # The village is an attribute of village roles; drop it with the last.
    if remaining & self._village_roles() == empty(Role) and self.villageOf[account] != 0:
        self.villageOf[account] = 0
        log VillageAssigned(account=account, village=0, sender=msg.sender)
