"""Contracts benchmark: batch point awards and redemptions against transfers.

Measures in one run, each stage in-process (the node's pool and block
production) and end to end over JSON-RPC against a node process:

- point awards per second through ``Activities.approveParticipants``, 200
  villagers a transaction;
- redemptions per second (``Points.redeem``, each from its own villager to a
  shop, one transaction each);
- ERC-20 transfers per second, the baseline of ``bench/throughput.py``;

then the gas of an award, a redemption and a presentation check
(``CreditRegistry.checkPresentation``, ``eth_estimateGas``). Target: awards per
second at least 20 times transfers per second.

In-process only, alternated with those stages, it also measures the bounds of
any batch award that keeps one ERC-20 ``Transfer`` event per villager, with
``bench/contracts/AwardBounds.vy`` (not a consortium contract) on the same
batches as the approvals:

- ``announce`` only emits the villagers' events: the ceiling of such a batch;
- ``credit`` also adds to balances the villagers already hold there: the
  least a batch award keeping per-villager balances and events can do.

Both are reported as awards per second (calls per second times the batch
size), against transfers per second, with their gas per villager.

Every stage starts from one prepared chain: the throughput benchmark's token
and funded senders, then the consortium of ``bench/consortium_setup.py``.
All measured transactions are signed before the clock starts. Options with
``--help``.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from consortium_setup import (  # noqa: E402
    PRESENTATION_LEAVES,
    LedgerProvider,
    Scenario,
    make_cast,
    prepare_consortium,
    web3_for,
)
from eth_utils import keccak  # noqa: E402
from throughput import (  # noqa: E402
    InclusionWatcher,
    RpcClient,
    Workload,
    confirmed_rate,
    genesis_for,
    machine_description,
    make_workload,
    prepared_chain,
    run_node_in_process,
    start_bench_node,
)
from web3 import HTTPProvider, Web3  # noqa: E402

from chain.ledger import Ledger  # noqa: E402
from contracts.build import load_artifact  # noqa: E402
from contracts.presentation import (  # noqa: E402
    PresentationResult,
    reveal_node,
    sign_presentation,
)

PRESENTATION_THRESHOLDS = (60, 600)
TARGET_RATIO = 20
BOUND_LABELS = {
    "announce": "announce (Transfer event only)",
    "credit": "credit (balance +=, Transfer)",
}


# -- measuring -----------------------------------------------------------------


@dataclass
class Figures:
    """Rates of one way of running, in operations per second."""

    awards: float
    redemptions: float
    transfers: float

    @property
    def ratio(self) -> float:
        return self.awards / self.transfers


def measure_in_process(
    workload: Workload,
    prepared: Path,
    work: Path,
    raws: list[bytes],
    block_size: int,
    first_block: int,
) -> tuple[float, list[int]]:
    """Transactions per second through the node's block production, and gas.

    Uses the throughput benchmark's in-process stage on ``raws``, then
    checks in the chain it leaves that every transaction succeeded.
    """
    stage = replace(workload, transfers=raws)
    rate = run_node_in_process(stage, prepared, work, block_size)
    ledger = Ledger(work / "node", genesis_for(workload))  # where that stage ran
    try:
        return rate, mined_gas(ledger, raws, first_block)
    finally:
        ledger.close()


def mined_gas(ledger: Ledger, raws: list[bytes], first_block: int) -> list[int]:
    """The gas each of ``raws`` used; raise if one is missing or reverted."""
    # A block's receipts are read once for all its transactions: looking each
    # transaction up on its own decodes its whole block every time.
    mined = {
        bytes(receipt.transaction.hash): receipt
        for header in ledger.iterate_headers(first_block, ledger.head.block_number)
        for receipt in ledger.mined_receipts(header)
    }
    gas = []
    for raw in raws:
        receipt = mined.get(keccak(raw))
        if receipt is None or receipt.receipt.state_root != b"\x01":
            raise RuntimeError(f"transaction 0x{keccak(raw).hex()} did not succeed")
        gas.append(receipt.gas_used)
    return gas


def run_in_process(
    workload: Workload,
    prepared: Path,
    work: Path,
    scenario: Scenario,
    block_size: int,
    repeats: int,
) -> tuple[Figures, dict[str, float], dict[str, list[int]]]:
    """The stages in-process, alternated; each keeps its best run.

    Returns the figures, the bounds' awards per second by ``AwardBounds``
    function, and the gas of every measured transaction by stage.
    """
    # Batch calls are limited by block gas, not count: say how many fit, so
    # that each of the stage's blocks takes all it is given.
    gas_limit = genesis_for(workload).gas_limit
    stages = {
        "transfers": (workload.transfers, block_size),
        "approvals": (
            scenario.approvals,
            min(block_size, gas_limit // scenario.approval_gas),
        ),
        "redemptions": (scenario.redemptions, block_size),
    }
    for name, bound in scenario.bounds.items():
        stages[name] = (bound.calls, min(block_size, gas_limit // bound.gas))
    best = dict.fromkeys(stages, 0.0)
    gas: dict[str, list[int]] = {}
    for attempt in range(repeats):
        for name, (raws, size) in stages.items():
            folder = work / f"{name}-{attempt}"
            rate, gas[name] = measure_in_process(
                workload, prepared, folder, raws, size, scenario.head_number + 1
            )
            best[name] = max(best[name], rate)
    figures = Figures(
        awards=best["approvals"] * scenario.batch_size,
        redemptions=best["redemptions"],
        transfers=best["transfers"],
    )
    bounds = {name: best[name] * scenario.batch_size for name in scenario.bounds}
    return figures, bounds, gas


def run_over_rpc(
    workload: Workload,
    prepared: Path,
    work: Path,
    scenario: Scenario,
    block_size: int,
) -> tuple[Figures, dict[int, int]]:
    """The three stages at full load against a node process, one after another.

    Also checks that every measured transaction succeeded and estimates the
    gas of a presentation check through the node's ``eth_estimateGas``.
    """
    threads = len(workload.sender_keys)
    process, url = start_bench_node(workload, prepared, work, block_size)
    try:
        watcher = InclusionWatcher(url)
        watcher.start()
        transfers = confirmed_rate(url, watcher, workload.transfers, threads)
        # One admin signs every approval: one connection keeps nonces in order.
        approvals = confirmed_rate(url, watcher, scenario.approvals, 1)
        redemptions = confirmed_rate(url, watcher, scenario.redemptions, threads)
        watcher.stopping.set()

        check_receipts(
            url, scenario.approvals + scenario.redemptions, scenario.head_number + 1
        )
        w3 = web3_for(HTTPProvider(url))
        presentation = presentation_gas(w3, scenario)
    finally:
        process.terminate()
        process.wait(timeout=30)
    figures = Figures(approvals * scenario.batch_size, redemptions, transfers)
    return figures, presentation


def check_receipts(url: str, raws: list[bytes], first_block: int) -> None:
    """Raise unless every one of ``raws`` is mined with status 1."""
    client = RpcClient(url)
    head = int(client.call("eth_blockNumber", []), 16)
    status = {
        receipt["transactionHash"]: receipt["status"]
        for block_number in range(first_block, head + 1)
        for receipt in client.call("eth_getBlockReceipts", [hex(block_number)])
    }
    for raw in raws:
        transaction_hash = "0x" + keccak(raw).hex()
        if status.get(transaction_hash) != "0x1":
            raise RuntimeError(f"transaction {transaction_hash} did not succeed")


def presentation_gas(w3: Web3, scenario: Scenario) -> dict[int, int]:
    """``eth_estimateGas`` of a valid presentation check, by threshold."""
    case, bank = scenario.presentation, scenario.cast.bank
    registry = w3.eth.contract(
        address=Web3.to_checksum_address(scenario.contracts["CreditRegistry"]),
        abi=load_artifact("CreditRegistry")["abi"],
    )
    expiry = int(w3.eth.get_block("latest")["timestamp"]) + 3600
    gas = {}
    for threshold in PRESENTATION_THRESHOLDS:
        nonce = keccak(text=f"bench bank nonce {threshold}")
        presentation = sign_presentation(
            case.holder,
            bank=bank.address,
            nonce=nonce,
            threshold=threshold,
            epoch=case.epoch,
            version=case.version,
            expiry=expiry,
            node=reveal_node(case.seed, case.score, threshold),
            proof=case.proof,
            chain_id=w3.eth.chain_id,
            registry=registry.address,
        )
        check = registry.functions.checkPresentation(
            presentation.as_abi(), bank.address, nonce
        )
        result = check.call({"from": bank.address})
        if result != PresentationResult.VALID:
            raise RuntimeError(f"presentation check failed: {result}")
        gas[threshold] = check.estimate_gas({"from": bank.address})
    return gas


def in_process_presentation_gas(
    workload: Workload, prepared: Path, work: Path, scenario: Scenario
) -> dict[int, int]:
    """Estimate the presentation check with the node's handlers in-process."""
    folder = work / "presentation"
    shutil.copytree(prepared, folder)
    ledger = Ledger(folder, genesis_for(workload))
    try:
        w3 = web3_for(LedgerProvider(ledger, workload.validator_key))
        return presentation_gas(w3, scenario)
    finally:
        ledger.close()


# -- report --------------------------------------------------------------------


def print_rates(in_process: Figures, over_rpc: Figures | None) -> None:
    print(f"{'':30}{'in-process':>12}{'JSON-RPC':>12}")
    for label, field, digits in (
        ("awards/s (batch approval)", "awards", 1),
        ("redemptions/s", "redemptions", 1),
        ("ERC-20 transfers/s", "transfers", 1),
        ("awards/s ÷ transfers/s", "ratio", 2),
    ):
        cells = [
            "skipped" if figures is None else f"{getattr(figures, field):.{digits}f}"
            for figures in (in_process, over_rpc)
        ]
        print(f"{label:30}{cells[0]:>12}{cells[1]:>12}")
    print(f"{'':30}target for the ratio: >= {TARGET_RATIO}")


def print_bounds(bounds: dict[str, float], transfers: float) -> None:
    """The bounds' awards per second, and their ratio to transfers per second."""
    print("bounds of a batch award, in-process (AwardBounds, not the consortium):")
    print(f"{'':30}{'awards/s':>12}{'÷ transfers/s':>15}")
    for name, awards in bounds.items():
        print(f"{BOUND_LABELS[name]:30}{awards:>12.1f}{awards / transfers:>15.2f}")


def print_gas(
    scenario: Scenario,
    gas: dict[str, list[int]],
    presentation: dict[int, int],
    source: str,
) -> None:
    batch = scenario.batch_size
    per_award = statistics.mean(gas["approvals"]) / batch
    checks = ", ".join(f"T={t}: {g:,}" for t, g in presentation.items())
    rows = [
        (
            f"gas per award ({batch}-villager batch)",
            f"{per_award:,.0f} (a villager's first points: "
            f"{scenario.first_award_gas:,.0f})",
        ),
        ("gas per redemption", f"{statistics.mean(gas['redemptions']):,.0f}"),
        ("gas per ERC-20 transfer", f"{statistics.mean(gas['transfers']):,.0f}"),
        (
            "gas per presentation check",
            f"{checks} ({PRESENTATION_LEAVES} leaves, eth_estimateGas {source})",
        ),
    ]
    rows += [
        (
            f"gas per villager, bound {name}",
            f"{statistics.mean(gas[name]) / batch:,.0f} ({batch}-villager batch)",
        )
        for name in BOUND_LABELS
    ]
    for label, value in rows:
        print(f"{label:36}{value}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--award-batches", type=int, default=5, help="approvals measured"
    )
    parser.add_argument(
        "--batch-size", type=int, default=200, help="villagers per approval"
    )
    parser.add_argument("--redemptions", type=int, default=500)
    parser.add_argument(
        "--transactions", type=int, default=1000, help="ERC-20 transfers"
    )
    parser.add_argument("--senders", type=int, default=10, help="transfer senders")
    parser.add_argument("--block-size", type=int, default=500)
    parser.add_argument(
        "--repeats", type=int, default=2, help="in-process runs; the best counts"
    )
    parser.add_argument("--skip-rpc", action="store_true")
    args = parser.parse_args()

    print(f"machine: {machine_description()}")
    awards = args.award_batches * args.batch_size
    print(
        f"{awards} awards in batches of {args.batch_size}, {args.redemptions} "
        f"redemptions, {args.transactions} ERC-20 transfers from {args.senders} "
        f"senders, blocks of up to {args.block_size}"
    )
    workload = make_workload(args.senders, args.transactions)
    cast = make_cast(max(awards, args.redemptions))
    with tempfile.TemporaryDirectory(prefix="gongfen-bench-") as temporary:
        work = Path(temporary)
        started = time.perf_counter()
        prepared = prepared_chain(workload, work / "prepared")
        scenario = prepare_consortium(
            workload,
            prepared,
            cast,
            args.batch_size,
            args.award_batches,
            args.redemptions,
        )
        print(f"setup: {time.perf_counter() - started:.1f} s")

        in_process, bounds, gas = run_in_process(
            workload, prepared, work, scenario, args.block_size, args.repeats
        )
        over_rpc = None
        if args.skip_rpc:
            presentation = in_process_presentation_gas(
                workload, prepared, work, scenario
            )
        else:
            over_rpc, presentation = run_over_rpc(
                workload, prepared, work / "rpc", scenario, args.block_size
            )
        print_rates(in_process, over_rpc)
        print_bounds(bounds, in_process.transfers)
        source = "in-process" if over_rpc is None else "over JSON-RPC"
        print_gas(scenario, gas, presentation, source)


if __name__ == "__main__":
    main()
