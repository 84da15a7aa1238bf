"""The JSON-RPC gateway: the node's public port, served from a process of its own.

Why a second process: Python runs one thread at a time per process, so a node
that parses HTTP, decodes transactions and recovers their senders in the same
process as it executes blocks does those things one after the other on one
core. Under full load intake took a quarter of the node's time and slowed
block building further by contending for the interpreter. The gateway does
that work on the machine's other core.

What the gateway answers itself: ``eth_sendRawTransaction``, alone or in a
batch of nothing else. It checks the parameters, then runs the node's own
``decode_transaction`` (size, RLP, type, chain id, low ``s``, sender
recovery), so a malformed transaction gets the same error it would get from
the node. It hands each decoded transaction to the node as raw bytes with its
sender over the node's internal port (``POST /intake``, with a token only the
two processes know), in batches: whatever arrived while the previous batch
was in flight. The node then applies the checks that need the chain (sender
permission, gas, nonce, balance, pool rules) without recovering the sender
again, and its answer goes back to the client unchanged.

Everything else is forwarded as it is: other JSON-RPC bodies, ``/health`` and
``/metrics``; a WebSocket is relayed message by message to one of its own on
the node. The node starts the gateway (``node.gateway_process``) and writes the
token to its standard input, which stays open: the gateway exits when it
closes, that is when the node process ends, even by SIGKILL.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Awaitable
from typing import Any

import uvicorn
import websockets
from prometheus_client import CollectorRegistry, Counter, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import connect as websocket_connect

from chain.admission import AdmissionLimits, decode_transaction
from chain.errors import ChainError
from node.rpc.errors import RpcError, ServerError, to_rpc_error
from node.rpc.listener import bind_listening_socket
from node.rpc.loopback_http import LoopbackHttpClient, NodeUnreachable
from node.rpc.params import parse_data, positional
from node.rpc.server import (
    INTAKE_PATH,
    INTAKE_TOKEN_HEADER,
    MAX_BATCH_SIZE,
    MAX_BODY_BYTES,
    BodyRefused,
    error_response,
    receive_body,
    send_body,
    send_json,
)

logger = logging.getLogger("node.rpc.gateway")  # also when run as __main__

SUBMISSION = "eth_sendRawTransaction"
MAX_INTAKE_BATCH = 500
BATCHES_IN_FLIGHT = 3
# How long a gateway that starts waits for its port: after a node was killed,
# its old gateway notices and lets the port go within moments.
BIND_PATIENCE_SECONDS = 15.0
UNANSWERED_SUBMISSION = ServerError(
    "the node did not answer; the transaction may not have been admitted, send it again"
)
UNANSWERED_REQUEST = ServerError("the node is not answering; try again shortly")


class IntakeBatcher:
    """Hands decoded transactions to the node in batches, several at a time."""

    def __init__(self, node: LoopbackHttpClient, token: str) -> None:
        self._node = node
        self._headers = {
            INTAKE_TOKEN_HEADER.decode(): token,
            "content-type": "application/json",
        }
        self._queue: asyncio.Queue[tuple[bytes, bytes, asyncio.Future[Any]]] = (
            asyncio.Queue()
        )

    def enqueue(self, raw: bytes, sender: bytes) -> asyncio.Future[Any]:
        """Queue one transaction; the future gets the node's answer for it."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((raw, sender, future))
        return future

    async def run(self) -> None:
        """Hand batches over until cancelled, several at a time.

        While one batch waits for the node, the next is already on its way:
        the node's answer is slow while it builds a block, since the two share
        its interpreter. Two batches in flight can reorder one sender's
        transactions; the pool holds a nonce that comes early until the gap
        before it fills, as it does for any client.
        """
        await asyncio.gather(
            *(self._hand_over_batches() for _ in range(BATCHES_IN_FLIGHT))
        )

    async def _hand_over_batches(self) -> None:
        while True:
            batch = [await self._queue.get()]
            while len(batch) < MAX_INTAKE_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            answers = await self._hand_over(batch)
            for (_, _, future), answer in zip(batch, answers, strict=True):
                if not future.done():
                    future.set_result(answer)

    async def _hand_over(
        self, batch: list[tuple[bytes, bytes, asyncio.Future[Any]]]
    ) -> list[Any]:
        items = [["0x" + raw.hex(), "0x" + sender.hex()] for raw, sender, _ in batch]
        try:
            response = await self._node.request(
                "POST", INTAKE_PATH, json.dumps(items).encode(), self._headers
            )
            answers = json.loads(response.body)
            if (
                response.status == 200
                and isinstance(answers, list)
                and len(answers) == len(batch)
            ):
                return answers
            logger.error(
                "the node answered an intake batch with HTTP %d: %.200r",
                response.status,
                answers,
            )
        except (NodeUnreachable, ValueError) as error:
            logger.warning(
                "the node did not take %d transactions: %s", len(batch), error
            )
        return [{"error": UNANSWERED_SUBMISSION.to_json()}] * len(batch)


class GatewayApp:
    """The gateway's ASGI app; see the module docstring."""

    def __init__(
        self,
        node: LoopbackHttpClient,
        node_websocket_url: str,
        limits: AdmissionLimits,
    ) -> None:
        self._node = node
        self._node_websocket_url = node_websocket_url
        self._limits = limits
        self.intake: IntakeBatcher | None = None
        # Submissions refused here never reach the node's own counters.
        self._metrics = CollectorRegistry()
        self._refused = Counter(
            "gongfen_gateway_refused_submissions",
            "Transaction submissions the gateway refused before they reached the "
            "node: malformed parameters or RLP, wrong chain id, bad signature",
            registry=self._metrics,
        )
        self._routes = Starlette(
            routes=[
                Route("/health", self._forward_get, methods=["GET"]),
                Route("/metrics", self._forward_metrics, methods=["GET"]),
                WebSocketRoute("/", self._relay_websocket),
            ]
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if (
            scope["type"] == "http"
            and scope["path"] == "/"
            and scope["method"] == "POST"
        ):
            await self._answer_post(scope, receive, send)
            return
        await self._routes(scope, receive, send)

    async def _answer_post(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            body = await receive_body(scope, receive)
        except BodyRefused as refused:
            await send_json(send, refused.status, refused.document)
            return
        payload = _submissions_only(body)
        if payload is None:
            await self._forward_post(body, send)
            return
        if isinstance(payload, list):
            answers = [self._submit(request) for request in payload]
            responses = [r for r in await asyncio.gather(*answers) if r is not None]
            await send_json(send, 200, responses)
        else:
            await send_json(send, 200, await self._submit(payload))

    def _submit(self, request: dict[str, Any]) -> Awaitable[dict[str, Any] | None]:
        """Decode one submission and queue it now, so that a batch keeps its
        order; the awaitable gives its response."""
        try:
            (value,) = positional(request.get("params"), 1, 1, SUBMISSION)
            raw = parse_data(value, "data")
            transaction = decode_transaction(raw, self._limits)
        except ChainError as error:
            self._refused.inc()
            return _answered(request, {"error": to_rpc_error(error).to_json()})
        except RpcError as error:
            self._refused.inc()
            return _answered(request, {"error": error.to_json()})
        assert self.intake is not None
        return _respond(request, self.intake.enqueue(raw, transaction.sender))

    async def _forward_post(self, body: bytes, send: Any) -> None:
        try:
            response = await self._node.request(
                "POST", "/", body, {"content-type": "application/json"}
            )
        except NodeUnreachable as error:
            logger.warning("forwarding a request to the node failed: %s", error)
            await send_json(send, 503, error_response(None, UNANSWERED_REQUEST))
            return
        await send_body(
            send,
            response.status,
            response.body,
            (response.content_type or "application/json").encode(),
        )

    async def _forward_get(self, request: Request) -> Response:
        return await self._answer_get(request, b"")

    async def _forward_metrics(self, request: Request) -> Response:
        """The node's metrics followed by the gateway's own."""
        return await self._answer_get(request, generate_latest(self._metrics))

    async def _answer_get(self, request: Request, appended: bytes) -> Response:
        """The node's answer to this GET, with ``appended`` after a 200's body."""
        try:
            response = await self._node.request("GET", request.url.path)
        except NodeUnreachable as error:
            logger.warning("forwarding %s to the node failed: %s", request.url, error)
            return Response(status_code=503)
        body = response.body + appended if response.status == 200 else response.body
        return Response(
            body, status_code=response.status, media_type=response.content_type
        )

    async def _relay_websocket(self, websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            async with websocket_connect(
                self._node_websocket_url, max_size=MAX_BODY_BYTES, ping_interval=None
            ) as node:
                await _relay(websocket, node)
                code, reason = node.close_code or 1000, node.close_reason or ""
        except (OSError, websockets.exceptions.WebSocketException) as error:
            logger.warning("relaying a WebSocket to the node failed: %s", error)
            code, reason = 1011, "the node is not reachable"
        with contextlib.suppress(RuntimeError):  # the client closed first
            await websocket.close(code=code, reason=reason)


async def _relay(websocket: WebSocket, node: Any) -> None:
    """Pass messages both ways until either side closes."""

    async def from_client() -> None:
        try:
            while True:
                await node.send(await websocket.receive_text())
        except WebSocketDisconnect:
            await node.close()

    async def from_node() -> None:
        async for message in node:
            text = message if isinstance(message, str) else message.decode()
            await websocket.send_text(text)

    tasks = [asyncio.create_task(from_client()), asyncio.create_task(from_node())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _submissions_only(body: bytes) -> Any:
    """The payload if it holds nothing but transaction submissions, else None.

    Anything else, malformed JSON included, goes to the node as it is, so that
    every answer but a submission's comes from one place.
    """
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    items = payload if isinstance(payload, list) else [payload]
    if not items or len(items) > MAX_BATCH_SIZE:
        return None
    if all(isinstance(i, dict) and i.get("method") == SUBMISSION for i in items):
        return payload
    return None


async def _answered(
    request: dict[str, Any], answer: dict[str, Any]
) -> dict[str, Any] | None:
    return _response(request, answer)


async def _respond(
    request: dict[str, Any], answer: asyncio.Future[Any]
) -> dict[str, Any] | None:
    return _response(request, await answer)


def _response(request: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any] | None:
    if "id" not in request:
        return None  # a notification gets no response
    return {"jsonrpc": "2.0", "id": request.get("id"), **answer}


def _exit_when_stdin_closes(server: uvicorn.Server) -> None:
    """Stop when the node process ends: its end of our stdin closes then."""

    def watch() -> None:
        while sys.stdin.buffer.read(1024):
            pass
        logger.info("the node process ended; the gateway stops")
        server.should_exit = True
        time.sleep(5)
        os._exit(0)  # open connections kept uvicorn from stopping in time

    threading.Thread(target=watch, name="node-watch", daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Gongfen JSON-RPC gateway")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--node-port", type=int, required=True)
    parser.add_argument("--chain-id", type=int, required=True)
    parser.add_argument("--block-gas-limit", type=int, required=True)
    parser.add_argument("--max-transaction-bytes", type=int, required=True)
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    token = sys.stdin.readline().strip()
    if not token:
        logger.error("no intake token on standard input; start me from the node")
        return 2

    limits = AdmissionLimits(
        chain_id=args.chain_id,
        block_gas_limit=args.block_gas_limit,
        max_transaction_bytes=args.max_transaction_bytes,
    )
    node = LoopbackHttpClient("127.0.0.1", args.node_port)
    app = GatewayApp(node, f"ws://127.0.0.1:{args.node_port}/", limits)
    try:
        listener = bind_listening_socket(
            args.host, args.port, patience_seconds=BIND_PATIENCE_SECONDS
        )
    except OSError as error:
        logger.error("cannot listen on %s:%d: %s", args.host, args.port, error)
        return 1
    config = uvicorn.Config(
        app,
        log_level="warning",
        ws="websockets-sansio",
        ws_max_size=MAX_BODY_BYTES,
        timeout_keep_alive=30,
        limit_concurrency=2000,
    )
    server = uvicorn.Server(config)
    _exit_when_stdin_closes(server)
    asyncio.run(_serve_on(server, app, node, token, listener))
    return 0


async def _serve_on(
    server: uvicorn.Server,
    app: GatewayApp,
    node: LoopbackHttpClient,
    token: str,
    listener: socket.socket,
) -> None:
    intake = IntakeBatcher(node, token)
    app.intake = intake
    handing_over = asyncio.create_task(intake.run())
    try:
        await server.serve(sockets=[listener])
    finally:
        handing_over.cancel()
        await node.aclose()


if __name__ == "__main__":
    sys.exit(main())
