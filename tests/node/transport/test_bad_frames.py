"""A member that sends a bad frame loses its connection; everyone else carries on."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from node.transport.frames import LENGTH_PREFIX
from tests.node.transport.support import (
    FAST,
    RELIABLE,
    make_consortium,
    open_member_stream,
    read_until_closed,
    run,
    stopped,
    wait_until,
)

BAD_FRAMES = {
    "oversized": LENGTH_PREFIX.pack(FAST.max_frame_size + 1),
    "zero length": LENGTH_PREFIX.pack(0),
    "reserved kind": LENGTH_PREFIX.pack(5) + b"\x07junk",
    "undeclared kind": LENGTH_PREFIX.pack(5) + b"\xc8junk",
    "second hello": LENGTH_PREFIX.pack(2) + b"\x00\x01",
    "garbage": b"\xff\xfe\xfd\xfc\xfb\xfa garbage that is not a frame",
}


@pytest.mark.parametrize("name", BAD_FRAMES)
def test_bad_frame_drops_that_connection_only(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, name: str
) -> None:
    # The shop is a real member speaking by hand; bank and town are networks.
    consortium = make_consortium(tmp_path, ["bank", "shop", "town"])

    async def scenario() -> None:
        bank, town = consortium.network("bank"), consortium.network("town")
        await bank.start()
        await town.start()
        await town.wait_for_peers(["bank"])
        try:
            reader, writer = await open_member_stream(consortium, "shop", "town")
            await wait_until(lambda: "shop" in town.connected_peers())

            writer.write(BAD_FRAMES[name])
            await writer.drain()
            await read_until_closed(reader)
            writer.close()

            await wait_until(lambda: "shop" not in town.connected_peers())
            assert town.counters().malformed_frames == 1
            await bank.send("town", RELIABLE, b"still serving")
            assert (await town.receive()).payload == b"still serving"
            assert town.connected_peers() == {"bank"}
        finally:
            await stopped(bank, town)

    run(scenario())

    bad = [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and "bad frame" in r.getMessage()
    ]
    assert len(bad) == 1
    assert bad[0].startswith("dropping member shop")
