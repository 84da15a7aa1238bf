"""Polling filters: eth_newFilter, eth_newBlockFilter and eth_getFilterChanges.

A filter remembers the last block it reported. Filters that nobody polls for
``FILTER_TIMEOUT_SECONDS`` are dropped, as geth does, so abandoned filters do not
accumulate.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any

from chain.ledger import Ledger
from node.rpc.errors import ServerError
from node.rpc.formatting import data
from node.rpc.logs import LogCriteria, query_logs, resolve_number

FILTER_TIMEOUT_SECONDS = 300
MAX_FILTERS = 10_000


@dataclass
class _Filter:
    kind: str  # "logs" or "blocks"
    criteria: LogCriteria | None
    last_reported: int
    last_polled: float


class FilterRegistry:
    """The installed filters of one node."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._filters: dict[str, _Filter] = {}
        self._lock = threading.Lock()

    def install_log_filter(self, criteria: LogCriteria) -> str:
        start = resolve_number(self._ledger, criteria.from_block)
        return self._install(_Filter("logs", criteria, start - 1, time.monotonic()))

    def install_block_filter(self) -> str:
        head = self._ledger.head.block_number
        return self._install(_Filter("blocks", None, head, time.monotonic()))

    def _install(self, new_filter: _Filter) -> str:
        with self._lock:
            self._expire()
            if len(self._filters) >= MAX_FILTERS:
                raise ServerError("too many filters installed; uninstall unused ones")
            filter_id = "0x" + secrets.token_hex(16)
            self._filters[filter_id] = new_filter
        return filter_id

    def uninstall(self, filter_id: str) -> bool:
        with self._lock:
            return self._filters.pop(filter_id, None) is not None

    def changes(self, filter_id: str) -> list[Any]:
        """Return what happened since the last poll, and advance the filter."""
        installed = self._get(filter_id)
        head = self._ledger.head.block_number
        first = installed.last_reported + 1
        if installed.kind == "blocks":
            hashes = []
            for header in self._ledger.iterate_headers(first, head):
                hashes.append(data(header.hash))
            installed.last_reported = head
            return hashes
        assert installed.criteria is not None
        last = min(head, resolve_number(self._ledger, installed.criteria.to_block))
        logs = query_logs(self._ledger, installed.criteria, first, last)
        installed.last_reported = max(installed.last_reported, last)
        return logs

    def all_logs(self, filter_id: str) -> list[Any]:
        """Return every log that a log filter matches (eth_getFilterLogs)."""
        installed = self._get(filter_id)
        if installed.criteria is None:
            raise ServerError("filter not found: not a log filter")
        criteria = installed.criteria
        return query_logs(
            self._ledger,
            criteria,
            resolve_number(self._ledger, criteria.from_block),
            resolve_number(self._ledger, criteria.to_block),
        )

    def _get(self, filter_id: str) -> _Filter:
        with self._lock:
            self._expire()
            installed = self._filters.get(filter_id)
            if installed is None:
                raise ServerError("filter not found")
            installed.last_polled = time.monotonic()
            return installed

    def _expire(self) -> None:
        cutoff = time.monotonic() - FILTER_TIMEOUT_SECONDS
        for filter_id in [
            f for f, x in self._filters.items() if x.last_polled < cutoff
        ]:
            del self._filters[filter_id]
