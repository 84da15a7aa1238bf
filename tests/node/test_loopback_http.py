"""The gateway's loopback HTTP client against real sockets on 127.0.0.1.

Each test runs a small scripted server that answers with bytes the test
chooses, so that the client meets keep-alive, chunked answers, connections the
server ends, and answers that are not HTTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from node.ports import free_port
from node.rpc.loopback_http import LoopbackHttpClient, NodeUnreachable

Answer = Callable[[bytes, asyncio.StreamWriter], Awaitable[bool]]
"""Writes the answer to one request; returns whether to keep the connection."""


def ok(body: bytes, content_type: bytes = b"application/json") -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: " + content_type + b"\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )


class ScriptedServer:
    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.connections = 0
        self.requests: list[bytes] = []

    async def handle(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.decode().split("\r\n"):
                    if line.lower().startswith("content-length:"):
                        length = int(line.split(":")[1])
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                keep = await self.answer(request, writer)
                await writer.drain()
                if not keep:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def serving(answer: Answer) -> AsyncIterator[tuple[ScriptedServer, int]]:
    scripted = ScriptedServer(answer)
    server = await asyncio.start_server(scripted.handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield scripted, port


def answering(payload: bytes, keep: bool = True) -> Answer:
    async def answer(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(payload)
        return keep

    return answer


def test_requests_share_a_kept_alive_connection() -> None:
    async def scenario() -> None:
        async with serving(answering(ok(b'{"ok":1}'))) as (server, port):
            client = LoopbackHttpClient("127.0.0.1", port)
            first = await client.request(
                "POST", "/intake", b'["x"]', {"x-token": "secret-value"}
            )
            second = await client.request("GET", "/health")
            await client.aclose()

        assert (first.status, first.content_type, first.body) == (
            200,
            "application/json",
            b'{"ok":1}',
        )
        assert second.body == b'{"ok":1}'
        assert server.connections == 1
        assert server.requests[0].startswith(b"POST /intake HTTP/1.1\r\n")
        assert b"\r\nx-token: secret-value\r\n" in server.requests[0]
        assert server.requests[0].endswith(b'\r\n\r\n["x"]')

    asyncio.run(scenario())


def test_reads_chunked_answers_and_answers_ended_by_closing() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
        b"4\r\nabcd\r\n3;note=1\r\nefg\r\n0\r\n\r\n"
    )
    until_closed = b"HTTP/1.1 503 Service Unavailable\r\n\r\nbusy"

    async def scenario() -> None:
        async with serving(answering(chunked)) as (_, port):
            client = LoopbackHttpClient("127.0.0.1", port)
            assert (await client.request("GET", "/")).body == b"abcdefg"
            await client.aclose()
        async with serving(answering(until_closed, keep=False)) as (server, port):
            client = LoopbackHttpClient("127.0.0.1", port)
            for _ in range(2):
                response = await client.request("GET", "/")
                assert (response.status, response.body) == (503, b"busy")
            assert server.connections == 2  # an answer ended by closing ends it

    asyncio.run(scenario())


def test_a_request_on_a_connection_the_server_closed_while_idle_is_sent_again() -> None:
    async def scenario() -> None:
        # The server closes each connection after answering, without saying
        # so: to the client it looks like a keep-alive timeout at the worst
        # moment.
        async with serving(answering(ok(b"fine"), keep=False)) as (server, port):
            client = LoopbackHttpClient("127.0.0.1", port)
            await client.request("POST", "/", b"1")
            await asyncio.sleep(0.05)
            response = await client.request("POST", "/", b"2")
            await client.aclose()

        assert response.body == b"fine"
        assert server.connections == 2
        assert [r[-1:] for r in server.requests] == [b"1", b"2"]

    asyncio.run(scenario())


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc", "bytes read"),
        (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP/1.x answer"),
    ],
    ids=["closed-mid-answer", "not-http"],
)
def test_a_broken_answer_raises_node_unreachable(payload: bytes, problem: str) -> None:
    async def scenario() -> None:
        async with serving(answering(payload, keep=False)) as (_, port):
            client = LoopbackHttpClient("127.0.0.1", port)
            with pytest.raises(NodeUnreachable, match=problem):
                await client.request("GET", "/")

    asyncio.run(scenario())


def test_a_refused_connection_and_a_silent_server_raise_node_unreachable() -> None:
    async def never_answer(request: bytes, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(10)
        return False

    async def scenario() -> None:
        client = LoopbackHttpClient("127.0.0.1", free_port())
        with pytest.raises(NodeUnreachable):
            await client.request("GET", "/")
        async with serving(never_answer) as (_, port):
            client = LoopbackHttpClient("127.0.0.1", port, timeout_seconds=0.2)
            with pytest.raises(NodeUnreachable, match="no answer within 0.2 s"):
                await client.request("GET", "/")

    asyncio.run(scenario())
