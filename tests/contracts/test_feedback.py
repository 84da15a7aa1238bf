"""Feedback anchors: named by the villager, anonymous through village staff."""

from __future__ import annotations

from tests.contracts.harness import reverts
from tests.contracts.world import EAST, WEST, World

SUGGESTION = b"\x5a" * 32
ZERO_ADDRESS = "0x" + "00" * 20


def test_villager_anchors_a_named_suggestion(world: World) -> None:
    villager = world.east_villagers[0]

    receipt = world.feedback.anchorSuggestion.transact(
        SUGGESTION, EAST, sender=villager
    )

    village, anchored_at, sender = world.feedback.anchors.call(SUGGESTION)
    assert (village, sender) == (EAST, villager.address.lower())
    assert anchored_at == world.h.chain.get_canonical_head().timestamp
    (event,) = world.feedback.events(receipt, "SuggestionAnchored")
    assert (
        event["suggestionHash"] == SUGGESTION
        and event["sender"] == villager.address.lower()
    )


def test_named_suggestion_only_to_the_villagers_own_village(world: World) -> None:
    with reverts("feedback: caller is not a villager of this village"):
        world.feedback.anchorSuggestion.transact(
            SUGGESTION, WEST, sender=world.east_villagers[0]
        )
    for caller in (world.east_worker, world.east_admin, world.outsider):
        with reverts("feedback: caller is not a villager of this village"):
            world.feedback.anchorSuggestion.transact(SUGGESTION, EAST, sender=caller)


def test_staff_relays_an_anonymous_suggestion_without_sender(world: World) -> None:
    for index, relay in enumerate((world.east_worker, world.east_admin, world.town)):
        digest = bytes([index + 1]) * 32
        world.feedback.anchorAnonymousSuggestion.transact(digest, EAST, sender=relay)
        assert world.feedback.anchors.call(digest)[2] == ZERO_ADDRESS
    assert world.feedback.anchorCount.call() == 3


def test_anonymous_relay_rules(world: World) -> None:
    for caller in (
        world.west_worker,
        world.west_admin,
        world.east_villagers[0],
        world.bank,
    ):
        with reverts("feedback: caller may not relay for this village"):
            world.feedback.anchorAnonymousSuggestion.transact(
                SUGGESTION, EAST, sender=caller
            )
    with reverts("feedback: unknown village"):
        world.feedback.anchorAnonymousSuggestion.transact(
            SUGGESTION, 9, sender=world.town
        )


def test_a_suggestion_is_anchored_once(world: World) -> None:
    villager = world.east_villagers[0]
    world.feedback.anchorSuggestion.transact(SUGGESTION, EAST, sender=villager)

    with reverts("feedback: suggestion already anchored"):
        world.feedback.anchorSuggestion.transact(
            SUGGESTION, EAST, sender=world.east_villagers[1]
        )
    with reverts("feedback: suggestion already anchored"):
        world.feedback.anchorAnonymousSuggestion.transact(
            SUGGESTION, EAST, sender=world.east_worker
        )
    with reverts("feedback: zero hash"):
        world.feedback.anchorSuggestion.transact(bytes(32), EAST, sender=villager)
