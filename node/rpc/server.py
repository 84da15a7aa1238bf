"""The node's HTTP and WebSocket endpoint: JSON-RPC, health and metrics.

One port serves everything: ``POST /`` for JSON-RPC over HTTP (single or batch),
``GET /`` upgraded to a WebSocket for JSON-RPC with ``eth_subscribe``,
``GET /health`` and ``GET /metrics``. As in geth, every JSON-RPC error, even a
parse error, is returned with HTTP 200; only a body over the size limit gets 413.

A node normally serves this on loopback behind its gateway process
(``node.rpc.gateway``), which holds the public port, decodes submitted
transactions and recovers their senders on another core, and hands them over
through ``POST /intake``; everything else it forwards here unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from anyio import to_thread
from eth_typing import Address
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from node.metrics import NodeMetrics
from node.rpc.errors import InvalidParams, InvalidRequest, ParseError, RpcError
from node.rpc.logs import parse_log_criteria
from node.rpc.methods import EthApi
from node.rpc.params import positional
from node.rpc.subscriptions import Connection, SubscriptionHub

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 5 * 1024 * 1024
MAX_BATCH_SIZE = 1000
# The gateway process hands the node transactions here, with their senders.
INTAKE_PATH = "/intake"
INTAKE_TOKEN_HEADER = b"x-gongfen-intake-token"
# Methods that take well under a millisecond run on the event loop itself: the
# hop to a worker thread and back would cost more than the call. Anything that
# executes code or scans blocks goes to a worker thread.
INLINE_METHODS = frozenset(
    {
        "eth_sendRawTransaction",
        "eth_chainId",
        "eth_blockNumber",
        "net_version",
        "eth_gasPrice",
        "eth_maxPriorityFeePerGas",
        "eth_getTransactionCount",
        "eth_getBalance",
        "eth_getTransactionReceipt",
        "eth_getTransactionByHash",
        "eth_syncing",
        "net_listening",
        "net_peerCount",
        "web3_clientVersion",
        "eth_accounts",
    }
)
# Bodies up to this size are read and discarded before answering 413.
DRAIN_LIMIT_BYTES = 4 * MAX_BODY_BYTES


class RpcService:
    """Turns JSON-RPC request objects into response objects."""

    def __init__(self, api: EthApi, metrics: NodeMetrics) -> None:
        self.api = api
        self.metrics = metrics

    async def handle_payload(self, payload: Any) -> Any:
        """Answer one request or a batch; ``None`` when all are notifications."""
        if isinstance(payload, list):
            if not payload:
                return error_response(None, InvalidRequest("empty batch"))
            if len(payload) > MAX_BATCH_SIZE:
                return error_response(
                    None,
                    InvalidRequest(f"batch of {len(payload)} exceeds {MAX_BATCH_SIZE}"),
                )
            responses = [await self.handle_single(item) for item in payload]
            return [r for r in responses if r is not None]
        return await self.handle_single(payload)

    async def handle_single(self, request: Any) -> dict[str, Any] | None:
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            return error_response(
                None,
                InvalidRequest("invalid request: expected an object with a method"),
            )
        request_id = request.get("id")
        method = request["method"]
        started = time.perf_counter()
        try:
            if method in INLINE_METHODS:
                result = self.api.dispatch(method, request.get("params"))
            else:
                result = await to_thread.run_sync(
                    self.api.dispatch, method, request.get("params")
                )
        except RpcError as error:
            self._count(method, "error")
            logger.debug("rpc %s failed: %s", method, error.message)
            return error_response(request_id, error)
        except Exception:
            self._count(method, "crash")
            logger.exception("rpc %s raised an unexpected error", method)
            return error_response(request_id, RpcError("internal error"))
        self._count(method, "ok")
        logger.debug(
            "rpc %s took %.1f ms", method, 1000 * (time.perf_counter() - started)
        )
        if "id" not in request:
            return None  # a notification gets no response
        return {"jsonrpc": "2.0", "id": request_id, "result": result}

    def admit_recovered(self, raw_hex: str, sender_hex: str) -> dict[str, Any]:
        """Admit one transaction from the gateway: ``{"result": hash}`` or
        ``{"error": ...}``, as the answer to ``eth_sendRawTransaction``."""
        method = "eth_sendRawTransaction"
        try:
            result = self.api.admit_recovered(
                bytes.fromhex(raw_hex[2:]), Address(bytes.fromhex(sender_hex[2:]))
            )
        except RpcError as error:
            self._count(method, "error")
            return {"error": error.to_json()}
        self._count(method, "ok")
        return {"result": result}

    def _count(self, method: str, outcome: str) -> None:
        label = method if method in self.api.handlers else "unknown"
        self.metrics.rpc_requests.labels(label, outcome).inc()


def error_response(request_id: Any, error: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": error.to_json()}


class JsonRpcHttpApp:
    """The ASGI app: ``POST /`` answered directly, everything else by Starlette.

    JSON-RPC over HTTP is the hot path (every transaction arrives through it),
    so it skips Starlette's request and response objects and the router;
    health, metrics and the WebSocket go through ``routes``. With an
    ``intake_token`` it also takes ``POST /intake``: transactions whose
    senders this node's gateway process recovered (``node.rpc.gateway``).
    """

    def __init__(
        self, service: RpcService, routes: Starlette, intake_token: str | None = None
    ) -> None:
        self.service = service
        self.routes = routes
        self._intake_token = intake_token

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            if scope["path"] == "/":
                status, body = await self._answer(scope, receive)
                await send_json(send, status, body)
                return
            if scope["path"] == INTAKE_PATH and self._intake_token is not None:
                status, body = await self._take_in(scope, receive)
                await send_json(send, status, body)
                return
        await self.routes(scope, receive, send)

    async def _answer(self, scope: Any, receive: Any) -> tuple[int, Any]:
        try:
            body = await receive_body(scope, receive)
        except BodyRefused as refused:
            return refused.status, refused.document
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            return 200, error_response(None, ParseError(f"parse error: {error}"))
        return 200, await self.service.handle_payload(payload)

    async def _take_in(self, scope: Any, receive: Any) -> tuple[int, Any]:
        assert self._intake_token is not None
        offered = dict(scope["headers"]).get(INTAKE_TOKEN_HEADER, b"")
        if not hmac.compare_digest(offered, self._intake_token.encode()):
            # Whoever holds the token may vouch for senders: refuse the rest.
            logger.warning("refused an intake request without the gateway's token")
            return 403, None
        try:
            items = json.loads(await receive_body(scope, receive))
            return 200, [
                self.service.admit_recovered(raw, sender) for raw, sender in items
            ]
        except (BodyRefused, ValueError, TypeError):
            return 400, None


class BodyRefused(Exception):
    """A request body that is not read: too large, or the client went away."""

    def __init__(self, status: int, document: Any) -> None:
        super().__init__(status)
        self.status = status
        self.document = document


async def receive_body(scope: Any, receive: Any) -> bytes:
    """Read an HTTP request body of at most ``MAX_BODY_BYTES``.

    Rejects (``BodyRefused``) a larger body with 413 and a JSON-RPC error, and
    a client that disconnects with 400.
    """
    declared = dict(scope["headers"]).get(b"content-length", b"")
    if declared.isdigit() and int(declared) > DRAIN_LIMIT_BYTES:
        # Not worth reading; the client sees a reset.
        raise BodyRefused(413, _too_large_body())
    body = bytearray()
    received = 0
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BodyRefused(400, None)
        chunk = message.get("body", b"")
        more = message.get("more_body", False)
        received += len(chunk)
        if received <= MAX_BODY_BYTES:
            body.extend(chunk)
        elif received > DRAIN_LIMIT_BYTES:
            raise BodyRefused(413, _too_large_body())
    if received > MAX_BODY_BYTES:
        # The body was read to its end so that the client gets this answer
        # instead of a connection reset in the middle of its upload.
        raise BodyRefused(413, _too_large_body())
    return bytes(body)


async def send_json(send: Any, status: int, document: Any) -> None:
    """Send ``document`` as a JSON response; nothing at all for ``None`` or []."""
    body = b"" if document is None or document == [] else json.dumps(document).encode()
    await send_body(send, status, body, b"application/json")


async def send_body(send: Any, status: int, body: bytes, content_type: bytes) -> None:
    headers = [(b"content-length", str(len(body)).encode())]
    if body:
        headers.append((b"content-type", content_type))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _too_large_body() -> dict[str, Any]:
    return error_response(
        None, InvalidRequest(f"request body exceeds {MAX_BODY_BYTES} bytes")
    )


def build_app(
    service: RpcService,
    hub: SubscriptionHub,
    health: Any,
    intake_token: str | None = None,
) -> JsonRpcHttpApp:
    """Return the ASGI app serving JSON-RPC, WebSocket, health and metrics.

    ``intake_token`` enables ``POST /intake`` for the node's gateway process.
    """

    async def health_check(request: Request) -> Response:
        return JSONResponse(health())

    async def metrics(request: Request) -> Response:
        return Response(
            generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST
        )

    async def websocket_rpc(websocket: WebSocket) -> None:
        await websocket.accept()
        connection = hub.connect()
        writer = asyncio.create_task(_write_notifications(websocket, connection))
        try:
            while True:
                text = await websocket.receive_text()
                response = await _handle_ws_message(service, hub, connection, text)
                if response is not None:
                    await websocket.send_text(json.dumps(response))
        except WebSocketDisconnect:
            pass
        finally:
            hub.disconnect(connection)
            writer.cancel()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        hub.attach_loop(asyncio.get_running_loop())
        yield

    routes = Starlette(
        routes=[
            Route("/health", health_check, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            WebSocketRoute("/", websocket_rpc),
        ],
        lifespan=lifespan,
    )
    return JsonRpcHttpApp(service, routes, intake_token)


async def _handle_ws_message(
    service: RpcService, hub: SubscriptionHub, connection: Connection, text: str
) -> Any:
    if len(text) > MAX_BODY_BYTES:
        return error_response(None, InvalidRequest("message too large"))
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as error:
        return error_response(None, ParseError(f"parse error: {error}"))
    if isinstance(payload, dict) and payload.get("method") in (
        "eth_subscribe",
        "eth_unsubscribe",
    ):
        return _subscription_request(hub, connection, payload)
    return await service.handle_payload(payload)


def _subscription_request(
    hub: SubscriptionHub, connection: Connection, request: dict[str, Any]
) -> dict[str, Any]:
    request_id = request.get("id")
    try:
        if request["method"] == "eth_unsubscribe":
            (subscription_id,) = positional(
                request.get("params"), 1, 1, "eth_unsubscribe"
            )
            removed = connection.subscriptions.pop(str(subscription_id), None)
            return {"jsonrpc": "2.0", "id": request_id, "result": removed is not None}
        kind, criteria_value = positional(request.get("params"), 1, 2, "eth_subscribe")
        if kind == "newHeads":
            subscription_id = hub.subscribe(connection, "newHeads", None)
        elif kind == "logs":
            criteria = parse_log_criteria(criteria_value, "filter")
            subscription_id = hub.subscribe(connection, "logs", criteria)
        else:
            raise InvalidParams(
                f"invalid argument subscription: unsupported type {kind!r}; "
                "use newHeads or logs"
            )
    except RpcError as error:
        return error_response(request_id, error)
    return {"jsonrpc": "2.0", "id": request_id, "result": subscription_id}


async def _write_notifications(websocket: WebSocket, connection: Connection) -> None:
    while True:
        notification = await connection.queue.get()
        if notification is None:
            await websocket.close(code=1008, reason="subscriber too slow")
            return
        await websocket.send_text(json.dumps(notification))
