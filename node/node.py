"""One running member node: ledger, block production, peers and JSON-RPC.

How blocks are made depends on the genesis and on the node's key:

- one validator, and this node is it: ``BlockProducer`` seals a block every
  period, as before;
- several validators, and this node is one of them: a ``ChainThread`` runs the
  ``QbftDriver`` with the others over the peer network;
- this node's key is not a validator (the regulator's observer): the
  ``ChainThread`` only imports blocks that peers announce or serve.

The peer network (``node.gossip``, ``node.sync``) runs when the node is given
a permissions file (``NodeConfig.peers_file``); it is required for the last two
cases. It shares the asyncio loop with the JSON-RPC server, while every ledger
write happens on the producer or chain thread.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import secrets
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from eth.abc import BlockHeaderAPI
from eth_hash.auto import keccak
from eth_typing import Address

from chain.genesis import Genesis
from chain.ledger import Ledger
from node.consensus.driver import QbftDriver, consensus_config
from node.consensus.host import ChainThread
from node.consensus.votes import PendingVotes
from node.gateway_process import GatewayProcess
from node.gossip import MESSAGE_KINDS, PeerService
from node.keys import NodeKey
from node.metrics import NodeMetrics
from node.permissions import load_member_peers, watch_permissions_file
from node.producer import BlockProducer
from node.rpc.listener import bind_listening_socket
from node.rpc.methods import EthApi
from node.rpc.server import RpcService, build_app
from node.rpc.subscriptions import SubscriptionHub
from node.rpc.validator_votes import ValidatorVoteApi
from node.transport.identity import identity_paths, read_identity
from node.transport.network import PeerNetwork

logger = logging.getLogger(__name__)

# How long a starting node waits for its peers before it starts consensus: a
# proposal broadcast before they connect is lost and costs a round change.
PEER_WAIT_SECONDS = 5.0


class NodeError(Exception):
    """The node cannot run with the configuration it was given."""


@dataclass(frozen=True)
class NodeConfig:
    """Where a node keeps its data and where it listens."""

    data_dir: Path
    host: str = "127.0.0.1"
    rpc_port: int = 8545
    max_block_transactions: int = 500
    peers_file: Path | None = None
    """Permissions file: who may connect and where to dial them."""
    transport_dir: Path | None = None
    """Folder with this member's transport.key and transport.crt."""
    p2p_host: str = "127.0.0.1"
    p2p_port: int | None = None
    """Where the peer network listens; default: this member's permissions entry."""
    gateway: bool = True
    """Serve the public JSON-RPC port from a gateway process (``node.rpc.gateway``)
    rather than from the node's own process."""


class Node:
    """A member's node, assembled from its parts."""

    def __init__(self, config: NodeConfig, genesis: Genesis, key: NodeKey) -> None:
        alone = list(genesis.validators) == [key.address]
        if not alone and config.peers_file is None:
            raise NodeError(
                "this node does not produce blocks alone (several validators, or "
                "its key is not a validator), so it needs peers: pass --peers"
            )
        self.config = config
        self.genesis = genesis
        self.key = key
        self.ledger = Ledger(config.data_dir, genesis)
        self.metrics = NodeMetrics()
        self.metrics.block_height.set(self.ledger.head.block_number)
        self.api = EthApi(self.ledger, peer_count=self._peer_count)
        self.hub = SubscriptionHub(self.ledger)
        self.started_at = time.time()
        self.votes = PendingVotes()
        # Each genesis member's node address (its node id is the public key).
        self.member_addresses = {
            member.id: Address(keccak(member.node_id)[12:])
            for member in genesis.members
        }
        self.is_validator = key.address in genesis.validators
        self.producer: BlockProducer | None = None
        self.gateway: GatewayProcess | None = None
        self.chain: ChainThread | None = None
        self.peers: PeerService | None = None
        self._dialled_peers: list[str] = []
        if self.is_validator and len(genesis.validators) == 1:
            self.producer = BlockProducer(
                self.ledger,
                key,
                block_period_seconds=genesis.qbft.block_period_seconds,
                max_transactions=config.max_block_transactions,
                metrics=self.metrics,
                on_block=self._on_new_head,
            )
        if config.peers_file is not None:
            self._set_up_peers(config)
        self.api.handlers.update(
            ValidatorVoteApi(
                self.ledger,
                self.votes,
                self._online_members,
                self.api.header_for,
                refusal=None
                if self.producer is None
                else "this node is the chain's only validator and produces blocks "
                "alone; validator votes need the QBFT network of several validators",
            ).handlers()
        )

    def _set_up_peers(self, config: NodeConfig) -> None:
        assert config.peers_file is not None
        transport_dir = config.transport_dir or config.peers_file.parent
        identity = read_identity(*identity_paths(transport_dir))
        table = load_member_peers(self.genesis, config.peers_file)
        self._dialled_peers = [
            peer.member_id
            for peer in table.values()
            if peer.dialable and peer.member_id != identity.member_id
        ]
        network = PeerNetwork(
            identity,
            table,
            MESSAGE_KINDS,
            host=config.p2p_host,
            port=config.p2p_port,
        )
        driver = None
        if self.producer is None:
            # Every member runs the state machine: it only follows heads while
            # its key is not a validator, and starts validating from the block
            # at which a vote adds it.
            driver = QbftDriver(
                self.ledger,
                self.key.private_key,
                consensus_config(self.genesis),
                self._send_qbft,
                time.time,
                max_transactions=config.max_block_transactions,
                votes=self.votes,
            )
        # A single validator's producer reports its own blocks; its chain
        # thread imports only what sync might bring, and reports nothing.
        self.chain = ChainThread(
            self.ledger,
            driver,
            on_new_head=self._on_new_head
            if self.producer is None
            else lambda header: None,
            on_bad_block=self._on_bad_block,
        )
        self.peers = PeerService(
            network, self.ledger, self.chain, self.member_addresses
        )
        self.peers.on_bad_message = self.metrics.bad_peer_messages.inc
        self.metrics.peers.set_function(self._peer_count)
        self._gossip_admitted_transactions()

    def _gossip_admitted_transactions(self) -> None:
        # A transaction this node admits is sent to every peer, so that it
        # reaches whichever validator proposes next.
        peers = self.peers
        if peers is not None:
            self.api.admitted_listeners.append(peers.gossip_transaction)

    # --- callbacks from the producer and chain threads ---------------------------

    def _send_qbft(self, message_code: int, data: bytes) -> None:
        if self.peers is not None:
            self.peers.send_qbft(message_code, data)

    def _on_new_head(self, header: BlockHeaderAPI) -> None:
        self.metrics.block_height.set(header.block_number)
        self.hub.publish_block(header)
        if self.peers is not None:
            self.peers.announce_block(header)

    def _on_bad_block(self, peer_id: str, problem: str) -> None:
        if self.peers is not None:
            self.peers.report_bad_block(peer_id, problem)

    def _online_members(self) -> frozenset[Address]:
        """The node addresses of this member and of the members it reaches."""
        connected = (
            frozenset() if self.peers is None else self.peers.network.connected_peers()
        )
        addresses = self.member_addresses
        return frozenset(
            {self.key.address}
            | {addresses[peer] for peer in connected if peer in addresses}
        )

    def _peer_count(self) -> int:
        if self.peers is None:
            return 0
        return len(self.peers.network.connected_peers())

    # --- health -------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        head = self.ledger.head
        driver = None if self.chain is None else self.chain.driver
        peers = [] if self.peers is None else self.peers.network.connected_peers()
        return {
            "status": "ok",
            "chainId": self.ledger.chain_id,
            "blockNumber": head.block_number,
            "blockHash": "0x" + head.hash.hex(),
            "blockTimestamp": head.timestamp,
            "secondsSinceLastBlock": max(0, int(time.time()) - head.timestamp),
            "validator": self.key.address in self.ledger.validators_after(head),
            "address": "0x" + self.key.address.hex(),
            "pendingTransactions": len(self.ledger.pool),
            "consensus": self._consensus_kind(driver),
            "height": None if driver is None else driver.height,
            "round": None if driver is None else driver.round,
            "peers": sorted(peers),
            "p2pPort": None
            if self.peers is None
            else self.peers.network.listen_address[1],
            "syncing": False if self.peers is None else self.peers.sync.syncing,
            "bestPeerHead": None
            if self.peers is None
            else self.peers.sync.best_peer_head,
        }

    def _consensus_kind(self, driver: QbftDriver | None) -> str:
        if self.producer is not None:
            return "single"
        head = self.ledger.head
        if driver is None or self.key.address not in self.ledger.validators_after(head):
            return "observer"  # follows by import until a vote adds it
        return "qbft"

    def serve(self) -> None:
        """Serve until SIGINT or SIGTERM, then stop producing and close storage."""
        sockets: list[socket.socket] | None = None
        token: str | None = None
        if self.config.gateway:
            # The gateway takes the public port; the node listens on loopback.
            sockets = [bind_listening_socket("127.0.0.1", 0)]
            token = secrets.token_hex(32)
        service = RpcService(self.api, self.metrics)
        app = build_app(service, self.hub, self.health, intake_token=token)
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
        if sockets is not None and token is not None:
            self._start_gateway(server, sockets[0].getsockname()[1], token)
        # Everything loaded so far lives as long as the process: moving it out
        # of the collector's sight keeps full collections short while py-evm
        # allocates millions of short-lived objects per block.
        gc.collect()
        gc.freeze()
        if self.producer is not None:
            self.producer.start()
        logger.info(
            "node %s serving JSON-RPC on http://%s:%d (chain %d, head %d, %s)",
            self.key,
            self.config.host,
            self.config.rpc_port,
            self.ledger.chain_id,
            self.ledger.head.block_number,
            self.health()["consensus"],
        )
        try:
            if self.peers is None:
                server.run(sockets=sockets)
            else:
                asyncio.run(self._serve_with_peers(server, sockets))
        finally:
            self.stop()

    def _start_gateway(
        self, server: uvicorn.Server, node_port: int, token: str
    ) -> None:
        self.gateway = GatewayProcess.start(
            host=self.config.host,
            port=self.config.rpc_port,
            node_port=node_port,
            limits=self.ledger.limits,
            token=token,
        )

        def on_exit(code: int) -> None:
            logger.error("the JSON-RPC gateway exited (code %d); stopping", code)
            server.should_exit = True

        self.gateway.watch(on_exit)

    async def _serve_with_peers(
        self, server: uvicorn.Server, sockets: list[socket.socket] | None
    ) -> None:
        assert self.peers is not None
        await self.peers.start()
        starting = asyncio.create_task(self._start_chain_when_connected())
        assert self.config.peers_file is not None
        watching = asyncio.create_task(
            watch_permissions_file(
                self.genesis, self.config.peers_file, self.peers.network.update_peers
            )
        )
        try:
            await server.serve(sockets=sockets)
        finally:
            starting.cancel()
            watching.cancel()
            await self.peers.stop()

    async def _start_chain_when_connected(self) -> None:
        assert self.peers is not None and self.chain is not None
        network = self.peers.network
        try:
            await network.wait_for_peers(self._dialled_peers, PEER_WAIT_SECONDS)
        except TimeoutError:
            logger.info(
                "starting consensus with %d of %d peers connected",
                len(network.connected_peers()),
                len(self._dialled_peers),
            )
        self.chain.start()

    def stop(self) -> None:
        if self.gateway is not None:
            self.gateway.stop()
        if self.producer is not None:
            self.producer.stop()
            self.producer.join(timeout=30)
        if self.chain is not None and self.chain.is_alive():
            self.chain.stop()
            self.chain.join(timeout=30)
        with self.ledger.write_lock:
            self.ledger.close()
        logger.info("node stopped at block %d", self.ledger.head.block_number)
