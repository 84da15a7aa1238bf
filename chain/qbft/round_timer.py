"""Round timeouts: ``requesttimeoutseconds`` doubling per round, capped.

Besu's ``RoundTimer`` waits ``requesttimeoutseconds * 2**round``. Left alone that
grows without bound, so a network stuck for long (two of four members down for
an hour) would take as long again to notice they are back. The cap bounds the
wait for recovery to one capped timeout.
"""

from __future__ import annotations


def round_timeout_seconds(
    round_number: int, request_timeout_seconds: float, maximum_seconds: float
) -> float:
    """Return how long round ``round_number`` waits before a round change.

    ``request_timeout_seconds * 2**round_number``, but never more than
    ``maximum_seconds``. Rejects a negative round or a non-positive timeout, and
    a maximum below the base timeout.
    """
    if round_number < 0:
        raise ValueError(f"round must not be negative, got {round_number}")
    if request_timeout_seconds <= 0:
        raise ValueError(
            f"request timeout must be positive, got {request_timeout_seconds}"
        )
    if maximum_seconds < request_timeout_seconds:
        raise ValueError(
            f"maximum round timeout {maximum_seconds} is below the request "
            f"timeout {request_timeout_seconds}"
        )

    # Past 2**64 the product is above any sensible cap; stop there rather than
    # build a huge integer for round 2**31.
    doubling = 2 ** min(round_number, 64)
    return float(min(request_timeout_seconds * doubling, maximum_seconds))
