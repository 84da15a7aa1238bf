"""Start and stop a real devnet (node processes on 127.0.0.1) for tests."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.middleware import ExtraDataToPOAMiddleware

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def gongfen(*arguments: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run the ``gongfen`` command line as a user would, and return its result."""
    return subprocess.run(
        [sys.executable, "-m", "node.cli", *arguments],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@contextmanager
def running_devnet(data_dir: Path, *extra: str) -> Iterator[dict[str, Any]]:
    """Bring a devnet up in ``data_dir`` and yield its manifest; always take it down.

    Unless ``extra`` says otherwise the devnet has one validator (and the
    regulator's observer): the JSON-RPC tests need a chain, not a consortium,
    and one validator keeps them fast.
    """
    if "--validators" not in extra:
        extra = ("--validators", "1", *extra)
    result = gongfen(
        "devnet", "up", "--data", str(data_dir), "--base-port", "0", "--detach", *extra
    )
    try:
        assert result.returncode == 0, result.stderr
        yield json.loads((data_dir / "devnet.json").read_text())
    finally:
        gongfen("devnet", "down", "--data", str(data_dir))


def web3_for(url: str) -> Web3:
    """Return a web3 client for a QBFT chain (its long extraData needs POA)."""
    client = Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": 30}))
    client.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    return client


def account(manifest: dict[str, Any], name: str) -> dict[str, Any]:
    for entry in manifest["accounts"]:
        if entry["name"] == name:
            return dict(entry)
    raise KeyError(name)
