"""Consortium benchmark: one node, four QBFT validators and a sync, in one run.

1. single node   ERC-20 transfers/s confirmed over JSON-RPC on a one-validator
                 chain (``bench/throughput.py``'s stage 3, warmed up first);
2. consortium    ``gongfen devnet up --validators 4`` (block period 1 s):
                 transfers sent to all four validators, each sender always to
                 the same node; sustained confirmed transfers/s at full load,
                 then p50/p95 time from send to commit at half that rate,
                 as seen on the first validator;
3. sync          a fresh node with an empty data folder syncs a prebuilt chain
                 from a node serving it; time until its head reaches the top.

On this 2-core machine the four validators (and the regulator's observer)
share two cores, so the target is a ratio: four-validator throughput at least
0.75 x (single-node throughput x cores / 4). Run with ``make bench``; options
with ``--help``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT))

from eth_account import Account  # noqa: E402
from eth_typing import Address  # noqa: E402
from throughput import (  # noqa: E402
    CHAIN_ID,
    InclusionWatcher,
    RpcClient,
    Workload,
    confirmed_rate,
    machine_description,
    make_workload,
    prepared_chain,
    send_all,
    sign,
    start_bench_node,
)
from web3 import Web3  # noqa: E402
from web3.middleware import ExtraDataToPOAMiddleware  # noqa: E402

from chain.block_production import produce_block  # noqa: E402
from chain.genesis import Member, build_genesis_document, parse_genesis  # noqa: E402
from chain.ledger import Ledger  # noqa: E402
from contracts.build import load_artifact  # noqa: E402
from node.keys import NodeKey, write_node_key  # noqa: E402
from node.ports import free_port  # noqa: E402
from node.process import node_command  # noqa: E402
from node.transport.identity import create_member_identities  # noqa: E402

CORES = os.cpu_count() or 1
VALIDATORS = 4
TARGET_SHARE = 0.75
TARGET_P95_SECONDS = 2.0
REGISTRAR = "dashigai-admin"  # registers the bench's accounts as villagers
VILLAGE = "大石盖村"
INCLUSION_TIMEOUT_SECONDS = 180


# -- helpers --------------------------------------------------------------------


def gongfen(*arguments: str) -> subprocess.CompletedProcess[str]:
    """Run the ``gongfen`` command line; raise with its stderr if it fails."""
    result = subprocess.run(
        [sys.executable, "-m", "node.cli", "--log-level", "WARNING", *arguments],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"gongfen {' '.join(arguments)}: {result.stderr}")
    return result


def head_of(url: str) -> int:
    return int(RpcClient(url).call("eth_blockNumber", []), 16)


def wait_until_included(
    watcher: InclusionWatcher, hashes: list[str] | dict[str, float]
) -> None:
    deadline = time.monotonic() + INCLUSION_TIMEOUT_SECONDS
    while not all(h in watcher.included for h in hashes):
        if time.monotonic() > deadline:
            missing = sum(h not in watcher.included for h in hashes)
            raise RuntimeError(f"{missing} transactions were not committed in time")
        time.sleep(0.05)


def percentile(sorted_values: list[float], share: float) -> float:
    return sorted_values[int(share * (len(sorted_values) - 1))]


# -- 1. single node -------------------------------------------------------------


def run_single_node(workload: Workload, work: Path, block_size: int) -> float:
    """Confirmed transfers/s on a one-validator node, after one warm-up round."""
    senders = len(workload.sender_keys)
    prepared = prepared_chain(workload, work / "prepared")
    process, url = start_bench_node(workload, prepared, work, block_size)
    try:
        watcher = InclusionWatcher(url)
        watcher.start()
        confirmed_rate(url, watcher, workload.transfers, senders)  # warm-up
        throughput = confirmed_rate(url, watcher, workload.more_transfers, senders)
        watcher.stopping.set()
        return throughput
    finally:
        process.terminate()
        process.wait(timeout=30)


# -- 2. four validators -----------------------------------------------------------


def start_devnet(data_dir: Path, block_period: int) -> dict[str, Any]:
    gongfen(
        "devnet",
        "up",
        "--data",
        str(data_dir),
        "--validators",
        str(VALIDATORS),
        "--base-port",
        "0",
        "--block-period",
        str(block_period),
        "--detach",
    )
    manifest: dict[str, Any] = json.loads((data_dir / "devnet.json").read_text())
    return manifest


def permit_bench_accounts(manifest: dict[str, Any], workload: Workload) -> None:
    """Register the deployer and the senders as villagers, so they may transact.

    The devnet's Consortium contract decides who may send transactions; as the
    devnet does for its dev villagers, the village admin registers them.
    """
    accounts = {entry["name"]: entry for entry in manifest["accounts"]}
    admin = Account.from_key(accounts[REGISTRAR]["privateKey"])
    w3 = Web3(Web3.HTTPProvider(manifest["nodes"][0]["rpcUrl"]))
    w3.middleware_onion.inject(ExtraDataToPOAMiddleware, layer=0)
    consortium = w3.eth.contract(
        address=manifest["contracts"]["Consortium"],
        abi=load_artifact("Consortium")["abi"],
    )
    keys = [workload.deployer_key, *workload.sender_keys]
    villagers = [Account.from_key(key).address for key in keys]
    transaction = consortium.functions.registerVillagers(
        villagers, manifest["villages"][VILLAGE]
    ).build_transaction(
        {
            "from": admin.address,
            "gas": 5_000_000,
            "gasPrice": 0,
            "nonce": w3.eth.get_transaction_count(admin.address, "pending"),
            "chainId": w3.eth.chain_id,
        }
    )
    signed = admin.sign_transaction(transaction)
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(signed.raw_transaction), timeout=60
    )
    if receipt["status"] != 1:
        raise RuntimeError("registering the bench senders as villagers reverted")


def deploy_token(url: str, watcher: InclusionWatcher, workload: Workload) -> None:
    """Deploy BenchToken and fund the senders; check every setup receipt."""
    client = RpcClient(url)
    hashes = [
        client.call("eth_sendRawTransaction", ["0x" + raw.hex()])
        for raw in workload.setup
    ]
    wait_until_included(watcher, hashes)
    for transaction_hash in hashes:
        receipt = client.call("eth_getTransactionReceipt", [transaction_hash])
        if receipt["status"] != "0x1":
            raise RuntimeError(f"setup transaction {transaction_hash} failed")


def send_spread(
    urls: list[str], raws: list[bytes], senders: int, rate: float | None
) -> dict[str, float]:
    """Send ``raws`` with sender ``i`` always to ``urls[i % len(urls)]``.

    ``raws`` interleave the senders in order (as ``make_workload`` signs them),
    so each node's share interleaves its own senders and ``send_all`` gives
    each of its threads one sender: nonces reach each node in order.
    """
    sent: dict[str, float] = {}
    lock = threading.Lock()

    def send_to(node: int) -> None:
        share = [raw for i, raw in enumerate(raws) if i % senders % len(urls) == node]
        threads = len(range(node, senders, len(urls)))
        node_rate = None if rate is None else rate * len(share) / len(raws)
        result = send_all(urls[node], share, node_rate, threads)
        with lock:
            sent.update(result)

    workers = [
        threading.Thread(target=send_to, args=(node,))
        for node in range(min(len(urls), senders))
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return sent


def spread_confirmed_rate(
    urls: list[str], watcher: InclusionWatcher, raws: list[bytes], senders: int
) -> float:
    started = time.perf_counter()
    sent = send_spread(urls, raws, senders, None)
    wait_until_included(watcher, sent)
    return len(raws) / (max(watcher.included[h] for h in sent) - started)


def run_consortium(
    workload: Workload, work: Path, block_period: int, paced_share: float
) -> dict[str, float]:
    """Full-load throughput and paced latency on a four-validator devnet."""
    senders = len(workload.sender_keys)
    data_dir = work / "devnet"
    started = time.perf_counter()
    try:
        manifest = start_devnet(data_dir, block_period)
        validators = [node for node in manifest["nodes"] if node["validator"]]
        urls = [node["rpcUrl"] for node in validators]
        permit_bench_accounts(manifest, workload)
        watcher = InclusionWatcher(urls[0])
        watcher.start()
        deploy_token(urls[0], watcher, workload)
        setup_seconds = time.perf_counter() - started

        spread_confirmed_rate(urls, watcher, workload.transfers, senders)  # warm-up
        throughput = spread_confirmed_rate(
            urls, watcher, workload.more_transfers, senders
        )

        rate = throughput * paced_share
        sent = send_spread(urls, workload.paced_transfers, senders, rate)
        wait_until_included(watcher, sent)
        latencies = sorted(watcher.included[h] - t for h, t in sent.items())
        watcher.stopping.set()
        return {
            "validators": len(urls),
            "setup_seconds": setup_seconds,
            "throughput": throughput,
            "paced_rate": rate,
            "p50": statistics.median(latencies),
            "p95": percentile(latencies, 0.95),
        }
    finally:
        if (data_dir / "devnet.json").exists():
            gongfen("devnet", "down", "--data", str(data_dir))


# -- 3. sync ----------------------------------------------------------------------

SYNC_MEMBERS = ("town", "archive", "fresh")  # the validator, then two observers


def build_sync_genesis(work: Path, validator_key: bytes) -> dict[str, Any]:
    """A genesis with one validator and two observer members with TLS pins.

    Writes each observer's node key and every member's transport identity
    under ``work/<member>/``. The validator runs no node: its chain is built
    in-process, and the two observers serve it and sync it.
    """
    identities = create_member_identities(work, SYNC_MEMBERS)
    keys = {
        "town": NodeKey(validator_key),
        "archive": NodeKey((7001).to_bytes(32, "big")),
        "fresh": NodeKey((7002).to_bytes(32, "big")),
    }
    for member_id in ("archive", "fresh"):
        write_node_key(work / member_id / "key", keys[member_id])
    members = [
        Member(
            member_id,
            member_id,
            "town" if member_id == "town" else "regulator",
            keys[member_id].address if member_id == "town" else None,
            keys[member_id].public_key,
            identities[member_id].fingerprint,
            identities[member_id].certificate_pem.decode(),
        )
        for member_id in SYNC_MEMBERS
    ]
    payer = Account.from_key(sync_payer_key())
    return build_genesis_document(
        chain_id=CHAIN_ID,
        members=members,
        validators=[keys["town"].address],
        balances={Address(bytes.fromhex(payer.address[2:])): 10**24},
        permissioning="open",
        block_period_seconds=1,
        timestamp=1_700_000_000,
    )


def sync_payer_key() -> bytes:
    return (7100).to_bytes(32, "big")


def build_chain(
    folder: Path, document: dict[str, Any], validator_key: bytes, blocks: int
) -> None:
    """Seal ``blocks`` blocks in-process; every tenth carries one value transfer."""
    ledger = Ledger(folder, parse_genesis(document), sync_writes=False)
    payer_key, nonce = sync_payer_key(), 0
    for number in range(1, blocks + 1):
        if number % 10 == 0:
            receiver = (9000 + number).to_bytes(20, "big")
            raw = sign(payer_key, nonce, receiver, b"", 21_000)
            ledger.submit_transaction(raw)
            nonce += 1
        produce_block(ledger, validator_key, ledger.head.timestamp + 1)
    if ledger.head.block_number != blocks or len(ledger.pool):
        raise RuntimeError("the prebuilt chain did not take every transfer")
    ledger.close()


def start_observer(
    work: Path, member_id: str, rpc_port: int, p2p_ports: dict[str, int]
) -> subprocess.Popen[bytes]:
    folder = work / member_id
    peers = {
        "members": [
            {"id": other, "host": "127.0.0.1", "port": port}
            for other, port in p2p_ports.items()
        ]
    }
    (folder / "peers.json").write_text(json.dumps(peers))
    with open(folder / "node.log", "wb") as log:
        return subprocess.Popen(
            node_command(
                folder,
                work / "genesis.json",
                folder / "key",
                rpc_port,
                peers=folder / "peers.json",
                transport_dir=folder,
                p2p_port=p2p_ports[member_id],
                log_level="WARNING",
            ),
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def wait_for_head(
    url: str, block_number: int, process: subprocess.Popen[bytes], timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the node behind {url} exited")
        try:
            if head_of(url) >= block_number:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not reach block {block_number} in {timeout:.0f}s")


def run_sync(work: Path, blocks: int, timeout: float) -> dict[str, float]:
    """Build ``blocks`` blocks, serve them, time a fresh node's sync to the top."""
    validator_key = b"\x01" * 32
    document = build_sync_genesis(work, validator_key)
    (work / "genesis.json").write_text(json.dumps(document))
    started = time.perf_counter()
    build_chain(work / "archive", document, validator_key, blocks)
    build_seconds = time.perf_counter() - started

    p2p_ports = {"archive": free_port(), "fresh": free_port()}
    archive_url = f"http://127.0.0.1:{(archive_port := free_port())}"
    fresh_url = f"http://127.0.0.1:{(fresh_port := free_port())}"
    archive = start_observer(work, "archive", archive_port, p2p_ports)
    fresh: subprocess.Popen[bytes] | None = None
    try:
        wait_for_head(archive_url, blocks, archive, 60)
        started = time.perf_counter()
        fresh = start_observer(work, "fresh", fresh_port, p2p_ports)
        wait_for_head(fresh_url, 0, fresh, 60)
        serving_seconds = time.perf_counter() - started
        wait_for_head(fresh_url, blocks, fresh, timeout)
        sync_seconds = time.perf_counter() - started
        return {
            "blocks": blocks,
            "build_seconds": build_seconds,
            "startup_seconds": serving_seconds,
            "sync_seconds": sync_seconds,
        }
    finally:
        for process in (fresh, archive):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)


# -- report -----------------------------------------------------------------------


def print_consortium(single: float, consortium: dict[str, float]) -> None:
    fair_share = single * CORES / VALIDATORS
    target = TARGET_SHARE * fair_share
    throughput = consortium["throughput"]
    verdict = "met" if throughput >= target else "NOT met"
    print(
        f"(2) four validators, sent to all four : {throughput:8.1f} tx/s  "
        f"(setup {consortium['setup_seconds']:.0f} s)"
    )
    print(
        f"    target {TARGET_SHARE} x ({single:.1f} x {CORES} cores / {VALIDATORS} "
        f"nodes) = {target:.1f} tx/s; ratio to the fair share "
        f"{throughput / fair_share:.2f} (target >= {TARGET_SHARE}): {verdict}"
    )
    p95 = consortium["p95"]
    print(
        f"    at {consortium['paced_rate']:.1f} tx/s (half of full load): latency "
        f"p50 {consortium['p50']:.2f} s, p95 {p95:.2f} s  (target p95 < "
        f"{TARGET_P95_SECONDS:.2f} s: "
        f"{'met' if p95 < TARGET_P95_SECONDS else 'NOT met'})"
    )


def print_sync(work: Path, blocks: int, timeout: float) -> None:
    try:
        result = run_sync(work, blocks, timeout)
    except (RuntimeError, OSError) as error:
        print(f"(3) sync: not measured ({error})")
        return
    print(
        f"(3) sync {blocks} blocks from scratch   : {result['sync_seconds']:8.1f} s  "
        f"({blocks / result['sync_seconds']:.0f} blocks/s; node answering after "
        f"{result['startup_seconds']:.1f} s; chain built in "
        f"{result['build_seconds']:.1f} s, one value transfer every 10th block)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--transactions",
        type=int,
        default=2000,
        help="single-node transfers per round (a warm-up round, then one measured)",
    )
    parser.add_argument(
        "--consortium-transactions",
        type=int,
        default=2000,
        help="four-validator transfers per round (warm-up, full load, paced)",
    )
    parser.add_argument("--senders", type=int, default=10)
    parser.add_argument("--block-size", type=int, default=500)
    parser.add_argument("--block-period", type=int, default=1)
    parser.add_argument("--sync-blocks", type=int, default=10_000)
    parser.add_argument("--sync-timeout", type=float, default=180)
    parser.add_argument("--skip-sync", action="store_true")
    args = parser.parse_args()

    print(f"machine: {machine_description()}")
    with tempfile.TemporaryDirectory(prefix="gongfen-consortium-bench-") as temporary:
        work = Path(temporary)
        for stage in ("single", "consortium", "sync"):
            (work / stage).mkdir()
        single = run_single_node(
            make_workload(args.senders, args.transactions),
            work / "single",
            args.block_size,
        )
        print(
            f"{args.senders} senders; ERC-20 transfers; block period "
            f"{args.block_period} s"
        )
        print(
            f"(1) single node over JSON-RPC         : {single:8.1f} tx/s  "
            f"({args.transactions} transfers after as many to warm up)"
        )
        consortium = run_consortium(
            make_workload(args.senders, args.consortium_transactions),
            work / "consortium",
            args.block_period,
            0.5,
        )
        print_consortium(single, consortium)
        if args.skip_sync:
            print("(3) sync: not measured (--skip-sync)")
        else:
            print_sync(work / "sync", args.sync_blocks, args.sync_timeout)


if __name__ == "__main__":
    main()
