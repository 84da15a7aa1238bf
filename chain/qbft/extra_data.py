"""The QBFT header ``extraData``: vanity, validators, vote, round, committed seals.

The layout is Besu's and GoQuorum's, pinned by ``shared/vectors/qbft``::

    RLP([vanity(32 bytes), [validator, ...], vote, round(4 bytes), [seal, ...]])

where ``vote`` is the empty string when absent, else ``[recipient, 0xff | 0x00]``
(0xff adds the recipient to the validator set, 0x00 drops it), ``round`` is a
four-byte big-endian integer, and each committed seal is a 65-byte recoverable
secp256k1 signature ``r || s || v`` with ``v`` in {0, 1}.

Hashing a header drops fields from the end of this list rather than emptying
them: the block digest that consensus messages name and committed seals sign
uses ``RLP([vanity, validators, vote, round])``, and Besu's on-chain hash uses
``RLP([vanity, validators, vote])`` (see ``encode_extra_data_for_committed_seal``
and ``encode_extra_data_for_on_chain_hash``). Current Besu writes an absent vote
as ``[]``, a drop vote as ``0x80`` and the round as a minimal scalar, and empties
the seal list instead of dropping it; the vectors, and so this codec, follow the
earlier layout above, and the two do not interoperate.

Errors::

    ExtraDataError (chain.errors.ChainError)
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import rlp
from eth_typing import Address

from chain.errors import ExtraDataError

VANITY_LENGTH = 32
SEAL_LENGTH = 65
ROUND_LENGTH = 4
VOTE_ADD = 0xFF
VOTE_DROP = 0x00


@dataclass(frozen=True)
class ValidatorVote:
    """A proposer's vote, carried in a header, to add or drop one validator."""

    recipient: Address
    add: bool


@dataclass(frozen=True)
class QbftExtraData:
    """The decoded ``extraData`` of a QBFT block header."""

    vanity: bytes = b"\x00" * VANITY_LENGTH
    validators: tuple[Address, ...] = ()
    vote: ValidatorVote | None = None
    round: int = 0
    committed_seals: tuple[bytes, ...] = field(default=())

    def without_seals(self) -> QbftExtraData:
        """Return this extra data with an empty seal list, as block hashing uses."""
        return replace(self, committed_seals=())

    def with_seals(self, seals: tuple[bytes, ...]) -> QbftExtraData:
        """Return this extra data carrying ``seals`` as its committed seals."""
        return replace(self, committed_seals=tuple(seals))


def encode_extra_data(extra: QbftExtraData) -> bytes:
    """Encode ``extra`` to the RLP bytes that go in a header's ``extraData``.

    Rejects a vanity that is not 32 bytes, a validator that is not 20 bytes, a
    round outside four unsigned bytes and a seal that is not 65 bytes.
    """
    vanity, validators, vote, round_bytes, seals = _checked_items(extra)
    return bytes(rlp.encode([vanity, validators, vote, round_bytes, seals]))


def encode_extra_data_for_committed_seal(extra: QbftExtraData) -> bytes:
    """Encode ``extra`` as the block digest sees it: the committed seals left out.

    keccak256 of the header RLP with these bytes as ``extraData`` is the digest
    that PREPARE and COMMIT name and that every committed seal signs. The seal
    list is dropped, not emptied: ``RLP([vanity, validators, vote, round])``.
    Under that rule the digest in ``shared/vectors/qbft/messages.json`` is the
    hash of the block in the same file, and Consensys' qbft-tests header vector
    gives its ``committed_seal_hash``. Rejects what ``encode_extra_data`` rejects.
    """
    vanity, validators, vote, round_bytes, _ = _checked_items(extra)
    return bytes(rlp.encode([vanity, validators, vote, round_bytes]))


def encode_extra_data_for_on_chain_hash(extra: QbftExtraData) -> bytes:
    """Encode ``extra`` as Besu's on-chain block hash sees it: round and seals left out.

    ``RLP([vanity, validators, vote])``; with it the qbft-tests header vector
    gives its ``on_chain_hash``, which stays the same whichever round the block
    was committed in. Rejects what ``encode_extra_data`` rejects.
    """
    vanity, validators, vote, _, _ = _checked_items(extra)
    return bytes(rlp.encode([vanity, validators, vote]))


def _checked_items(
    extra: QbftExtraData,
) -> tuple[bytes, list[bytes], bytes | list[bytes], bytes, list[bytes]]:
    if len(extra.vanity) != VANITY_LENGTH:
        raise ExtraDataError(
            f"vanity must be {VANITY_LENGTH} bytes, got {len(extra.vanity)}"
        )
    for validator in extra.validators:
        if len(validator) != 20:
            raise ExtraDataError(
                f"validator address must be 20 bytes, got {len(validator)}"
            )
    if not 0 <= extra.round < 2 ** (8 * ROUND_LENGTH):
        raise ExtraDataError(
            f"round {extra.round} does not fit in {ROUND_LENGTH} bytes"
        )
    for seal in extra.committed_seals:
        if len(seal) != SEAL_LENGTH:
            raise ExtraDataError(
                f"committed seal must be {SEAL_LENGTH} bytes, got {len(seal)}"
            )

    # An absent vote is the empty string and a drop vote the single byte 0x00,
    # as the vectors have them (current Besu writes [] and 0x80 instead).
    vote: bytes | list[bytes] = b""
    if extra.vote is not None:
        vote_type = VOTE_ADD if extra.vote.add else VOTE_DROP
        vote = [bytes(extra.vote.recipient), bytes([vote_type])]
    return (
        extra.vanity,
        [bytes(validator) for validator in extra.validators],
        vote,
        extra.round.to_bytes(ROUND_LENGTH, "big"),
        list(extra.committed_seals),
    )


def decode_extra_data(encoded: bytes) -> QbftExtraData:
    """Decode a header's ``extraData`` into its QBFT fields.

    Rejects bytes that are not RLP, a list that does not have five items, and any
    field of the wrong shape; the error names the field.
    """
    try:
        items = rlp.decode(encoded)
    except rlp.exceptions.DecodingError as error:
        raise ExtraDataError(f"extraData is not valid RLP: {error}") from None
    if not isinstance(items, list) or len(items) != 5:
        raise ExtraDataError("extraData must be an RLP list of five items")
    vanity, validators, vote, round_bytes, seals = items

    if not isinstance(vanity, bytes) or len(vanity) != VANITY_LENGTH:
        raise ExtraDataError(f"extraData vanity must be {VANITY_LENGTH} bytes")
    if not isinstance(validators, list) or not all(
        isinstance(v, bytes) and len(v) == 20 for v in validators
    ):
        raise ExtraDataError("extraData validators must be a list of 20-byte addresses")
    if not isinstance(round_bytes, bytes) or len(round_bytes) != ROUND_LENGTH:
        raise ExtraDataError(f"extraData round must be {ROUND_LENGTH} bytes")
    if not isinstance(seals, list) or not all(
        isinstance(s, bytes) and len(s) == SEAL_LENGTH for s in seals
    ):
        raise ExtraDataError(
            f"extraData seals must be a list of {SEAL_LENGTH}-byte signatures"
        )

    return QbftExtraData(
        vanity=vanity,
        validators=tuple(Address(v) for v in validators),
        vote=_decode_vote(vote),
        round=int.from_bytes(round_bytes, "big"),
        committed_seals=tuple(seals),
    )


def _decode_vote(vote: object) -> ValidatorVote | None:
    if vote == b"":
        return None
    if (
        not isinstance(vote, list)
        or len(vote) != 2
        or not isinstance(vote[0], bytes)
        or len(vote[0]) != 20
        or vote[1] not in (bytes([VOTE_ADD]), bytes([VOTE_DROP]))
    ):
        raise ExtraDataError("extraData vote must be empty or [address, 0xff|0x00]")
    return ValidatorVote(recipient=Address(vote[0]), add=vote[1] == bytes([VOTE_ADD]))
