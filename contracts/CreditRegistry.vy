# pragma version ~=0.4.3
"""
@title CreditRegistry: per-epoch score commitments and presentation checks
@notice Each epoch the town publishes one Merkle root over salted hash-chain
        commitments to every villager's credit score, with a version, an
        expiry, the leaf count, the rulebook hash and the publisher. A
        successful appeal publishes a new version of the same epoch with the
        hash of the appeal decision; only the newest version verifies. Only a
        town admin publishes.

        Encoding (contracts/presentation.py is the reference in Python):

        - Hash chain. The holder's wallet keeps a random 32-byte `seed`;
          `H(x) = keccak256(x)` over 32 bytes. For score `S` the committed
          tip is `H^(S+1)(seed)`. To show `score >= T` the holder reveals
          `node = H^(S+1-T)(seed)`; the verifier hashes it `T` times and must
          reach the tip. Without the seed nobody can go backwards, so a node
          for a higher `T` cannot be made; the seed itself is never revealed.
        - Leaf. `keccak256(keccak256(abi.encode(address holder, bytes32
          tip)))`, the OpenZeppelin StandardMerkleTree leaf for
          `["address", "bytes32"]`; the double hash keeps a 64-byte inner
          node from passing as a leaf.
        - Tree. Pairs are hashed sorted, `keccak256(min(a, b) ++ max(a, b))`
          (snekmate `merkle_proof_verification`), so a proof is just the
          sibling list from leaf to root. Leaves are shuffled before the
          tree is built.
        - Signature. EIP-712 typed data, domain `{name: "Gongfen Credit
          Registry", version: "1", chainId, verifyingContract: this}`, type
          `Presentation(address bank,bytes32 nonce,uint256 threshold,uint256
          epoch,uint256 version,uint256 expiry)`, signed by the holder's key;
          65 bytes `r ++ s ++ v` with `v` in {27, 28} and low `s`.

        Nonces. A view call cannot remember anything, so freshness is the
        bank's: it draws a fresh random nonce for every request and passes it
        as `expected_nonce`. A presentation carrying any other nonce -- one
        it accepted before included -- fails with NONCE_MISMATCH, which is
        how a reused nonce is rejected.

        `checkPresentation` returns the first rule that fails, in this
        order: THRESHOLD_TOO_HIGH, WRONG_BANK, NOT_A_BANK, NONCE_MISMATCH,
        PRESENTATION_EXPIRED, UNKNOWN_COMMITMENT, SUPERSEDED_VERSION,
        COMMITMENT_EXPIRED, BAD_SIGNATURE, NOT_IN_TREE; VALID (0) if none.
        Expiries are inclusive: valid while `block.timestamp <= expiry`.
"""

from snekmate.utils import eip712_domain_separator
from snekmate.utils import merkle_proof_verification

import Consortium

initializes: eip712_domain_separator

exports: eip712_domain_separator.eip712Domain

MAX_THRESHOLD: public(constant(uint256)) = 1000
MAX_PROOF_DEPTH: public(constant(uint256)) = 32

PRESENTATION_TYPEHASH: public(constant(bytes32)) = keccak256(
    "Presentation(address bank,bytes32 nonce,uint256 threshold,uint256 epoch,uint256 version,uint256 expiry)"
)

# secp256k1 n / 2: a larger `s` is the malleable twin of a valid signature.
_MALLEABILITY_THRESHOLD: constant(uint256) = (
    57896044618658097711785492504343953926418782139537452191302581570759080747168
)

# Results of `checkPresentation`.
VALID: public(constant(uint8)) = 0
THRESHOLD_TOO_HIGH: public(constant(uint8)) = 1
WRONG_BANK: public(constant(uint8)) = 2
NOT_A_BANK: public(constant(uint8)) = 3
NONCE_MISMATCH: public(constant(uint8)) = 4
PRESENTATION_EXPIRED: public(constant(uint8)) = 5
UNKNOWN_COMMITMENT: public(constant(uint8)) = 6
SUPERSEDED_VERSION: public(constant(uint8)) = 7
COMMITMENT_EXPIRED: public(constant(uint8)) = 8
BAD_SIGNATURE: public(constant(uint8)) = 9
NOT_IN_TREE: public(constant(uint8)) = 10

CONSORTIUM: public(immutable(Consortium.__interface__))


struct Commitment:
    root: bytes32
    validUntil: uint256
    leafCount: uint256
    rulebookHash: bytes32
    publisher: address
    appealDecisionHash: bytes32
    publishedAt: uint256


struct Presentation:
    holder: address
    bank: address
    nonce: bytes32
    threshold: uint256
    epoch: uint256
    version: uint256
    expiry: uint256
    node: bytes32
    proof: DynArray[bytes32, MAX_PROOF_DEPTH]
    signature: Bytes[65]


event RootPublished:
    epoch: indexed(uint256)
    version: indexed(uint256)
    root: bytes32
    validUntil: uint256
    leafCount: uint256
    rulebookHash: bytes32
    appealDecisionHash: bytes32
    publisher: indexed(address)


latestEpoch: public(uint256)
currentVersion: public(HashMap[uint256, uint256])
commitments: public(HashMap[uint256, HashMap[uint256, Commitment]])


@deploy
def __init__(consortium: address):
    """
    @param consortium The Consortium contract, asked who is a town admin
           and who is a bank.
    """
    assert consortium != empty(address), "credit registry: zero consortium"
    CONSORTIUM = Consortium.__interface__(consortium)
    eip712_domain_separator.__init__("Gongfen Credit Registry", "1")


@external
def publishRoot(
    epoch: uint256,
    root: bytes32,
    valid_until: uint256,
    leaf_count: uint256,
    rulebook_hash: bytes32,
    appeal_decision_hash: bytes32,
):
    """
    @notice Publishes the next version of `epoch`'s commitment; it
            supersedes every earlier version of that epoch.
    @dev Rejects: caller not a town admin; a zero root or rulebook hash;
         no leaves; an expiry not in the future; an appeal decision hash on
         the first version, or none on a later one.
    """
    roles: Consortium.Role = empty(Consortium.Role)
    village: uint256 = 0
    roles, village = staticcall CONSORTIUM.memberOf(msg.sender)
    assert Consortium.Role.TOWN_ADMIN in roles, "credit registry: caller is not a town admin"
    assert root != empty(bytes32), "credit registry: zero root"
    assert rulebook_hash != empty(bytes32), "credit registry: zero rulebook hash"
    assert leaf_count > 0, "credit registry: no leaves"
    assert valid_until > block.timestamp, "credit registry: expiry not in the future"
    version: uint256 = self.currentVersion[epoch] + 1
    if version == 1:
        assert appeal_decision_hash == empty(bytes32), "credit registry: first version has no appeal"
    else:
        assert appeal_decision_hash != empty(bytes32), "credit registry: new version needs an appeal decision"

    self.currentVersion[epoch] = version
    self.commitments[epoch][version] = Commitment(
        root=root,
        validUntil=valid_until,
        leafCount=leaf_count,
        rulebookHash=rulebook_hash,
        publisher=msg.sender,
        appealDecisionHash=appeal_decision_hash,
        publishedAt=block.timestamp,
    )
    if epoch > self.latestEpoch:
        self.latestEpoch = epoch
    log RootPublished(
        epoch=epoch,
        version=version,
        root=root,
        validUntil=valid_until,
        leafCount=leaf_count,
        rulebookHash=rulebook_hash,
        appealDecisionHash=appeal_decision_hash,
        publisher=msg.sender,
    )


@external
@view
def currentCommitment(epoch: uint256) -> Commitment:
    """
    @notice The newest commitment of `epoch` (all zero if none).
    """
    return self.commitments[epoch][self.currentVersion[epoch]]


@external
@view
def presentationDigest(p: Presentation) -> bytes32:
    """
    @notice The EIP-712 digest the holder signs for `p`.
    """
    return self._digest(p)


@external
@view
def checkPresentation(p: Presentation, bank: address, expected_nonce: bytes32) -> uint8:
    """
    @notice Checks that `p.holder`'s committed score is at least
            `p.threshold`, for `bank` and its fresh `expected_nonce`.
    @return VALID (0), or the code of the first failing rule (see the
            module notes for the order).
    """
    return self._check(p, bank, expected_nonce)


@external
@view
def verifyPresentation(p: Presentation, bank: address, expected_nonce: bytes32) -> bool:
    """
    @notice `checkPresentation(...) == VALID`.
    """
    return self._check(p, bank, expected_nonce) == VALID


@internal
@view
def _check(p: Presentation, bank: address, expected_nonce: bytes32) -> uint8:
    if p.threshold > MAX_THRESHOLD:
        return THRESHOLD_TOO_HIGH
    if p.bank != bank:
        return WRONG_BANK
    roles: Consortium.Role = empty(Consortium.Role)
    village: uint256 = 0
    roles, village = staticcall CONSORTIUM.memberOf(bank)
    if Consortium.Role.BANK not in roles:
        return NOT_A_BANK
    if p.nonce != expected_nonce:
        return NONCE_MISMATCH
    if block.timestamp > p.expiry:
        return PRESENTATION_EXPIRED

    current: uint256 = self.currentVersion[p.epoch]
    if current == 0 or p.version == 0 or p.version > current:
        return UNKNOWN_COMMITMENT
    if p.version < current:
        return SUPERSEDED_VERSION
    commitment: Commitment = self.commitments[p.epoch][current]
    if block.timestamp > commitment.validUntil:
        return COMMITMENT_EXPIRED

    signer: address = self._recover(self._digest(p), p.signature)
    if signer == empty(address) or signer != p.holder:
        return BAD_SIGNATURE

    tip: bytes32 = p.node
    for _: uint256 in range(p.threshold, bound=MAX_THRESHOLD):
        tip = keccak256(tip)
    leaf: bytes32 = keccak256(keccak256(abi_encode(p.holder, tip)))
    if not merkle_proof_verification._verify(p.proof, commitment.root, leaf):
        return NOT_IN_TREE
    return VALID


@internal
@view
def _digest(p: Presentation) -> bytes32:
    struct_hash: bytes32 = keccak256(
        abi_encode(PRESENTATION_TYPEHASH, p.bank, p.nonce, p.threshold, p.epoch, p.version, p.expiry)
    )
    return eip712_domain_separator._hash_typed_data_v4(struct_hash)


@internal
@pure
def _recover(digest: bytes32, signature: Bytes[65]) -> address:
    # Like snekmate's ecdsa, but returns the zero address instead of
    # reverting, so a bad signature is a result code and not an error.
    if len(signature) != 65:
        return empty(address)
    r: uint256 = extract32(signature, 0, output_type=uint256)
    s: uint256 = extract32(signature, 32, output_type=uint256)
    v: uint256 = convert(slice(signature, 64, 1), uint256)
    if s > _MALLEABILITY_THRESHOLD or (v != 27 and v != 28):
        return empty(address)
    return ecrecover(digest, v, r, s)
