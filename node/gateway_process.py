"""Starting, watching and stopping the node's JSON-RPC gateway process.

The gateway (``node.rpc.gateway``) serves the node's public JSON-RPC port
from a second process. The node passes it the intake token on standard input
and keeps that pipe open for as long as it runs: the gateway exits when it
closes, so a node killed outright does not leave its port held.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from collections.abc import Callable

from chain.admission import AdmissionLimits

logger = logging.getLogger(__name__)


class GatewayProcess:
    """A running gateway; its repr shows the process, never the token."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process
        self._stopping = threading.Event()

    def __repr__(self) -> str:
        return f"GatewayProcess(pid={self._process.pid})"

    @classmethod
    def start(
        cls,
        *,
        host: str,
        port: int,
        node_port: int,
        limits: AdmissionLimits,
        token: str,
    ) -> GatewayProcess:
        """Start a gateway on ``host:port`` that talks to the node on
        ``node_port`` of the loopback interface."""
        command = [sys.executable, "-m", "node.rpc.gateway"]
        command += ["--host", host, "--port", str(port)]
        command += ["--node-port", str(node_port), "--chain-id", str(limits.chain_id)]
        command += ["--block-gas-limit", str(limits.block_gas_limit)]
        command += ["--max-transaction-bytes", str(limits.max_transaction_bytes)]
        command += ["--log-level", logging.getLevelName(logging.root.level)]
        process = subprocess.Popen(command, stdin=subprocess.PIPE)
        assert process.stdin is not None
        # On standard input, not the command line, which other users can read.
        process.stdin.write(token.encode() + b"\n")
        process.stdin.flush()
        return cls(process)

    def watch(self, on_exit: Callable[[int], None]) -> None:
        """Call ``on_exit`` with its exit code if the gateway ends before
        ``stop``: the node then has no public port and should stop too."""

        def wait() -> None:
            code = self._process.wait()
            if not self._stopping.is_set():
                on_exit(code)

        threading.Thread(target=wait, name="gateway-watch", daemon=True).start()

    def stop(self, timeout: float = 10.0) -> None:
        """Close its standard input, which tells it to stop, and wait for it."""
        self._stopping.set()
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            logger.warning("the gateway did not stop in %.0f s; killing it", timeout)
            self._process.kill()
            self._process.wait()
