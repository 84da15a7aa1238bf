"""One running member node: ledger, block producer and JSON-RPC endpoint."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from chain.genesis import Genesis
from chain.ledger import Ledger
from node.keys import NodeKey
from node.metrics import NodeMetrics
from node.producer import BlockProducer
from node.rpc.methods import EthApi
from node.rpc.server import RpcService, build_app
from node.rpc.subscriptions import SubscriptionHub

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class NodeConfig:
    """Where a node keeps its data and where it listens."""

    data_dir: Path
    host: str = "127.0.0.1"
    rpc_port: int = 8545
    max_block_transactions: int = 500


class Node:
    """A member's node, assembled from its parts."""

    def __init__(self, config: NodeConfig, genesis: Genesis, key: NodeKey) -> None:
        self.config = config
        self.genesis = genesis
        self.key = key
        self.ledger = Ledger(config.data_dir, genesis)
        self.metrics = NodeMetrics()
        self.metrics.block_height.set(self.ledger.head.block_number)
        self.api = EthApi(self.ledger)
        self.hub = SubscriptionHub(self.ledger)
        self.started_at = time.time()
        self.is_validator = key.address in genesis.validators
        self.producer: BlockProducer | None = None
        if self.is_validator:
            self.producer = BlockProducer(
                self.ledger,
                key,
                block_period_seconds=genesis.qbft.block_period_seconds,
                max_transactions=config.max_block_transactions,
                metrics=self.metrics,
                on_block=self.hub.publish_block,
            )

    def health(self) -> dict[str, Any]:
        head = self.ledger.head
        return {
            "status": "ok",
            "chainId": self.ledger.chain_id,
            "blockNumber": head.block_number,
            "blockHash": "0x" + head.hash.hex(),
            "secondsSinceLastBlock": max(0, int(time.time()) - head.timestamp),
            "validator": self.is_validator,
            "address": "0x" + self.key.address.hex(),
            "pendingTransactions": len(self.ledger.pool),
        }

    def serve(self) -> None:
        """Serve until SIGINT or SIGTERM, then stop producing and close storage."""
        app = build_app(RpcService(self.api, self.metrics), self.hub, self.health)
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=self.config.host,
                port=self.config.rpc_port,
                log_level="warning",
                ws="websockets-sansio",
                ws_max_size=5 * 1024 * 1024,
                timeout_keep_alive=30,
                limit_concurrency=2000,
            )
        )
        if self.producer is not None:
            self.producer.start()
        logger.info(
            "node %s serving JSON-RPC on http://%s:%d (chain %d, head %d, %s)",
            self.key,
            self.config.host,
            self.config.rpc_port,
            self.ledger.chain_id,
            self.ledger.head.block_number,
            "validator" if self.is_validator else "observer",
        )
        try:
            server.run()
        finally:
            self.stop()

    def stop(self) -> None:
        if self.producer is not None:
            self.producer.stop()
            self.producer.join(timeout=30)
        with self.ledger.write_lock:
            self.ledger.close()
        logger.info("node stopped at block %d", self.ledger.head.block_number)
