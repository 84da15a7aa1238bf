"""A two-against-two partition: no commits, no fork, and recovery after it heals.

The devnet's nodes are restarted by hand with permissions files that send every
member-to-member link through ``PartitionProxy``, so the test can sever the
links between {town, 大石盖村} and {bank, shop} while all five processes keep
running.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.process import node_command
from tests.network.partition_proxy import PartitionProxy
from tests.network.test_consortium import (
    _wait_until_dead,
    assert_same_chain,
    block_hashes,
    head,
    wait_for,
)
from tests.support.devnet import PROJECT_ROOT, gongfen

pytestmark = pytest.mark.network

LEFT = ("town", "dashigai-village", "regulator")
RIGHT = ("bank", "shop")


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data_dir = tmp_path_factory.mktemp("partition")
    result = gongfen(
        "devnet", "up", "--data", str(data_dir), "--base-port", "0", "--detach"
    )
    assert result.returncode == 0, result.stderr
    manifest = json.loads((data_dir / "devnet.json").read_text())
    processes: list[subprocess.Popen[bytes]] = []
    proxy = PartitionProxy({n["name"]: n["p2pPort"] for n in manifest["nodes"]})
    try:
        for node in manifest["nodes"]:
            os.kill(node["pid"], signal.SIGTERM)
            _wait_until_dead(node["pid"])
        proxy.start()
        for node in manifest["nodes"]:
            processes.append(_start_through_proxy(data_dir, node, proxy))
        yield {"manifest": manifest, "proxy": proxy}
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        proxy.stop()
        gongfen("devnet", "down", "--data", str(data_dir))


def _start_through_proxy(
    data_dir: Path, node: dict[str, Any], proxy: PartitionProxy
) -> subprocess.Popen[bytes]:
    node_dir = data_dir / "nodes" / node["name"]
    members = [
        {
            "id": other,
            "host": "127.0.0.1",
            "port": node["p2pPort"]
            if other == node["name"]
            else proxy.link_ports[(node["name"], other)],
        }
        for other in proxy.real_ports
    ]
    peers = node_dir / "peers-proxied.json"
    peers.write_text(json.dumps({"members": members}))
    with open(node_dir / "node.log", "ab") as log:
        return subprocess.Popen(
            node_command(
                node_dir,
                data_dir / "genesis.json",
                node_dir / "key",
                node["rpcPort"],
                peers=peers,
                transport_dir=node_dir,
                p2p_port=node["p2pPort"],
            ),
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def _safe_head(node: dict[str, Any]) -> int:
    try:
        return head(node)
    except OSError:
        return -1


def test_partition_halts_commits_without_fork_and_heals(
    proxied: dict[str, Any],
) -> None:
    nodes = {n["name"]: n for n in proxied["manifest"]["nodes"]}
    proxy: PartitionProxy = proxied["proxy"]
    start = max(_safe_head(n) for n in nodes.values())
    wait_for(
        lambda: min(_safe_head(n) for n in nodes.values()) >= start + 2,
        60,
        "the proxied consortium to commit",
    )

    proxy.cut(LEFT, RIGHT)
    time.sleep(3)  # let a block already decided before the cut land everywhere
    frozen = {name: head(node) for name, node in nodes.items()}
    time.sleep(12)
    after = {name: head(node) for name, node in nodes.items()}
    assert after == frozen, "a two-against-two split must not commit"

    proxy.heal()
    highest = max(after.values())
    wait_for(
        lambda: min(_safe_head(n) for n in nodes.values()) >= highest + 2,
        90,
        "commits to resume on every member after the partition heals",
    )
    assert_same_chain(list(nodes.values()))
    assert block_hashes(nodes["bank"], highest) == block_hashes(nodes["town"], highest)
