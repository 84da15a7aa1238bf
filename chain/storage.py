"""LevelDB storage for the chain, with one atomic write batch per block.

``LevelDB`` is py-evm's key-value interface over a plyvel database. Writes made
while a block is built or imported do not reach it directly: they collect in a
``BlockWriteBuffer`` that reads through to LevelDB, and ``commit`` writes the
whole block (state trie nodes, header, body, receipts, canonical head, indexes)
in a single LevelDB write batch. A crash at any instant therefore leaves the
database at the end of the last committed block, never between two.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import plyvel
from eth.db.backends.base import BaseDB

from chain.errors import StorageError

# Marker for a key deleted in the buffer but possibly present in LevelDB.
_DELETED = None


class LevelDB(BaseDB):
    """A py-evm key-value database kept in a LevelDB folder."""

    def __init__(self, path: Path, *, sync_writes: bool = True) -> None:
        path.mkdir(parents=True, exist_ok=True)
        try:
            self._db = plyvel.DB(str(path), create_if_missing=True)
        except plyvel.Error as error:
            raise StorageError(f"cannot open LevelDB at {path}: {error}") from None
        self.path = path
        # fsync each block batch so that a committed block survives power loss
        # as well as a killed process.
        self._sync_writes = sync_writes

    def __getitem__(self, key: bytes) -> bytes:
        value = self._db.get(key)
        if value is None:
            raise KeyError(key)
        return bytes(value)

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._db.put(key, value, sync=self._sync_writes)

    def __delitem__(self, key: bytes) -> None:
        if self._db.get(key) is None:
            raise KeyError(key)
        self._db.delete(key, sync=self._sync_writes)

    def _exists(self, key: bytes) -> bool:
        return self._db.get(key) is not None

    def write_all(self, changes: dict[bytes, bytes | None]) -> None:
        """Apply ``changes`` (``None`` deletes) in one atomic LevelDB batch."""
        with self._db.write_batch(transaction=True, sync=self._sync_writes) as batch:
            for key, value in changes.items():
                if value is None:
                    batch.delete(key)
                else:
                    batch.put(key, value)

    def iterate_prefix(
        self, prefix: bytes, start: bytes = b"", stop: bytes | None = None
    ) -> Iterator[bytes]:
        """Yield keys under ``prefix`` from ``prefix+start`` up to ``prefix+stop``."""
        iterator = self._db.iterator(
            start=prefix + start,
            stop=None if stop is None else prefix + stop,
            prefix=None if start or stop is not None else prefix,
            include_value=False,
        )
        for key in iterator:
            if not key.startswith(prefix):
                return
            yield bytes(key)

    def close(self) -> None:
        """Close the database; further use raises."""
        self._db.close()


class BlockWriteBuffer(BaseDB):
    """Collects one block's writes in memory on top of a :class:`LevelDB`."""

    def __init__(self, backing: LevelDB) -> None:
        self.backing = backing
        self._changes: dict[bytes, bytes | None] = {}

    def __getitem__(self, key: bytes) -> bytes:
        if key in self._changes:
            value = self._changes[key]
            if value is _DELETED:
                raise KeyError(key)
            return value  # type: ignore[return-value]
        return self.backing[key]

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self._changes[key] = value

    def __delitem__(self, key: bytes) -> None:
        if not self._exists(key):
            raise KeyError(key)
        self._changes[key] = _DELETED

    def _exists(self, key: bytes) -> bool:
        if key in self._changes:
            return self._changes[key] is not _DELETED
        return self.backing.exists(key)

    @property
    def pending_writes(self) -> int:
        """How many keys this buffer would write on commit."""
        return len(self._changes)

    def commit(self) -> None:
        """Write every buffered change to LevelDB in one atomic batch."""
        self.backing.write_all(self._changes)
        self._changes = {}

    def discard(self) -> None:
        """Forget every buffered change."""
        self._changes = {}
