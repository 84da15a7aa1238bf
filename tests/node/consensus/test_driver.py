"""The driver's handling of what peers send: counted, logged once, never fatal."""

from __future__ import annotations

import logging

import pytest

from chain.genesis import Genesis
from chain.qbft.messages import MessageCode, Prepare, PreparePayload, sign
from node.consensus.driver import consensus_config
from node.consensus.local_network import LocalNetwork
from tests.chain.factories import make_key
from tests.node.consensus.support import VALIDATOR_KEYS


def prepare_bytes(key: bytes, height: int) -> bytes:
    return Prepare(sign(PreparePayload(height, 0, b"\x01" * 32), key)).encode()


def test_rejected_messages_are_counted_and_logged_once_per_author_and_rule(
    network: LocalNetwork, caplog: pytest.LogCaptureFixture
) -> None:
    network.start()
    driver = network.validators[0].driver
    outsider = make_key(999)

    with caplog.at_level(logging.DEBUG, logger="node.consensus.driver"):
        for _ in range(3):
            driver.on_message(MessageCode.PREPARE, b"\xc3\x01\x02\x03")
            driver.on_message(MessageCode.PREPARE, prepare_bytes(outsider, 1))
            driver.on_message(MessageCode.PREPARE, prepare_bytes(VALIDATOR_KEYS[1], 0))

    assert driver.rejected_messages == 9
    assert sorted(driver.rejections.values()) == [3, 3, 3]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    debugs = [r for r in caplog.records if "rejected" in r.getMessage()]
    assert len(warnings) == 2
    assert any("not a validator" in r.getMessage() for r in warnings)
    past = [r for r in debugs if "past height" in r.getMessage()]
    assert [r.levelno for r in past] == [logging.DEBUG]


def test_unknown_message_code_is_rejected_not_raised(network: LocalNetwork) -> None:
    network.start()
    driver = network.validators[0].driver

    driver.on_message(0x7F, b"\xc0")

    assert driver.rejected_messages == 1
    assert driver.height == 1


def test_consensus_config_takes_timing_from_genesis(genesis: Genesis) -> None:
    config = consensus_config(genesis, maximum_round_timeout_seconds=1.0)

    assert config.block_period_seconds == genesis.qbft.block_period_seconds
    assert config.request_timeout_seconds == genesis.qbft.request_timeout_seconds
    # A cap below the first timeout would make round 0 the longest round.
    assert config.maximum_round_timeout_seconds == config.request_timeout_seconds
