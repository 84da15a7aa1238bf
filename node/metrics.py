"""Prometheus metrics of one node, in a registry of its own."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class NodeMetrics:
    """The counters and gauges a node exports on ``/metrics``."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.block_height = Gauge(
            "gongfen_block_height", "Number of the head block", registry=self.registry
        )
        self.transactions = Counter(
            "gongfen_transactions_included",
            "Transactions included in committed blocks",
            registry=self.registry,
        )
        self.pool_size = Gauge(
            "gongfen_pool_transactions",
            "Transactions waiting in the pool",
            registry=self.registry,
        )
        self.block_seconds = Histogram(
            "gongfen_block_build_seconds",
            "Time to build, seal and persist a block",
            registry=self.registry,
            buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10),
        )
        self.peers = Gauge(
            "gongfen_peers",
            "Members with a live peer connection",
            registry=self.registry,
        )
        self.bad_peer_messages = Counter(
            "gongfen_bad_peer_messages",
            "Malformed messages and rejected blocks received from peers",
            registry=self.registry,
        )
        self.rpc_requests = Counter(
            "gongfen_rpc_requests",
            "JSON-RPC requests by method and outcome",
            ["method", "outcome"],
            registry=self.registry,
        )
