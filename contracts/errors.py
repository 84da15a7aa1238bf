"""Errors raised by the ``contracts`` package.

Every error derives from ``ContractsError``::

    ContractsError
    ├── BuildError          a Vyper source does not compile
    ├── ArtifactError       a compiled artifact is missing or unreadable
    └── DeploymentError     the bootstrap could not deploy or wire the set
        └── MemberError         a member entry is malformed
"""

from __future__ import annotations


class ContractsError(Exception):
    """Base of every error raised by the ``contracts`` package."""


class BuildError(ContractsError):
    """A contract source failed to compile; the message carries Vyper's."""

    def __init__(self, source: str, reason: str) -> None:
        self.source = source
        self.reason = reason
        super().__init__(f"cannot compile {source}: {reason}")


class ArtifactError(ContractsError):
    """An artifact is missing or is not valid JSON; rebuild with the build."""

    def __init__(self, name: str, reason: str) -> None:
        self.name = name
        self.reason = reason
        super().__init__(
            f"artifact {name}: {reason}; run `python -m contracts.build` to rebuild"
        )


class DeploymentError(ContractsError):
    """A deployment or wiring transaction failed or reverted."""

    def __init__(self, step: str, reason: str) -> None:
        self.step = step
        self.reason = reason
        super().__init__(f"bootstrap step {step!r} failed: {reason}")


class MemberError(DeploymentError):
    """A member entry given to the bootstrap is malformed."""

    def __init__(self, member: str, reason: str) -> None:
        self.member = member
        super().__init__("members", f"member {member!r}: {reason}")
