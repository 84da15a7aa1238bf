"""A bounded store of messages for heights this validator has not reached yet."""

from __future__ import annotations

from chain.qbft.messages import QbftMessage


class FutureMessageBuffer:
    """Keeps at most ``limit`` messages, preferring the nearest heights.

    Peers a block ahead send PREPAREs and COMMITs before this validator imports
    the block; replaying them at the new height saves a round. The validator set
    of a future height is unknown, so anything may arrive here; the bound keeps
    a flood from costing more than ``limit`` messages of memory.
    """

    def __init__(self, limit: int) -> None:
        """Create an empty buffer holding at most ``limit`` messages."""
        self._limit = limit
        self._by_height: dict[int, list[QbftMessage]] = {}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, message: QbftMessage) -> None:
        """Keep ``message``; when full, evict from the farthest height first.

        A message for a height at or beyond the farthest one kept is dropped
        when the buffer is full: the nearer heights are reached first.
        """
        if self._count >= self._limit:
            if not self._by_height or message.height >= max(self._by_height):
                return
            farthest = max(self._by_height)
            self._by_height[farthest].pop()
            if not self._by_height[farthest]:
                del self._by_height[farthest]
            self._count -= 1
        self._by_height.setdefault(message.height, []).append(message)
        self._count += 1

    def take(self, height: int) -> list[QbftMessage]:
        """Return the messages for ``height`` in arrival order; drop lower ones."""
        for lower in [h for h in self._by_height if h < height]:
            self._count -= len(self._by_height.pop(lower))
        messages = self._by_height.pop(height, [])
        self._count -= len(messages)
        return messages
