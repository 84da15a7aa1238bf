"""The header extraData codec against the shared vectors, and the block hash rules."""

from __future__ import annotations

from typing import Any

import pytest
import rlp
from eth_typing import Address
from eth_utils.crypto import keccak

from chain.errors import ExtraDataError
from chain.qbft.extra_data import (
    QbftExtraData,
    ValidatorVote,
    decode_extra_data,
    encode_extra_data,
    encode_extra_data_for_committed_seal,
    encode_extra_data_for_on_chain_hash,
)
from tests.chain.qbft.conftest import hex_bytes, load_qbft_vectors

EXTRA_DATA_VECTOR_NAMES = [
    "fully_populated_qbft_extra_data_with_add_vote",
    "fully_populated_qbft_extra_data_with_drop_vote",
    "qbft_extra_data_with_null_vote_and_empty_lists",
    "qbft_extra_data_with_drop_vote_and_empty_lists",
]


@pytest.fixture(scope="module")
def extra_data_vectors() -> dict[str, Any]:
    return load_qbft_vectors("bft_extra_data.json")


def test_every_extra_data_vector_is_covered(extra_data_vectors: dict[str, Any]) -> None:
    assert sorted(extra_data_vectors) == sorted(EXTRA_DATA_VECTOR_NAMES)


@pytest.mark.parametrize("name", EXTRA_DATA_VECTOR_NAMES)
def test_extra_data_vector_decodes_to_its_fields_and_reencodes_byte_equal(
    extra_data_vectors: dict[str, Any], name: str
) -> None:
    vector = extra_data_vectors[name]
    expected = vector["qbft_extra_data"]
    encoded = hex_bytes(vector["rlp"])

    extra = decode_extra_data(encoded)

    assert extra.vanity == hex_bytes(expected["vanityData"])
    assert extra.validators == tuple(hex_bytes(v) for v in expected["validators"])
    assert extra.round == expected["round"]
    assert extra.committed_seals == tuple(hex_bytes(s) for s in expected["seals"])
    if expected["vote"] is None:
        assert extra.vote is None
    else:
        assert extra.vote == ValidatorVote(
            recipient=Address(hex_bytes(expected["vote"]["recipient"])),
            add=expected["vote"]["voteType"] == "0xff",
        )
    assert encode_extra_data(extra) == encoded


@pytest.mark.parametrize(
    ("encoded", "field"),
    [
        (b"\x01\x02", "not valid RLP"),
        (rlp.encode(b"\x05"), "list of five"),
        (rlp.encode([b"\x00" * 31, [], b"", b"\x00" * 4, []]), "vanity"),
        (rlp.encode([b"\x00" * 32, [b"\x01"], b"", b"\x00" * 4, []]), "validators"),
        (rlp.encode([b"\x00" * 32, [], b"", b"", []]), "round"),
        (
            rlp.encode([b"\x00" * 32, [], [b"\x01" * 20, b"\x07"], b"\x00" * 4, []]),
            "vote",
        ),
        (rlp.encode([b"\x00" * 32, [], b"", b"\x00" * 4, [b"\x01"]]), "seals"),
    ],
)
def test_decode_rejects_malformed_extra_data_naming_the_field(
    encoded: bytes, field: str
) -> None:
    with pytest.raises(ExtraDataError, match=field):
        decode_extra_data(encoded)


# The block inside messages.json and the digest its PREPARE names. The block's own
# extraData is written the way current Besu writes it (vote [] and round as a
# scalar); the digest is over the vector-style encoding used everywhere else.
def _vector_block_header(messages: dict[str, Any]) -> list[Any]:
    proposal = messages["proposal_empty_prepares_and_roundChanges"]["message"]
    block = rlp.decode(
        hex_bytes(proposal["signedProposal"]["unsignedProposal"]["block"])
    )
    header: list[Any] = block[0]
    return header


def test_digest_in_message_vectors_is_the_committed_seal_hash_of_their_block() -> None:
    messages = load_qbft_vectors("messages.json")
    header = _vector_block_header(messages)
    vanity, validators, vote, round_bytes, seals = rlp.decode(header[12])
    assert (vote, round_bytes, seals) == ([], b"", [])
    extra = QbftExtraData(
        vanity=vanity, validators=tuple(Address(v) for v in validators), round=0
    )

    header[12] = encode_extra_data_for_committed_seal(extra)

    digest = messages["prepare"]["message"]["unsignedPrepare"]["digest"]
    assert keccak(rlp.encode(header)) == hex_bytes(digest)


def test_committed_seal_in_message_vectors_signs_the_digest() -> None:
    from chain.qbft.signing import recover_signer

    messages = load_qbft_vectors("messages.json")
    commit = messages["commit"]["message"]["unsignedCommit"]
    header = _vector_block_header(messages)

    signer = recover_signer(
        hex_bytes(commit["commitSeal"]), hex_bytes(commit["digest"])
    )

    # The block's coinbase and only validator made the seal.
    assert signer == header[2]


# Consensys qbft-tests, BftBlockHeaderHashTests/bft_block_headers_data.json
# (Apache-2.0): a header and the two hashes Besu computed for it. Not among the
# shared vectors; kept here because it pins which extraData fields each hash drops.
HEADER_HASH_VECTOR = {
    "parentHash": "0xa7762d3307dbf2ae6a1ae1b09cf61c7603722b2379731b6b90409cdb8c8288a0",
    "ommersHash": "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347",
    "coinbase": "0x0000000000000000000000000000000000000000",
    "stateRoot": "0xca07595b82f908822971b7e848398e3395e59ee52565c7ef3603df1a1fa7bc80",
    "transactionsRoot": (
        "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"
    ),
    "receiptsRoot": (
        "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"
    ),
    "difficulty": 1,
    "number": 1,
    "gasLimit": 4704588,
    "gasUsed": 0,
    "timestamp": 1530674616,
    "extraData": (
        "0xf90178a0000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1fea94"
        "0000000000000000000000000000000000000001940000000000000000000000000000000000"
        "000002d794000000000000000000000000000000000000000381ff8400fedcbaf9010cb8412d"
        "98a30d2844aa05b4fcf3abcd333e195d4ad365726a7b9a5bc19744dcec0ad42d129ad2890b86"
        "c32a969a9b511d8c1c846f7eb694455bb29b7365ab260a188100b8416e65e1097c802f12fe12"
        "048871f228fc394fb005cbf5c55225adbff7e82c94d352fc83967effa3a777a9d50e677108b7"
        "32258c7ef6e1a3e8fc34919b90e0f34e00b841b8462060df24936c7da7413fbf8ac706775d06"
        "ba052831075fd2059458ca91e971f35a7a90ec5225328fe25d6dec51de3a2d71e81a581ceb98"
        "acdafd5bcd12f801b841be1cb71a2525013ae8ac676505597229265960b4d34654dc88249d1b"
        "c7e07a324f44b16542adad19bddade1785ac9687b656cbf64685a2e6e6b4f04d9aad23cd00"
    ),
    "mixHash": "0x63746963616c2062797a616e74696e65206661756c7420746f6c6572616e6365",
    "nonce": 0,
    "on_chain_hash": (
        "0x8d8736980278155e486cf0543c0a53cd3a3c961c3b976c6a4ac7dc5310dad88d"
    ),
    "committed_seal_hash": (
        "0xb1d26d018658f2556a2c3f0080596055cb0d05bcab91397f8ae8f01ea831559c"
    ),
}


def _header_hash_with_extra_data(extra_data: bytes) -> bytes:
    vector = HEADER_HASH_VECTOR
    fields: list[Any] = [
        hex_bytes(str(vector[name]))
        for name in (
            "parentHash",
            "ommersHash",
            "coinbase",
            "stateRoot",
            "transactionsRoot",
            "receiptsRoot",
        )
    ]
    fields.append(b"\x00" * 256)  # logsBloom
    fields += [vector[name] for name in ("difficulty", "number", "gasLimit")]
    fields += [vector["gasUsed"], vector["timestamp"], extra_data]
    fields += [hex_bytes(str(vector["mixHash"])), b"\x00" * 8]  # nonce, 8 bytes
    return keccak(rlp.encode(fields))


def test_header_vector_extra_data_round_trips() -> None:
    encoded = hex_bytes(str(HEADER_HASH_VECTOR["extraData"]))

    assert encode_extra_data(decode_extra_data(encoded)) == encoded


def test_committed_seal_hash_drops_only_the_seal_list() -> None:
    extra = decode_extra_data(hex_bytes(str(HEADER_HASH_VECTOR["extraData"])))

    digest = _header_hash_with_extra_data(encode_extra_data_for_committed_seal(extra))

    assert digest == hex_bytes(str(HEADER_HASH_VECTOR["committed_seal_hash"]))


def test_on_chain_hash_drops_round_and_seals() -> None:
    extra = decode_extra_data(hex_bytes(str(HEADER_HASH_VECTOR["extraData"])))

    block_hash = _header_hash_with_extra_data(
        encode_extra_data_for_on_chain_hash(extra)
    )

    assert block_hash == hex_bytes(str(HEADER_HASH_VECTOR["on_chain_hash"]))


def test_an_empty_seal_list_does_not_give_the_committed_seal_hash() -> None:
    extra = decode_extra_data(hex_bytes(str(HEADER_HASH_VECTOR["extraData"])))

    digest = _header_hash_with_extra_data(encode_extra_data(extra.without_seals()))

    assert digest != hex_bytes(str(HEADER_HASH_VECTOR["committed_seal_hash"]))
