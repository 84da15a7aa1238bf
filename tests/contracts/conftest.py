"""Fixtures for the contract tests."""

from __future__ import annotations

import pytest

from tests.contracts.world import World, build_world


@pytest.fixture
def world() -> World:
    """A freshly deployed consortium (see ``tests.contracts.world``)."""
    return build_world()
