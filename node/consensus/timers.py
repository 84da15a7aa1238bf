"""The consensus timers of one validator, advanced by its host.

The QBFT state machine asks for two kinds of timer: the block timer (the block
period after the parent) and the round timer (the current round's timeout). A
new timer of a kind replaces the old one, as the machine ignores the expiry of
anything it has left. The host calls ``pop_due(now)`` from its clock, real or
fake; nothing here sleeps or reads the time.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from chain.qbft.events import BlockTimerExpired, RoundTimerExpired


class TimerKind(Enum):
    """Which of the two consensus timers."""

    BLOCK = "block"
    ROUND = "round"


@dataclass(frozen=True)
class PendingTimer:
    """A timer that fires ``event`` once the host's time reaches ``expires_at``."""

    expires_at: float
    height: int
    event: BlockTimerExpired | RoundTimerExpired


class TimerTable:
    """At most one block timer and one round timer, each with its deadline."""

    def __init__(self) -> None:
        self._timers: dict[TimerKind, PendingTimer] = {}

    def set(self, kind: TimerKind, timer: PendingTimer) -> None:
        """Start ``timer``, replacing any running timer of ``kind``."""
        self._timers[kind] = timer

    def next_deadline(self) -> float | None:
        """Return when the earliest timer expires, or None if none runs."""
        if not self._timers:
            return None
        return min(timer.expires_at for timer in self._timers.values())

    def pop_due(self, now: float) -> PendingTimer | None:
        """Remove and return the earliest timer expired at ``now``, if any."""
        due = [
            (timer.expires_at, kind)
            for kind, timer in self._timers.items()
            if timer.expires_at <= now
        ]
        if not due:
            return None
        _, kind = min(due, key=lambda entry: entry[0])
        return self._timers.pop(kind)

    def discard_through(self, height: int) -> None:
        """Drop the timers of ``height`` and below: those heights are decided."""
        for kind in [k for k, t in self._timers.items() if t.height <= height]:
            del self._timers[kind]
