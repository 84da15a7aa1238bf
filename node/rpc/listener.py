"""Listening sockets for the JSON-RPC servers that uvicorn is handed.

asyncio turns off Nagle's algorithm (``TCP_NODELAY``) only on connections
whose socket names its protocol as TCP, and ``socket.create_server`` leaves it
as 0. Without it, a response written in two parts (headers, then body) waits
for the client's delayed acknowledgement: 40 ms on every request.
"""

from __future__ import annotations

import errno
import socket
import time


def bind_listening_socket(
    host: str, port: int, *, patience_seconds: float = 0.0
) -> socket.socket:
    """Bind ``host:port`` (0: any free port) for TCP and listen.

    While the port is in use (a killed node's gateway may hold it for a
    moment longer), retry for up to ``patience_seconds``; then raise the
    ``OSError``.
    """
    deadline = time.monotonic() + patience_seconds
    while True:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind((host, port))
            listener.listen(2048)
            return listener
        except OSError as error:
            listener.close()
            if error.errno != errno.EADDRINUSE or time.monotonic() > deadline:
                raise
            time.sleep(0.2)
