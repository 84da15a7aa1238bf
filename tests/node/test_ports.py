"""Picking ports for local nodes, and what a devnet says when a node cannot start."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from node.devnet import DevnetError, _wait_until_ready
from node.ports import ephemeral_range, free_port, port_is_free


def test_picked_ports_are_bindable_distinct_and_outside_the_kernels_range() -> None:
    low, high = ephemeral_range()
    picked = [free_port() for _ in range(50)]
    assert len(set(picked)) == len(picked)
    for port in picked:
        assert not low <= port <= high, f"{port} is in the ephemeral range"
        assert port_is_free(port)


def test_a_port_in_use_is_not_free() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert not port_is_free(listener.getsockname()[1])


def test_a_node_that_exits_at_startup_is_reported_with_the_end_of_its_log(
    tmp_path: Path,
) -> None:
    log = tmp_path / "node.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [sys.executable, "-c", "print('cannot listen on 127.0.0.1:1: in use')"],
            stdout=output,
        )
    process.wait(timeout=30)
    node = {
        "name": "shop",
        "pid": process.pid,
        "log": str(log),
        "rpcUrl": f"http://127.0.0.1:{free_port()}",
    }
    with pytest.raises(DevnetError, match="exited at startup") as raised:
        _wait_until_ready(node, tmp_path)
    assert "cannot listen on 127.0.0.1:1: in use" in str(raised.value)
