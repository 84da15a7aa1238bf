"""The sync messages' encodings, and what a malformed one raises."""

from __future__ import annotations

import pytest

from node.sync import (
    BATCH_BLOCKS,
    SyncError,
    decode_blocks,
    decode_request,
    decode_status,
    encode_request,
    encode_status,
)


def test_status_round_trips_the_head_number() -> None:
    assert decode_status(encode_status(1234, b"\x01" * 32)) == 1234


def test_request_count_is_capped_at_one_batch() -> None:
    assert decode_request(encode_request(7, 10_000)) == (7, BATCH_BLOCKS)


@pytest.mark.parametrize("payload", [b"", b"\xff\x00", encode_request(1, 2)[:-1]])
def test_malformed_messages_raise_sync_error(payload: bytes) -> None:
    with pytest.raises(SyncError):
        decode_status(payload)
    with pytest.raises(SyncError):
        decode_blocks(payload + b"\x00")
