"""Unmodified ethers.js v6 against a devnet node (runs where Node.js is installed)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.compile import compile_vyper
from tests.support.devnet import account, running_devnet

pytestmark = pytest.mark.network

SCRIPT_DIR = Path(__file__).parent / "js"
PROBE_SOURCE = Path(__file__).parent / "contracts" / "Probe.vy"


def ethers_installed() -> bool:
    return (
        shutil.which("node") is not None
        and (SCRIPT_DIR / "node_modules" / "ethers").is_dir()
    )


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    with running_devnet(tmp_path_factory.mktemp("devnet")) as started:
        yield started


@pytest.mark.skipif(
    not ethers_installed(),
    reason="Node.js or tests/node/js/node_modules missing; `make test` installs them",
)
def test_ethers_deploys_calls_transacts_and_reads_reverts(
    manifest: dict[str, Any], tmp_path: Path
) -> None:
    compiled = compile_vyper(PROBE_SOURCE)
    abi_path = tmp_path / "abi.json"
    abi_path.write_text(json.dumps(compiled["abi"]))
    result = subprocess.run(
        [
            "node",
            str(SCRIPT_DIR / "ethers_check.mjs"),
            manifest["nodes"][0]["rpcUrl"],
            account(manifest, "town-admin")["privateKey"],
            str(abi_path),
            compiled["bytecode"],
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    findings = json.loads(result.stdout.strip().splitlines()[-1])

    assert findings["chainId"] == manifest["chainId"]
    assert findings["gasPrice"] == "0"
    assert findings["status"] == 1 and findings["plainStatus"] == 1
    assert findings["stored"] == "77" and findings["logs"] == 1
    assert findings["revert"] == "CALL_EXCEPTION:not positive"
    assert findings["blockHashMatches"] is True
    assert findings["events"] == ["77"]
