# pragma version ~=0.4.3
"""
@title FeedbackAnchors: proof that a suggestion was received unaltered
@notice Each suggestion sent through "I have something to say" is anchored
        as a hash with its village, the time and the sender's address, or
        the zero address when it was sent anonymously. The text stays off
        chain; the API should hash it with a random salt (for example
        `keccak256(salt ++ utf8(text))`) so a short text cannot be guessed
        from its hash.

        A named suggestion is anchored by the villager's own account
        (`anchorSuggestion`), so nobody can put words in a villager's mouth.
        An anonymous one is relayed by a village admin or social worker of
        the village, or a town admin (`anchorAnonymousSuggestion`), and
        records no sender. A hash is anchored once.

        Wiring. The constructor takes the Consortium address; nothing else
        calls this contract.
"""

import Consortium

CONSORTIUM: public(immutable(Consortium.__interface__))


struct Anchor:
    village: uint256
    anchoredAt: uint256
    sender: address


event SuggestionAnchored:
    suggestionHash: indexed(bytes32)
    village: indexed(uint256)
    sender: indexed(address)
    anchoredAt: uint256


anchors: public(HashMap[bytes32, Anchor])
anchorCount: public(uint256)


@deploy
def __init__(consortium: address):
    """
    @param consortium The Consortium contract.
    """
    assert consortium != empty(address), "feedback: zero consortium"
    CONSORTIUM = Consortium.__interface__(consortium)


@external
def anchorSuggestion(suggestion_hash: bytes32, village: uint256):
    """
    @notice Anchors a named suggestion sent by the calling villager.
    @dev Rejects: caller not a villager of `village`; a zero hash; a hash
         already anchored.
    """
    roles: Consortium.Role = empty(Consortium.Role)
    caller_village: uint256 = 0
    roles, caller_village = staticcall CONSORTIUM.memberOf(msg.sender)
    assert Consortium.Role.VILLAGER in roles and caller_village == village, (
        "feedback: caller is not a villager of this village"
    )

    self._anchor(suggestion_hash, village, msg.sender)


@external
def anchorAnonymousSuggestion(suggestion_hash: bytes32, village: uint256):
    """
    @notice Anchors an anonymous suggestion to `village`; no sender is kept.
    @dev Rejects: caller neither a village admin or social worker of
         `village` nor a town admin; an unknown village; a zero hash; a
         hash already anchored.
    """
    assert staticcall CONSORTIUM.villageExists(village), "feedback: unknown village"
    roles: Consortium.Role = empty(Consortium.Role)
    caller_village: uint256 = 0
    roles, caller_village = staticcall CONSORTIUM.memberOf(msg.sender)
    staff: bool = caller_village == village and (
        Consortium.Role.VILLAGE_ADMIN in roles or Consortium.Role.SOCIAL_WORKER in roles
    )
    assert staff or Consortium.Role.TOWN_ADMIN in roles, "feedback: caller may not relay for this village"

    self._anchor(suggestion_hash, village, empty(address))


@internal
def _anchor(suggestion_hash: bytes32, village: uint256, sender: address):
    assert suggestion_hash != empty(bytes32), "feedback: zero hash"
    assert self.anchors[suggestion_hash].anchoredAt == 0, "feedback: suggestion already anchored"

    self.anchors[suggestion_hash] = Anchor(village=village, anchoredAt=block.timestamp, sender=sender)
    self.anchorCount += 1
    log SuggestionAnchored(
        suggestionHash=suggestion_hash, village=village, sender=sender, anchoredAt=block.timestamp
    )
