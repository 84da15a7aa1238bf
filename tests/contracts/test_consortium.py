"""Membership and roles: who grants what, and who may transact."""

from __future__ import annotations

from contracts.catalog import (
    BANK_ROLE,
    REGULATOR_ROLE,
    SHOP_ROLE,
    SOCIAL_WORKER_ROLE,
    TOWN_ADMIN_ROLE,
    VILLAGE_ADMIN_ROLE,
    VILLAGER_ROLE,
    RoleFlag,
    can_transact_calldata,
    decode_can_transact,
)
from tests.contracts.harness import reverts
from tests.contracts.world import EAST, WEST, World


def test_role_ids_match_the_catalog(world: World) -> None:
    c = world.consortium
    assert c.TOWN_ADMIN_ROLE.call() == TOWN_ADMIN_ROLE
    assert c.VILLAGE_ADMIN_ROLE.call() == VILLAGE_ADMIN_ROLE
    assert c.SHOP_ROLE.call() == SHOP_ROLE
    assert c.BANK_ROLE.call() == BANK_ROLE
    assert c.REGULATOR_ROLE.call() == REGULATOR_ROLE
    assert c.SOCIAL_WORKER_ROLE.call() == SOCIAL_WORKER_ROLE
    assert c.VILLAGER_ROLE.call() == VILLAGER_ROLE


def test_deployer_is_the_first_town_admin(world: World) -> None:
    c = world.consortium
    assert c.hasRole.call(TOWN_ADMIN_ROLE, world.town.address)
    assert c.memberOf.call(world.town.address) == (RoleFlag.TOWN_ADMIN, 0)
    assert c.townAdminCount.call() == 1


def test_members_report_roles_and_villages(world: World) -> None:
    c = world.consortium
    assert c.memberOf.call(world.east_admin.address) == (RoleFlag.VILLAGE_ADMIN, EAST)
    assert c.memberOf.call(world.west_shop.address) == (RoleFlag.SHOP, WEST)
    assert c.memberOf.call(world.bank.address) == (RoleFlag.BANK, 0)
    assert c.memberOf.call(world.east_worker.address) == (RoleFlag.SOCIAL_WORKER, EAST)
    assert c.memberOf.call(world.east_villagers[0].address) == (RoleFlag.VILLAGER, EAST)
    assert c.hasRole.call(VILLAGER_ROLE, world.west_villagers[0].address)


def test_can_transact_with_any_role_or_as_bootstrap_account(world: World) -> None:
    c = world.consortium
    holders = [
        world.town,
        world.east_admin,
        world.east_shop,
        world.bank,
        world.regulator,
    ]
    holders += [world.east_worker, world.east_villagers[0]]
    for account in holders:
        assert c.canTransact.call(account.address), account.address
    assert c.canTransact.call(world.bootstrap.address)
    assert not c.canTransact.call(world.outsider.address)
    assert not c.canTransact.call("0x" + "00" * 20)


def test_town_admin_retires_a_bootstrap_account(world: World) -> None:
    c = world.consortium
    with reverts("consortium: caller is not a town admin"):
        c.retireBootstrapAccount.transact(
            world.bootstrap.address, sender=world.bootstrap
        )

    c.retireBootstrapAccount.transact(world.bootstrap.address, sender=world.town)

    assert not c.canTransact.call(world.bootstrap.address)
    with reverts("consortium: not a bootstrap account"):
        c.retireBootstrapAccount.transact(world.bootstrap.address, sender=world.town)


def test_only_town_admin_grants_member_roles(world: World) -> None:
    c = world.consortium
    for caller in (world.east_admin, world.bank, world.outsider, world.bootstrap):
        with reverts("consortium: caller is not a town admin"):
            c.grantMemberRole.transact(
                SHOP_ROLE, world.outsider.address, EAST, sender=caller
            )

    receipt = c.grantMemberRole.transact(
        SHOP_ROLE, world.outsider.address, EAST, sender=world.town
    )

    (granted,) = c.events(receipt, "RoleGranted")
    assert granted["role"] == SHOP_ROLE
    (assigned,) = c.events(receipt, "VillageAssigned")
    assert assigned["village"] == EAST
    assert c.canTransact.call(world.outsider.address)


def test_member_role_grant_rules(world: World) -> None:
    c, town, outsider = world.consortium, world.town, world.outsider.address
    with reverts("consortium: not a member-level role"):
        c.grantMemberRole.transact(VILLAGER_ROLE, outsider, EAST, sender=town)
    with reverts("consortium: not a member-level role"):
        c.grantMemberRole.transact(SOCIAL_WORKER_ROLE, outsider, EAST, sender=town)
    with reverts("consortium: unknown village"):
        c.grantMemberRole.transact(SHOP_ROLE, outsider, 0, sender=town)
    with reverts("consortium: unknown village"):
        c.grantMemberRole.transact(SHOP_ROLE, outsider, 3, sender=town)
    with reverts("consortium: role takes no village"):
        c.grantMemberRole.transact(BANK_ROLE, outsider, EAST, sender=town)
    with reverts("consortium: account already holds the role"):
        c.grantMemberRole.transact(BANK_ROLE, world.bank.address, 0, sender=town)
    with reverts("consortium: a villager holds no other role"):
        c.grantMemberRole.transact(
            SHOP_ROLE, world.east_villagers[0].address, EAST, sender=town
        )
    with reverts("consortium: account belongs to another village"):
        c.grantMemberRole.transact(
            SHOP_ROLE, world.east_admin.address, WEST, sender=town
        )


def test_revoking_a_member_role_ends_its_permission(world: World) -> None:
    c = world.consortium
    with reverts("consortium: caller is not a town admin"):
        c.revokeMemberRole.transact(
            SHOP_ROLE, world.east_shop.address, sender=world.bank
        )

    c.revokeMemberRole.transact(SHOP_ROLE, world.east_shop.address, sender=world.town)

    assert c.memberOf.call(world.east_shop.address) == (0, 0)
    assert not c.canTransact.call(world.east_shop.address)
    with reverts("consortium: account lacks the role"):
        c.revokeMemberRole.transact(
            SHOP_ROLE, world.east_shop.address, sender=world.town
        )


def test_last_town_admin_cannot_be_revoked(world: World) -> None:
    c, town = world.consortium, world.town
    with reverts("consortium: cannot revoke the last town admin"):
        c.revokeMemberRole.transact(TOWN_ADMIN_ROLE, town.address, sender=town)

    c.grantMemberRole.transact(TOWN_ADMIN_ROLE, world.outsider.address, 0, sender=town)
    c.revokeMemberRole.transact(TOWN_ADMIN_ROLE, town.address, sender=world.outsider)

    assert c.townAdminCount.call() == 1
    assert not c.canTransact.call(town.address)


def test_village_admin_registers_villagers_of_its_own_village_only(
    world: World,
) -> None:
    c, newcomer = world.consortium, world.outsider.address
    for caller in (world.west_admin, world.east_worker, world.east_shop, world.bank):
        with reverts("consortium: caller is not an admin of this village"):
            c.registerVillagers.transact([newcomer], EAST, sender=caller)
    with reverts("consortium: unknown village"):
        c.registerVillagers.transact([newcomer], 7, sender=world.east_admin)

    c.registerVillagers.transact([newcomer], EAST, sender=world.east_admin)

    assert c.memberOf.call(newcomer) == (RoleFlag.VILLAGER, EAST)


def test_town_admin_may_register_villagers_anywhere(world: World) -> None:
    world.consortium.registerVillagers.transact(
        [world.outsider.address], WEST, sender=world.town
    )

    assert world.consortium.villageOf.call(world.outsider.address) == WEST


def test_a_villager_holds_no_other_role(world: World) -> None:
    c = world.consortium
    with reverts("consortium: a villager holds no other role"):
        c.registerVillagers.transact(
            [world.east_shop.address], EAST, sender=world.east_admin
        )
    with reverts("consortium: account already holds the role"):
        c.registerVillagers.transact(
            [world.east_villagers[0].address], EAST, sender=world.east_admin
        )
    with reverts("consortium: a villager holds no other role"):
        c.registerSocialWorker.transact(
            world.east_villagers[0].address, EAST, sender=world.east_admin
        )


def test_removing_a_villager_clears_its_village(world: World) -> None:
    c, villager = world.consortium, world.east_villagers[0].address
    with reverts("consortium: caller is not an admin of this village"):
        c.removeVillager.transact(villager, sender=world.west_admin)

    receipt = c.removeVillager.transact(villager, sender=world.east_admin)

    assert c.memberOf.call(villager) == (0, 0)
    assert c.events(receipt, "RoleRevoked")[0]["account"] == villager.lower()
    assert c.events(receipt, "VillageAssigned")[0]["village"] == 0
    with reverts("consortium: not a villager"):
        c.removeVillager.transact(villager, sender=world.east_admin)


def test_social_workers_are_managed_by_their_village_admin(world: World) -> None:
    c = world.consortium
    with reverts("consortium: caller is not an admin of this village"):
        c.registerSocialWorker.transact(
            world.outsider.address, EAST, sender=world.west_admin
        )
    with reverts("consortium: caller is not an admin of this village"):
        c.removeSocialWorker.transact(
            world.east_worker.address, sender=world.west_admin
        )

    c.removeSocialWorker.transact(world.east_worker.address, sender=world.east_admin)

    assert not c.canTransact.call(world.east_worker.address)


def test_only_town_admin_adds_villages(world: World) -> None:
    c = world.consortium
    with reverts("consortium: caller is not a town admin"):
        c.addVillage.transact("North", sender=world.east_admin)
    with reverts("consortium: empty village name"):
        c.addVillage.transact("", sender=world.town)

    receipt = c.addVillage.transact("北村", sender=world.town)

    assert c.events(receipt, "VillageAdded")[0]["village"] == 3
    assert c.villageName.call(3) == "北村"
    assert c.villageExists.call(3) and not c.villageExists.call(4)
    assert not c.villageExists.call(0)


def test_raw_can_transact_call_matches_the_abi(world: World) -> None:
    for account, expected in ((world.bank, True), (world.outsider, False)):
        calldata = can_transact_calldata(account.canonical)
        assert calldata == world.consortium.canTransact.encode(account.address)

        output = world.h.call_raw(world.consortium.canonical, calldata)

        assert decode_can_transact(output) is expected
